"""THE access decision of Carnet: `decide(actor, action, target) -> Decision`.

Pure: it reads only the facts passed in (no database, no clock, no settings) and **denies by
default**: every rule is an explicit allow, and falling through the rules is a refusal. The gate
(`carnet.access.gate`) is its only caller; lists use `scope()`, the same rules expressed as a
filter description (`Filter`) that the gate compiles into a database query.

The rules (`shared/product.md` §5, `shared/spec/access-matrix.md`), in the order they apply:

Holders (and legal representatives) act on the spaces they hold or represent, except that
  - a document marked INVISIBLE_PATIENT is hidden from them until `invisible_until` or its release,
    and INVISIBLE_REPRESENTANTS_LEGAUX hides it from representatives;
  - they delete only the documents they added; declaring consent is for professionals.
Professionals, on an open space only:
  1. a professional the holder blocked is refused everything (and may be told so);
  2. depositing is allowed to any authenticated professional: the holder cannot refuse deposits
     (CSP: writing is open to professionals taking part in the care), and a deposit grants no read
     access beyond the depositor's own documents. Declaring the holder's consent is allowed too:
     it is the professional's legal declaration, stored and traced;
  3. the author of a document always reads it, and may update or delete it (author or author
     organisation);
  4. any other read needs an access right: in normal mode the médecin traitant, a professional the
     holder authorised, or one who declared the holder's consent, each while valid; in emergency,
     `bris_de_glace` (reason mandatory) or `centre_15` (médecins régulateurs), each unless the
     holder opposed it beforehand, with the obligation to notify the holder;
  5. a masked document (or every document when the holder masked everything, including in
     emergencies) is read only by its author or author organisation, the médecin traitant and
     professionals with extended rights;
  6. the authorisation matrix (profession, pharmacist section, specialty × document type) must
     allow the document type.
  Secure messaging has its own rule (`_decide_messaging`: the conversations they take part in).
  The medical profile has its own too (`_decide_profile`): a professional with an access right
  (rule 4) reads the profile and the measures, except the items the holder hid; in normal mode
  they add items to the sections professionals complete (vaccinations, allergies, treatments,
  diseases, hospitalisations, family history) and correct the items they wrote; hiding, deleting
  and sharing stay the holder's.
System actors: the insurer's feed deposits its kinds of documents into open spaces and feeds the
care history (`_decide_insurer`), the MSSanté gateway delivers messages (`_decide_messaging`);
nothing else.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from carnet.access import matrix
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind, PurposeOfUse

# --- Facts ------------------------------------------------------------------------------------


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

# --- Row filters (pure descriptions; the gate compiles them into SQL) ---------------------------

Op = Literal["eq", "in", "lte"]


@dataclass(frozen=True, slots=True)
class Field:
    """`name op value` on one column. `patient` names the patient key, whatever its column."""

    name: str
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Filter, ...]


# `True` = every row, `False` = no row. There is no negation: every filter says what is shown,
# so a NULL column can never turn a hidden row into a visible one.
Filter = Field | And | Or | bool


def all_of(*parts: Filter) -> Filter:
    kept: list[Filter] = []
    for part in parts:
        if part is False:
            return False
        if isinstance(part, And):
            kept.extend(part.parts)
        elif part is not True:
            kept.append(part)
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else And(tuple(kept))


def any_of(*parts: Filter) -> Filter:
    kept: list[Filter] = []
    for part in parts:
        if part is True:
            return True
        if isinstance(part, Or):
            kept.extend(part.parts)
        elif part is not False:
            kept.append(part)
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else Or(tuple(kept))


@dataclass(frozen=True, slots=True)
class Scope:
    """The rows of a list the actor may see, as a filter (False: nothing)."""

    rows: Filter = False

    @property
    def is_empty(self) -> bool:
        return self.rows is False


# --- Action groups ----------------------------------------------------------------------------

_DOCUMENT_READ_ACTIONS: Final = frozenset({Action.DOCUMENTS_DOCUMENT_READ})
_DOCUMENT_SEARCH_ACTIONS: Final = frozenset({Action.DOCUMENTS_DOCUMENT_SEARCH})
_AUTHOR_WRITES: Final = frozenset(
    {Action.DOCUMENTS_DOCUMENT_UPDATE, Action.DOCUMENTS_DOCUMENT_DELETE}
)
# Reads of the space that need an access right (and count as a consultation).
_CONSULTATIONS: Final = frozenset(
    {
        Action.DOCUMENTS_DOCUMENT_READ,
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        Action.IDENTITY_PATIENT_READ,
        Action.IDENTITY_PATIENT_SEARCH,
    }
)
_PROFESSIONAL_ONLY: Final = frozenset({Action.ACCESS_CONSENT_CREATE})

# --- Reasons (French: shown to holders in "Qui peut voir ce document ?" and in the trace) ------

_NO_TARGET = "La ressource demandée n'existe pas."
_NO_RULE = "Aucune règle n'autorise cet accès : refus par défaut."
_SPACE_CLOSED = "Cet espace santé n'est pas ouvert (opposition, clôture ou création en attente)."
_BLOCKED = (
    "Le titulaire a bloqué ce professionnel : aucun accès n'est possible, quels que soient ses "
    "autres droits."
)
_NO_RIGHT = (
    "Ce professionnel n'a pas de droit d'accès à cet espace : il n'est ni le médecin traitant, "
    "ni autorisé par le titulaire, ni porteur d'un consentement déclaré, et n'agit pas en urgence."
)
_RIGHT_EXPIRED = "L'autorisation d'accès de ce professionnel à cet espace a expiré."
_MASKED_WHO = (
    "seuls le titulaire, l'auteur du document (ou son établissement), le médecin traitant et les "
    "professionnels auxquels le titulaire a donné les mêmes droits peuvent le lire."
)
_MASKED = "Document masqué par le titulaire : " + _MASKED_WHO
_MASK_ALL = "Le titulaire a masqué tous ses documents, y compris en cas d'urgence : " + _MASKED_WHO
_UNAVAILABLE = "Ce document a été supprimé ou retiré."
_NO_DOCUMENT = "Document inconnu : accès refusé par défaut."
_UNKNOWN_TYPE = "Type de document inconnu de la matrice : accès refusé par défaut."


@dataclass(frozen=True, slots=True)
class _Right:
    """The outcome of rule 4 (an access right to the space), before any document rule."""

    decision: Decision

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


def _deny(code: str, reason: str, *, mode: str = MODE_NORMAL, reveal: bool = False) -> Decision:
    return Decision(allowed=False, reason=reason, code=code, mode=mode, reveal=reveal)


def _allow(
    code: str, reason: str, *, mode: str = MODE_NORMAL, obligations: frozenset[str] = frozenset()
) -> Decision:
    return Decision(allowed=True, reason=reason, code=code, mode=mode, obligations=obligations)


# --- decide -----------------------------------------------------------------------------------


def decide(actor: Actor, action: Action, target: Target) -> Decision:
    if target.patient_id is None:
        return _deny("no-target", _NO_TARGET)
    if actor.kind is ActorKind.HOLDER:
        return _decide_holder(actor, action, target)
    if actor.kind is ActorKind.PROFESSIONAL:
        return _decide_professional(actor, action, target)
    if actor.kind is ActorKind.SYSTEM:
        if actor.id.startswith(INSURER_ID_PREFIX):
            return _decide_insurer(action, target)
        if action in _MESSAGING_ACTIONS:
            return _decide_messaging(actor, action, target)
    # Any other system actor (a background job) acts on patient data through no rule here.
    return _deny("no-rule", _NO_RULE)


def _decide_holder(actor: Actor, action: Action, target: Target) -> Decision:
    if target.patient_id in actor.own_patient_ids:
        allowed = _allow("holder-own-space", "Le titulaire agit sur son propre espace.")
        representative = False
    elif target.patient_id in actor.represented_patient_ids:
        allowed = _allow(
            "legal-representative",
            "Le représentant légal agit sur l'espace de la personne qu'il représente.",
        )
        representative = True
    else:
        return _deny("holder-other-space", "Un titulaire n'accède qu'à son propre espace.")
    if action in _PROFESSIONAL_ONLY:
        return _deny(
            "professionals-only",
            "Seul un professionnel de santé peut faire cette action.",
            reveal=True,
        )
    document = target.document
    if document is None:
        return allowed
    if document.status not in VISIBLE_STATUSES:
        return _deny("document-unavailable", _UNAVAILABLE)
    if _hidden_from_patient(document, target.now):
        return _deny(
            "invisible-to-patient",
            "Document rendu temporairement invisible au titulaire par le professionnel qui l'a "
            "déposé (par exemple en attendant une consultation d'annonce).",
        )
    if representative and document.invisible_to_representatives:
        return _deny(
            "invisible-to-representatives",
            "Document rendu invisible aux représentants légaux par le professionnel qui l'a "
            "déposé.",
        )
    if action is Action.DOCUMENTS_DOCUMENT_DELETE and not document.deposited_by_holder:
        return Decision(
            allowed=False,
            code="holder-deletes-own-only",
            reason="Vous ne pouvez supprimer que les documents que vous avez ajoutés vous-même.",
            reveal=True,
        )
    return allowed


def _hidden_from_patient(document: DocumentFacts, now: dt.datetime | None) -> bool:
    if not document.invisible_to_patient:
        return False
    # Without a clock reading the document stays hidden: deny by default.
    return document.invisible_until is None or now is None or document.invisible_until > now


# --- The insurer's feed -----------------------------------------------------------------------

# A registered issuer flagged `is_insurer` acts as `issuer:<id>` (identity.api_auth).
INSURER_ID_PREFIX: Final = "issuer:"
# What the insurer produces: reimbursement data (class 60, REMB), administrative documents and
# attestations (class 95, ATTEST-*), and certificates/declarations (CERT_DECL).
INSURER_CLASSES: Final = frozenset({"60", "95"})
INSURER_TYPES: Final = frozenset({"REMB", "CERT_DECL"})
CARE_HISTORY_SECTION: Final = "historique-soins"
_INSURER_WRITES: Final = frozenset(
    {Action.DOCUMENTS_DOCUMENT_CREATE, Action.PROFILE_CARE_HISTORY_CREATE}
)


def _decide_insurer(action: Action, target: Target) -> Decision:
    """The insurer deposits reimbursement history, attestations and certificates into open
    spaces and feeds the profile's care history, and does nothing else: it reads nothing, not even
    what it deposited.

    A deposit decided before its documents are known (no `document` facts: the pre-check of a
    whole batch) is allowed; a document whose facts are given must be of a kind the insurer
    produces.
    """
    relation = target.relation
    if relation is None or action not in _INSURER_WRITES:
        return _deny("no-rule", _NO_RULE)
    if not relation.space_open:
        return _deny("space-closed", _SPACE_CLOSED)
    if action is Action.PROFILE_CARE_HISTORY_CREATE:
        if target.facts.get("section") != CARE_HISTORY_SECTION:
            return _deny("no-rule", _NO_RULE)
        return _allow(
            "insurer-care-history",
            "L'Assurance Maladie alimente l'historique des soins à partir des remboursements.",
        )
    document = target.document
    if (
        document is not None
        and document.type_code not in INSURER_TYPES
        and document.class_code not in INSURER_CLASSES
    ):
        return _deny(
            "insurer-document-kind",
            "L'Assurance Maladie ne dépose que des données de remboursement, des attestations "
            "et des certificats.",
        )
    return _allow(
        "insurer-deposit",
        "L'Assurance Maladie alimente l'espace : données de remboursement, attestations et "
        "certificats.",
    )


def _decide_professional(actor: Actor, action: Action, target: Target) -> Decision:
    relation = target.relation
    if relation is None:
        return _deny("no-right", _NO_RIGHT)
    if not relation.space_open:
        return _deny("space-closed", _SPACE_CLOSED)
    if relation.blocked:
        return _deny("blocked", _BLOCKED, mode=actor.purpose_of_use.value, reveal=True)
    if action in _MESSAGING_ACTIONS:
        return _decide_messaging(actor, action, target)
    if action in _PROFILE_ACTIONS:
        return _decide_profile(actor, action, target, relation)
    if action is Action.DOCUMENTS_DOCUMENT_CREATE:
        return _allow(
            "deposit",
            "Tout professionnel de santé peut alimenter un espace ouvert ; le dépôt ne donne pas "
            "accès aux autres documents.",
        )
    if action is Action.ACCESS_CONSENT_CREATE:
        return _allow(
            "consent-declaration",
            "Le professionnel déclare avoir recueilli le consentement du titulaire pendant les "
            "soins.",
            mode=MODE_DECLARED_CONSENT,
        )
    document = target.document
    if action in _AUTHOR_WRITES:
        return _author_write(actor, document)
    if action in _DOCUMENT_READ_ACTIONS:
        return _read_document(actor, relation, document)
    if action in _DOCUMENT_SEARCH_ACTIONS:
        return _search_documents(actor, relation)
    if action in _CONSULTATIONS:
        return _with_obligations(_right(actor, relation).decision, relation)
    return _deny("no-rule", _NO_RULE)


def _is_author(actor: Actor, document: DocumentFacts) -> bool:
    return bool(document.author_professional_id) and document.author_professional_id == actor.id


def _same_organisation(actor: Actor, document: DocumentFacts) -> bool:
    return bool(document.author_organisation) and document.author_organisation == actor.organisation


def _author_write(actor: Actor, document: DocumentFacts | None) -> Decision:
    if document is None:
        return _deny("no-document", _NO_DOCUMENT)
    if document.status not in VISIBLE_STATUSES:
        return _deny("document-unavailable", _UNAVAILABLE)
    if _is_author(actor, document) or _same_organisation(actor, document):
        return _allow(
            "author-write",
            "L'auteur d'un document (ou son établissement) peut le modifier ou le supprimer.",
        )
    return _deny(
        "not-author", "Seul l'auteur d'un document (ou son établissement) peut le modifier."
    )


def _read_document(actor: Actor, relation: Relation, document: DocumentFacts | None) -> Decision:
    if document is None:
        return _deny("no-document", _NO_DOCUMENT)
    if document.status not in VISIBLE_STATUSES:
        return _deny("document-unavailable", _UNAVAILABLE)
    if _is_author(actor, document):
        return _with_obligations(
            _allow("author", "L'auteur d'un document peut toujours le lire."), relation
        )
    right = _right(actor, relation)
    if not right.allowed:
        return right.decision
    if not _mask_allows(actor, relation, document):
        reason = _MASK_ALL if relation.mask_all and not document.masked else _MASKED
        return _deny("masked", reason, mode=right.decision.mode)
    answer = matrix.may_read(
        actor.profession,
        document.type_code,
        pharmacist_section=actor.pharmacist_section or None,
        specialty=actor.specialty or None,
    )
    # The same set the search filter uses, so a read and a list can never disagree.
    readable = readable_types(
        actor.profession, pharmacist_section=actor.pharmacist_section, specialty=actor.specialty
    )
    if not answer.allowed or document.type_code not in readable:
        reason = answer.reason if not answer.allowed else _UNKNOWN_TYPE
        return _deny("matrix", reason, mode=right.decision.mode)
    granted = right.decision
    return _with_obligations(
        _allow(
            granted.code,
            f"{granted.reason} {answer.reason}",
            mode=granted.mode,
            obligations=granted.obligations,
        ),
        relation,
    )


def _search_documents(actor: Actor, relation: Relation) -> Decision:
    right = _right(actor, relation)
    if right.allowed:
        return _with_obligations(right.decision, relation)
    if right.decision.mode != MODE_NORMAL:
        # An emergency access the professional claimed and may not use: they are told why.
        return right.decision
    # Without a right, a professional still finds the documents they authored (rule 3).
    return _allow(
        "author-only",
        "Sans droit d'accès à cet espace, seuls les documents dont le professionnel est l'auteur "
        "lui sont montrés.",
    )


def _mask_allows(actor: Actor, relation: Relation, document: DocumentFacts) -> bool:
    if not (document.masked or relation.mask_all):
        return True
    if relation.medecin_traitant or relation.extended_rights:
        return True
    return _same_organisation(actor, document)


def _right(actor: Actor, relation: Relation) -> _Right:
    """Rule 4: the professional's right to consult this space, and its mode."""
    purpose = actor.purpose_of_use
    if purpose is PurposeOfUse.BREAK_GLASS:
        return _Right(_break_glass(actor, relation))
    if purpose is PurposeOfUse.CENTRE_15:
        return _Right(_centre_15(actor, relation))
    if relation.medecin_traitant:
        return _Right(_allow("medecin-traitant", "Médecin traitant du titulaire."))
    if relation.care_team and relation.care_team_basis == MODE_DECLARED_CONSENT:
        return _Right(
            _allow(
                "consent-declared",
                "Consentement du titulaire déclaré par le professionnel pendant les soins.",
                mode=MODE_DECLARED_CONSENT,
            )
        )
    if relation.care_team:
        return _Right(_allow("care-team-authorised", "Professionnel autorisé par le titulaire."))
    if relation.right_expired:
        return _Right(_deny("right-expired", _RIGHT_EXPIRED, reveal=True))
    return _Right(_deny("no-right", _NO_RIGHT))


def _break_glass(actor: Actor, relation: Relation) -> Decision:
    if not actor.emergency_reason.strip():
        return _deny(
            "break-glass-reason-missing",
            "Le motif de l'accès en urgence (bris de glace) est obligatoire.",
            mode=MODE_BREAK_GLASS,
            reveal=True,
        )
    if relation.break_glass_opposed:
        return _deny(
            "break-glass-opposed",
            "Le titulaire s'est opposé à l'accès en urgence (bris de glace).",
            mode=MODE_BREAK_GLASS,
            reveal=True,
        )
    return _allow(
        "break-glass",
        "Accès en urgence (bris de glace) : le titulaire ne s'y est pas opposé ; il en sera "
        "informé.",
        mode=MODE_BREAK_GLASS,
        obligations=frozenset({NOTIFY_EMERGENCY}),
    )


def _centre_15(actor: Actor, relation: Relation) -> Decision:
    if actor.profession != PHYSICIAN:
        return _deny(
            "centre-15-physicians-only",
            "Seul un médecin régulateur du SAMU (centre 15) peut utiliser ce mode d'accès.",
            mode=MODE_CENTRE_15,
            reveal=True,
        )
    if relation.centre_15_opposed:
        return _deny(
            "centre-15-opposed",
            "Le titulaire s'est opposé à l'accès par le centre de régulation (SAMU, centre 15).",
            mode=MODE_CENTRE_15,
            reveal=True,
        )
    return _allow(
        "centre-15",
        "Accès par le centre de régulation (SAMU, centre 15) : le titulaire ne s'y est pas "
        "opposé ; il en sera informé.",
        mode=MODE_CENTRE_15,
        obligations=frozenset({NOTIFY_EMERGENCY}),
    )


def _with_obligations(decision: Decision, relation: Relation) -> Decision:
    if not decision.allowed or not relation.first_access:
        return decision
    return Decision(
        allowed=True,
        reason=decision.reason,
        code=decision.code,
        mode=decision.mode,
        obligations=decision.obligations | {NOTIFY_FIRST_ACCESS},
    )


# --- The medical profile (professionals; holders follow the holder rule) ----------------------

_PROFILE_ACTIONS: Final = frozenset(a for a in Action if a.value.startswith("profile:"))
# Reads of the profile that need an access right (and count as a consultation).
_PROFILE_READS: Final = frozenset(
    {
        Action.PROFILE_ITEM_READ,
        Action.PROFILE_ITEM_SEARCH,
        Action.PROFILE_MEASURE_READ,
        Action.PROFILE_MEASURE_SEARCH,
        Action.PROFILE_SUMMARY_READ,
        Action.PROFILE_SYNTHESIS_READ,
    }
)
_EMERGENCY_MODES: Final = frozenset({MODE_BREAK_GLASS, MODE_CENTRE_15})
_PROFILE_HIDDEN = "Élément masqué par le titulaire : seul son auteur peut encore le lire."
_PROFILE_HOLDER_ONLY = (
    "Seul le titulaire peut masquer, supprimer ou partager les éléments de son profil, et saisir "
    "ses mesures et ses habitudes de vie."
)


def _decide_profile(actor: Actor, action: Action, target: Target, relation: Relation) -> Decision:
    """The medical profile, for professionals (facts from `profile.services`: `section`,
    `professional_write` for the sections they complete, and for an existing item its `hidden`
    flag and `author_id`).

    - Reading needs an access right (rule 4, emergencies included), with the same first-access
      and emergency obligations as documents; an item the holder hid is read by its author only,
      and the author of an item reads it even without a right.
    - Writing needs a right in normal mode (never from an emergency access): creating an item in
      a section professionals complete, correcting an item the professional wrote.
    - Hiding, deleting, sharing the synthesis and the measures are the holder's.
    """
    facts = target.facts
    author = bool(actor.id) and str(facts.get("author_id") or "") == actor.id
    if action in _PROFILE_READS:
        if author and action is Action.PROFILE_ITEM_READ:
            return _with_obligations(
                _allow("profile-author", "L'auteur d'un élément du profil peut toujours le lire."),
                relation,
            )
        if facts.get("hidden") is True:
            return _deny("profile-hidden", _PROFILE_HIDDEN)
        right = _right(actor, relation)
        if (
            not right.allowed
            and action is Action.PROFILE_ITEM_SEARCH
            and right.decision.mode == MODE_NORMAL
        ):
            return _allow(
                "author-only",
                "Sans droit d'accès à cet espace, seuls les éléments du profil dont le "
                "professionnel est l'auteur lui sont montrés.",
            )
        return _with_obligations(right.decision, relation)
    if action is Action.PROFILE_CARE_HISTORY_CREATE:
        return _deny(
            "care-history-insurer-only",
            "L'historique des soins est alimenté par l'Assurance Maladie uniquement.",
            reveal=True,
        )
    if action not in {Action.PROFILE_ITEM_CREATE, Action.PROFILE_ITEM_UPDATE}:
        return _deny("profile-holder-only", _PROFILE_HOLDER_ONLY, reveal=True)
    if facts.get("professional_write") is not True or facts.get("read_only") is True:
        return _deny(
            "profile-section-holder-only",
            "Les professionnels complètent les vaccinations, allergies, traitements, maladies, "
            "hospitalisations et antécédents familiaux ; les autres rubriques sont tenues par le "
            "titulaire.",
            reveal=True,
        )
    right = _right(actor, relation)
    if not right.allowed:
        return right.decision
    if right.decision.mode in _EMERGENCY_MODES:
        return _deny(
            "profile-write-emergency",
            "Un accès en urgence permet de consulter le profil, pas de le compléter.",
            mode=right.decision.mode,
            reveal=True,
        )
    if action is Action.PROFILE_ITEM_UPDATE and not author:
        return _deny(
            "profile-not-author",
            "Un professionnel ne corrige que les éléments du profil qu'il a lui-même ajoutés.",
            reveal=True,
        )
    return _allow(
        "profile-professional-write",
        f"{right.decision.reason} Il complète les rubriques du profil ouvertes aux professionnels.",
        mode=right.decision.mode,
    )


# --- Messaging (professionals and the MSSanté gateway; holders follow the holder rule) --------

MSS_GATEWAY_ID: Final = "mss-gateway"
_MESSAGING_ACTIONS: Final = frozenset(a for a in Action if a.value.startswith("messaging:"))
# What a participant does in a conversation (never delete it: hiding is the holder's own view).
_MESSAGING_PARTICIPANT_ACTIONS: Final = frozenset(
    {
        Action.MESSAGING_ATTACHMENT_READ,
        Action.MESSAGING_CONVERSATION_READ,
        Action.MESSAGING_MESSAGE_CREATE,
    }
)


def _decide_messaging(actor: Actor, action: Action, target: Target) -> Decision:
    """Secure messaging, for professionals and the system (holders: `_decide_holder`).

    - The MSSanté gateway (system actor `mss-gateway`) delivers received mail into an open space,
      and nothing else; another system actor (the insurer's feed) has no messaging right.
    - Any professional may open a conversation with an open space (fact `new_conversation`), as
      any MSSanté mailbox may write to a patient whose INS it knows.
    - Otherwise a professional reads and writes only in a conversation they take part in (fact
      `participant_id`, the professional's id). The care-team rules may widen this later.
    """
    relation = target.relation
    if relation is None:
        return _deny("no-right", _NO_RIGHT)
    if not relation.space_open:
        return _deny("space-closed", _SPACE_CLOSED)
    if actor.kind is ActorKind.SYSTEM:
        if actor.id == MSS_GATEWAY_ID and action is Action.MESSAGING_MESSAGE_CREATE:
            return _allow(
                "mss-gateway-delivery",
                "La passerelle MSSanté remet au titulaire un message reçu d'un professionnel de "
                "l'espace de confiance.",
            )
        return _deny("no-rule", _NO_RULE)
    if actor.kind is not ActorKind.PROFESSIONAL or relation.blocked:
        return _deny("no-rule", _NO_RULE)
    if action is Action.MESSAGING_MESSAGE_CREATE and target.facts.get("new_conversation") is True:
        return _allow(
            "messaging-open",
            "Un professionnel de santé peut écrire au titulaire d'un espace ouvert.",
        )
    participant = str(target.facts.get("participant_id") or "")
    if action in _MESSAGING_PARTICIPANT_ACTIONS and participant and participant == actor.id:
        return _allow("messaging-participant", "Le professionnel participe à cette conversation.")
    return _deny(
        "messaging-not-participant",
        "Un professionnel n'accède qu'aux conversations auxquelles il participe.",
    )


# --- scope ------------------------------------------------------------------------------------


def scope(
    actor: Actor,
    action: Action,
    *,
    patient_id: str | None = None,
    relation: Relation | None = None,
    now: dt.datetime | None = None,
) -> Scope:
    """The same rules as `decide`, as a description of the visible rows (deny = empty scope).

    For document searches the filter is over the columns of `documents.DocumentEntry`; for
    other lists it is over the patient key only. A professional always searches one space
    (`patient_id`), whose `relation` the gate loaded.
    """
    if actor.kind is ActorKind.HOLDER:
        return Scope(_holder_rows(actor, action, patient_id, now))
    if actor.kind is ActorKind.PROFESSIONAL and patient_id is not None and relation is not None:
        return Scope(_professional_rows(actor, action, patient_id, relation))
    return Scope(False)


def _patient_in(ids: frozenset[str]) -> Filter:
    return Field("patient", "in", tuple(sorted(ids))) if ids else False


def _holder_rows(
    actor: Actor, action: Action, patient_id: str | None, now: dt.datetime | None
) -> Filter:
    searched: Filter = True if patient_id is None else Field("patient", "eq", patient_id)
    if action not in _DOCUMENT_SEARCH_ACTIONS:
        return all_of(searched, _patient_in(actor.patient_ids))
    # Invisible to the patient unless the date has passed (`lte` never matches NULL).
    patient_may_see = any_of(
        Field("invisible_to_patient", "eq", False),
        Field("invisible_until", "lte", now) if now is not None else False,
    )
    common = all_of(searched, _visible_status(), patient_may_see)
    own = all_of(_patient_in(actor.own_patient_ids), common)
    represented = all_of(
        _patient_in(actor.represented_patient_ids - actor.own_patient_ids),
        common,
        Field("invisible_to_representatives", "eq", False),
    )
    return any_of(own, represented)


def _visible_status() -> Filter:
    return Field("status", "in", tuple(sorted(VISIBLE_STATUSES)))


def _professional_rows(actor: Actor, action: Action, patient_id: str, relation: Relation) -> Filter:
    if not relation.space_open or relation.blocked:
        return False
    space = Field("patient", "eq", patient_id)
    if action not in _DOCUMENT_SEARCH_ACTIONS:
        if action in _CONSULTATIONS | _PROFILE_READS and _right(actor, relation).allowed:
            return space
        if action is Action.PROFILE_ITEM_SEARCH and actor.id:
            # Without a right, the items the professional wrote (the services hide the rest).
            return all_of(space, Field("author_id", "eq", actor.id))
        return False
    authored = Field("author_professional_id", "eq", actor.id) if actor.id else False
    if not _right(actor, relation).allowed:
        return all_of(space, _visible_status(), authored)
    same_organisation: Filter = (
        Field("author_organisation", "eq", actor.organisation) if actor.organisation else False
    )
    if relation.medecin_traitant or relation.extended_rights:
        mask_ok: Filter = True
    elif relation.mask_all:
        mask_ok = same_organisation
    else:
        mask_ok = any_of(Field("masked", "eq", False), same_organisation)
    types = readable_types(
        actor.profession, pharmacist_section=actor.pharmacist_section, specialty=actor.specialty
    )
    matrix_ok: Filter = Field("type_code", "in", tuple(sorted(types))) if types else False
    return all_of(space, _visible_status(), any_of(authored, all_of(mask_ok, matrix_ok)))


@functools.cache
def readable_types(
    profession: str, *, pharmacist_section: str = "", specialty: str = ""
) -> frozenset[str]:
    """The document types the matrix lets this professional read (types absent from the matrix
    are never readable, so a search never shows one)."""
    return frozenset(
        type_code
        for type_code in matrix.type_codes()
        if matrix.may_read(
            profession,
            type_code,
            pharmacist_section=pharmacist_section or None,
            specialty=specialty or None,
        ).allowed
    )
