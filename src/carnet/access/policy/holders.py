"""Holders and legal representatives: their own spaces and the spaces they represent."""

from __future__ import annotations

import datetime as dt
from typing import Final

from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.policy.documents import DOCUMENT_SEARCH_ACTIONS
from carnet.access.policy.filters import Field, Filter, all_of, any_of, visible_status
from carnet.access.policy.terms import (
    UNAVAILABLE,
    VISIBLE_STATUSES,
    Decision,
    DocumentFacts,
    Target,
    allow,
    deny,
)

PROFESSIONAL_ONLY: Final = frozenset({Action.ACCESS_CONSENT_CREATE})


def decide_holder(actor: Actor, action: Action, target: Target) -> Decision:
    if target.patient_id in actor.own_patient_ids:
        allowed = allow("holder-own-space", "Le titulaire agit sur son propre espace.")
        representative = False
    elif target.patient_id in actor.represented_patient_ids:
        allowed = allow(
            "legal-representative",
            "Le représentant légal agit sur l'espace de la personne qu'il représente.",
        )
        representative = True
    else:
        return deny("holder-other-space", "Un titulaire n'accède qu'à son propre espace.")
    if action in PROFESSIONAL_ONLY:
        return deny(
            "professionals-only",
            "Seul un professionnel de santé peut faire cette action.",
            reveal=True,
        )
    document = target.document
    if document is None:
        return allowed
    if document.status not in VISIBLE_STATUSES:
        return deny("document-unavailable", UNAVAILABLE)
    if hidden_from_patient(document, target.now):
        return deny(
            "invisible-to-patient",
            "Document rendu temporairement invisible au titulaire par le professionnel qui l'a "
            "déposé (par exemple en attendant une consultation d'annonce).",
        )
    if representative and document.invisible_to_representatives:
        return deny(
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


def hidden_from_patient(document: DocumentFacts, now: dt.datetime | None) -> bool:
    if not document.invisible_to_patient:
        return False
    # Without a clock reading the document stays hidden: deny by default.
    return document.invisible_until is None or now is None or document.invisible_until > now


def patient_in(ids: frozenset[str]) -> Filter:
    return Field("patient", "in", tuple(sorted(ids))) if ids else False


def holder_rows(
    actor: Actor, action: Action, patient_id: str | None, now: dt.datetime | None
) -> Filter:
    searched: Filter = True if patient_id is None else Field("patient", "eq", patient_id)
    if action not in DOCUMENT_SEARCH_ACTIONS:
        return all_of(searched, patient_in(actor.patient_ids))
    # Invisible to the patient unless the date has passed (`lte` never matches NULL).
    patient_may_see = any_of(
        Field("invisible_to_patient", "eq", False),
        Field("invisible_until", "lte", now) if now is not None else False,
    )
    common = all_of(searched, visible_status(), patient_may_see)
    own = all_of(patient_in(actor.own_patient_ids), common)
    represented = all_of(
        patient_in(actor.represented_patient_ids - actor.own_patient_ids),
        common,
        Field("invisible_to_representatives", "eq", False),
    )
    return any_of(own, represented)
