"""The terms of a decision: the facts the policy reads (`Target`, `Relation`, `DocumentFacts`),
the `Decision` it returns, the access modes and obligations, and the reasons shared by rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from carnet.access.actors import PurposeOfUse


@dataclass(frozen=True, slots=True)
class Relation:
    """Facts about one professional and one patient's space, loaded by `access.facts` (I/O there,
    never here). Absent relation = no right at all."""

    space_open: bool = True  # created or activated; not opposed, not closed
    blocked: bool = False  # the holder blocked this professional
    medecin_traitant: bool = False
    extended_rights: bool = False  # the holder gave the médecin traitant's reach (masked docs)
    care_team: bool = False  # authorised by the holder, or declared consent, still valid
    care_team_basis: str = ""  # "medecin_traitant" | "autorise" | "consentement_declare" | "code"
    right_expired: bool = False  # had a right on this space, now expired (and no valid one)
    break_glass_opposed: bool = False  # the holder opposed "bris de glace" beforehand
    centre_15_opposed: bool = False  # the holder opposed SAMU regulation access beforehand
    mask_all: bool = False  # the holder masked every document, including in emergencies
    first_access: bool = False  # no earlier allowed consultation by this professional


VISIBLE_STATUSES: Final = frozenset({"current", "superseded"})


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
    invisible_until: dt.datetime | None = None  # INVISIBLE_PATIENT lifts by itself at this time
    status: str = "current"  # "current" | "superseded" | "entered-in-error"


@dataclass(frozen=True, slots=True)
class Target:
    """What is acted on. `patient_id` is None when the target does not exist (or has no patient).
    `now` is set by the gate from the one clock (the policy never reads a clock)."""

    resource_type: str
    resource_id: str = ""
    patient_id: str | None = None
    relation: Relation | None = None
    document: DocumentFacts | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    now: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    code: str
    mode: str = "normal"
    # Refusals the actor may be told about (e.g. a blocked professional); others look like 404.
    reveal: bool = False
    obligations: frozenset[str] = frozenset()


# Obligations the gate fulfils after an allowed decision.
NOTIFY_FIRST_ACCESS: Final = "notify-first-access"
NOTIFY_EMERGENCY: Final = "notify-emergency"

# Access modes, as written in Decision.mode and in the trace (TRE_R248, plus Carnet's own).
MODE_NORMAL: Final = "normal"
MODE_DECLARED_CONSENT: Final = "consentement_declare"
MODE_BREAK_GLASS: Final = PurposeOfUse.BREAK_GLASS.value
MODE_CENTRE_15: Final = PurposeOfUse.CENTRE_15.value

PHYSICIAN: Final = "10"

# Reasons (French: shown to holders in "Qui peut voir ce document ?" and in the trace).

NO_TARGET = "La ressource demandée n'existe pas."
NO_RULE = "Aucune règle n'autorise cet accès : refus par défaut."
SPACE_CLOSED = "Cet espace santé n'est pas ouvert (opposition, clôture ou création en attente)."
BLOCKED = (
    "Le titulaire a bloqué ce professionnel : aucun accès n'est possible, quels que soient ses "
    "autres droits."
)
NO_RIGHT = (
    "Ce professionnel n'a pas de droit d'accès à cet espace : il n'est ni le médecin traitant, "
    "ni autorisé par le titulaire, ni porteur d'un consentement déclaré, et n'agit pas en urgence."
)
RIGHT_EXPIRED = "L'autorisation d'accès de ce professionnel à cet espace a expiré."
MASKED_WHO = (
    "seuls le titulaire, l'auteur du document (ou son établissement), le médecin traitant et les "
    "professionnels auxquels le titulaire a donné les mêmes droits peuvent le lire."
)
MASKED = "Document masqué par le titulaire : " + MASKED_WHO
MASK_ALL = "Le titulaire a masqué tous ses documents, y compris en cas d'urgence : " + MASKED_WHO
UNAVAILABLE = "Ce document a été supprimé ou retiré."
NO_DOCUMENT = "Document inconnu : accès refusé par défaut."
UNKNOWN_TYPE = "Type de document inconnu de la matrice : accès refusé par défaut."


def deny(code: str, reason: str, *, mode: str = MODE_NORMAL, reveal: bool = False) -> Decision:
    return Decision(allowed=False, reason=reason, code=code, mode=mode, reveal=reveal)


def allow(
    code: str, reason: str, *, mode: str = MODE_NORMAL, obligations: frozenset[str] = frozenset()
) -> Decision:
    return Decision(allowed=True, reason=reason, code=code, mode=mode, obligations=obligations)
