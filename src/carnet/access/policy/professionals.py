"""Professionals: the dispatcher of rules 1 to 6 and of their lists."""

from __future__ import annotations

from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.policy.documents import (
    AUTHOR_WRITES,
    DOCUMENT_READ_ACTIONS,
    DOCUMENT_SEARCH_ACTIONS,
    author_write,
    document_rows,
    read_document,
    search_documents,
)
from carnet.access.policy.filters import Field, Filter
from carnet.access.policy.messaging import MESSAGING_ACTIONS, decide_messaging
from carnet.access.policy.profile import PROFILE_ACTIONS, decide_profile, profile_rows
from carnet.access.policy.rights import CONSULTATIONS, right_of, with_obligations
from carnet.access.policy.terms import (
    BLOCKED,
    MODE_DECLARED_CONSENT,
    NO_RIGHT,
    NO_RULE,
    SPACE_CLOSED,
    Decision,
    Relation,
    Target,
    allow,
    deny,
)


def decide_professional(actor: Actor, action: Action, target: Target) -> Decision:
    relation = target.relation
    if relation is None:
        return deny("no-right", NO_RIGHT)
    if not relation.space_open:
        return deny("space-closed", SPACE_CLOSED)
    if relation.blocked:
        return deny("blocked", BLOCKED, mode=actor.purpose_of_use.value, reveal=True)
    if action in MESSAGING_ACTIONS:
        return decide_messaging(actor, action, target)
    if action in PROFILE_ACTIONS:
        return decide_profile(actor, action, target, relation)
    if action is Action.DOCUMENTS_DOCUMENT_CREATE:
        return allow(
            "deposit",
            "Tout professionnel de santé peut alimenter un espace ouvert ; le dépôt ne donne pas "
            "accès aux autres documents.",
        )
    if action is Action.ACCESS_CONSENT_CREATE:
        return allow(
            "consent-declaration",
            "Le professionnel déclare avoir recueilli le consentement du titulaire pendant les "
            "soins.",
            mode=MODE_DECLARED_CONSENT,
        )
    document = target.document
    if action in AUTHOR_WRITES:
        return author_write(actor, document)
    if action in DOCUMENT_READ_ACTIONS:
        return read_document(actor, relation, document)
    if action in DOCUMENT_SEARCH_ACTIONS:
        return search_documents(actor, relation)
    if action in CONSULTATIONS:
        return with_obligations(right_of(actor, relation).decision, relation)
    return deny("no-rule", NO_RULE)


def professional_rows(actor: Actor, action: Action, patient_id: str, relation: Relation) -> Filter:
    if not relation.space_open or relation.blocked:
        return False
    space = Field("patient", "eq", patient_id)
    if action in DOCUMENT_SEARCH_ACTIONS:
        return document_rows(actor, space, relation)
    if action in PROFILE_ACTIONS:
        return profile_rows(actor, action, space, relation)
    if action in CONSULTATIONS and right_of(actor, relation).allowed:
        return space
    return False
