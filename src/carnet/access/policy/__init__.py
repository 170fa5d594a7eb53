"""THE access decision of Carnet: `decide(actor, action, target) -> Decision`.

Pure: it reads only the facts passed in (no database, no clock, no settings) and **denies by
default**: every rule is an explicit allow, and falling through the rules is a refusal. The gate
(`carnet.access.gate`) is its only caller; lists use `scope()`, the same rules expressed as a
filter description (`Filter`) that the gate compiles into a database query.

The rules (product specification §5; the DMP authorisation matrix, see `docs/standards/`), in
the order they apply:

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

The package holds one module per audience: `holders`, `professionals` (with `rights`, rule 4,
`documents`, `profile` and `messaging`), `insurer`; `terms` holds the facts and the decision,
`filters` the row filters. `decide` and `scope` below are the only entry points.
"""

from __future__ import annotations

import datetime as dt

from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind
from carnet.access.policy.documents import readable_types
from carnet.access.policy.filters import And, Field, Filter, Op, Or, Scope, all_of, any_of
from carnet.access.policy.holders import decide_holder, holder_rows
from carnet.access.policy.insurer import (
    CARE_HISTORY_SECTION,
    INSURER_CLASSES,
    INSURER_ID_PREFIX,
    INSURER_TYPES,
    decide_insurer,
)
from carnet.access.policy.messaging import MESSAGING_ACTIONS, MSS_GATEWAY_ID, decide_messaging
from carnet.access.policy.professionals import decide_professional, professional_rows
from carnet.access.policy.terms import (
    MODE_BREAK_GLASS,
    MODE_CENTRE_15,
    MODE_DECLARED_CONSENT,
    MODE_NORMAL,
    NO_RULE,
    NO_TARGET,
    NOTIFY_EMERGENCY,
    NOTIFY_FIRST_ACCESS,
    PHYSICIAN,
    VISIBLE_STATUSES,
    Decision,
    DocumentFacts,
    Relation,
    Target,
    deny,
)

__all__ = [
    "CARE_HISTORY_SECTION",
    "INSURER_CLASSES",
    "INSURER_ID_PREFIX",
    "INSURER_TYPES",
    "MODE_BREAK_GLASS",
    "MODE_CENTRE_15",
    "MODE_DECLARED_CONSENT",
    "MODE_NORMAL",
    "MSS_GATEWAY_ID",
    "NOTIFY_EMERGENCY",
    "NOTIFY_FIRST_ACCESS",
    "PHYSICIAN",
    "VISIBLE_STATUSES",
    "And",
    "Decision",
    "DocumentFacts",
    "Field",
    "Filter",
    "Op",
    "Or",
    "Relation",
    "Scope",
    "Target",
    "all_of",
    "any_of",
    "decide",
    "readable_types",
    "scope",
]


def decide(actor: Actor, action: Action, target: Target) -> Decision:
    if target.patient_id is None:
        return deny("no-target", NO_TARGET)
    if actor.kind is ActorKind.HOLDER:
        return decide_holder(actor, action, target)
    if actor.kind is ActorKind.PROFESSIONAL:
        return decide_professional(actor, action, target)
    if actor.kind is ActorKind.SYSTEM:
        if actor.id.startswith(INSURER_ID_PREFIX):
            return decide_insurer(action, target)
        if action in MESSAGING_ACTIONS:
            return decide_messaging(actor, action, target)
    # Any other system actor (a background job) acts on patient data through no rule here.
    return deny("no-rule", NO_RULE)


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
        return Scope(holder_rows(actor, action, patient_id, now))
    if actor.kind is ActorKind.PROFESSIONAL and patient_id is not None and relation is not None:
        return Scope(professional_rows(actor, action, patient_id, relation))
    return Scope(False)
