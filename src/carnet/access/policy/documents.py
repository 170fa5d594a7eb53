"""Documents, for professionals: authors, reads within a right (masking, the matrix), searches."""

from __future__ import annotations

import functools
from typing import Final

from carnet.access import matrix
from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.policy.filters import Field, Filter, all_of, any_of, visible_status
from carnet.access.policy.rights import right_of, with_obligations
from carnet.access.policy.terms import (
    MASK_ALL,
    MASKED,
    MODE_NORMAL,
    NO_DOCUMENT,
    UNAVAILABLE,
    UNKNOWN_TYPE,
    VISIBLE_STATUSES,
    Decision,
    DocumentFacts,
    Relation,
    allow,
    deny,
)

DOCUMENT_READ_ACTIONS: Final = frozenset({Action.DOCUMENTS_DOCUMENT_READ})
DOCUMENT_SEARCH_ACTIONS: Final = frozenset({Action.DOCUMENTS_DOCUMENT_SEARCH})
AUTHOR_WRITES: Final = frozenset(
    {Action.DOCUMENTS_DOCUMENT_UPDATE, Action.DOCUMENTS_DOCUMENT_DELETE}
)


def is_author(actor: Actor, document: DocumentFacts) -> bool:
    return bool(document.author_professional_id) and document.author_professional_id == actor.id


def same_organisation(actor: Actor, document: DocumentFacts) -> bool:
    return bool(document.author_organisation) and document.author_organisation == actor.organisation


def author_write(actor: Actor, document: DocumentFacts | None) -> Decision:
    if document is None:
        return deny("no-document", NO_DOCUMENT)
    if document.status not in VISIBLE_STATUSES:
        return deny("document-unavailable", UNAVAILABLE)
    if is_author(actor, document) or same_organisation(actor, document):
        return allow(
            "author-write",
            "L'auteur d'un document (ou son établissement) peut le modifier ou le supprimer.",
        )
    return deny(
        "not-author", "Seul l'auteur d'un document (ou son établissement) peut le modifier."
    )


def read_document(actor: Actor, relation: Relation, document: DocumentFacts | None) -> Decision:
    if document is None:
        return deny("no-document", NO_DOCUMENT)
    if document.status not in VISIBLE_STATUSES:
        return deny("document-unavailable", UNAVAILABLE)
    if is_author(actor, document):
        return with_obligations(
            allow("author", "L'auteur d'un document peut toujours le lire."), relation
        )
    right = right_of(actor, relation)
    if not right.allowed:
        return right.decision
    if not mask_allows(actor, relation, document):
        reason = MASK_ALL if relation.mask_all and not document.masked else MASKED
        return deny("masked", reason, mode=right.decision.mode)
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
        reason = answer.reason if not answer.allowed else UNKNOWN_TYPE
        return deny("matrix", reason, mode=right.decision.mode)
    granted = right.decision
    return with_obligations(
        allow(
            granted.code,
            f"{granted.reason} {answer.reason}",
            mode=granted.mode,
            obligations=granted.obligations,
        ),
        relation,
    )


def search_documents(actor: Actor, relation: Relation) -> Decision:
    right = right_of(actor, relation)
    if right.allowed:
        return with_obligations(right.decision, relation)
    if right.decision.mode != MODE_NORMAL:
        # An emergency access the professional claimed and may not use: they are told why.
        return right.decision
    # Without a right, a professional still finds the documents they authored (rule 3).
    return allow(
        "author-only",
        "Sans droit d'accès à cet espace, seuls les documents dont le professionnel est l'auteur "
        "lui sont montrés.",
    )


def mask_allows(actor: Actor, relation: Relation, document: DocumentFacts) -> bool:
    if not (document.masked or relation.mask_all):
        return True
    if relation.medecin_traitant or relation.extended_rights:
        return True
    return same_organisation(actor, document)


def document_rows(actor: Actor, space: Filter, relation: Relation) -> Filter:
    """The documents of one space a professional's search shows (the same rules as a read)."""
    authored = Field("author_professional_id", "eq", actor.id) if actor.id else False
    if not right_of(actor, relation).allowed:
        return all_of(space, visible_status(), authored)
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
    return all_of(space, visible_status(), any_of(authored, all_of(mask_ok, matrix_ok)))


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
