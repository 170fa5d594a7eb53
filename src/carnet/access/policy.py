"""THE access decision of Carnet: `decide(actor, action, target) -> Decision`.

Pure: it reads only the facts passed in (no database, no clock, no settings) and **denies by
default**: every rule is an explicit allow, and falling through the rules is a refusal. The gate
(`carnet.access.gate`) is its only caller; lists use `scope()`, the same rules expressed as a
filter description that the gate compiles into a database query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind


@dataclass(frozen=True, slots=True)
class Relation:
    """Facts about one professional and one patient's space, loaded by `access.facts` (I/O there,
    never here). Absent relation = no right at all."""

    space_open: bool = True  # not opposed, not closed
    blocked: bool = False  # the holder blocked this professional
    medecin_traitant: bool = False
    extended_rights: bool = False  # the holder gave the médecin traitant's reach (masked docs)
    care_team: bool = False  # authorised by the holder, or declared consent, still valid
    care_team_basis: str = ""  # "medecin_traitant" | "autorise" | "consentement_declare" | "code"
    break_glass_opposed: bool = False  # the holder opposed "bris de glace" beforehand
    centre_15_opposed: bool = False  # the holder opposed SAMU regulation access beforehand
    first_access: bool = False  # no earlier allowed access by this professional


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the policy needs to know about one document (see documents.models.DocumentEntry)."""

    type_code: str
    class_code: str
    masked: bool = False  # MASQUE_PS, set by the holder
    invisible_to_patient: bool = False  # INVISIBLE_PATIENT (until a date or a release)
    invisible_to_representatives: bool = False  # INVISIBLE_REPRESENTANTS_LEGAUX
    author_professional_id: str = ""
    author_organisation: str = ""  # IDNST of the author's organisation
    deposited_by_holder: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """What is acted on. `patient_id` is None when the target does not exist (or has no patient)."""

    resource_type: str
    resource_id: str = ""
    patient_id: str | None = None
    relation: Relation | None = None
    document: DocumentFacts | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    code: str
    mode: str = "normal"
    # Refusals the actor may be told about (e.g. a blocked professional); others look like 404.
    reveal: bool = False
    obligations: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Scope:
    """The rows of a list the actor may see: nothing, or the rows of these patients."""

    patient_ids: frozenset[str] = frozenset()
    authored_by: str = ""  # or: the documents this professional authored, in any space

    @property
    def is_empty(self) -> bool:
        return not self.patient_ids and not self.authored_by


def _deny(code: str, reason: str) -> Decision:
    return Decision(allowed=False, reason=reason, code=code)


def decide(actor: Actor, action: Action, target: Target) -> Decision:
    if target.patient_id is None:
        return _deny("no-target", "La ressource demandée n'existe pas.")
    if actor.kind is ActorKind.HOLDER:
        return _decide_holder(actor, action, target)
    if actor.kind is ActorKind.PROFESSIONAL:
        return _decide_professional(actor, action, target)
    return _deny("no-rule", "Aucune règle n'autorise cet accès : refus par défaut.")


def _decide_professional(actor: Actor, action: Action, target: Target) -> Decision:
    relation = target.relation or Relation()
    if not relation.space_open:
        return _deny("space-closed", "L'espace santé de ce patient est fermé.")
    if relation.blocked:
        return Decision(
            allowed=False,
            code="blocked",
            reveal=True,
            reason="Le titulaire a bloqué l'accès de ce professionnel à son espace santé.",
        )
    if action is Action.DOCUMENTS_DOCUMENT_CREATE and target.document is None:
        # The holder cannot refuse deposits: any identified professional may feed an open space,
        # which grants no reading beyond what they author.
        return Decision(
            allowed=True, code="deposit", reason="Tout professionnel peut alimenter le DMP."
        )
    document = target.document
    authored = document is not None and document.author_professional_id == actor.id
    if authored and action in _AUTHOR_ACTIONS:
        return Decision(
            allowed=True, code="author", reason="L'auteur d'un document y a toujours accès."
        )
    return _deny("no-rule", "Aucune règle n'autorise cet accès : refus par défaut.")


_AUTHOR_ACTIONS = frozenset(
    {
        Action.DOCUMENTS_DOCUMENT_READ,
        Action.DOCUMENTS_DOCUMENT_UPDATE,
        Action.DOCUMENTS_DOCUMENT_DELETE,
    }
)


def _decide_holder(actor: Actor, action: Action, target: Target) -> Decision:
    if target.patient_id in actor.own_patient_ids:
        return Decision(
            allowed=True, code="holder-own-space", reason="Le titulaire agit sur son propre espace."
        )
    if target.patient_id in actor.represented_patient_ids:
        return Decision(
            allowed=True,
            code="legal-representative",
            reason="Le représentant légal agit sur l'espace de la personne qu'il représente.",
        )
    return _deny("holder-other-space", "Un titulaire n'accède qu'à son propre espace.")


def scope(actor: Actor, action: Action) -> Scope:
    """The same rules as `decide`, as a description of the visible rows (deny = empty scope)."""
    if actor.kind is ActorKind.HOLDER:
        return Scope(patient_ids=actor.patient_ids)
    if actor.kind is ActorKind.PROFESSIONAL and action is Action.DOCUMENTS_DOCUMENT_SEARCH:
        return Scope(authored_by=actor.id)
    return Scope()
