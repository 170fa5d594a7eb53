"""The insurer's feed (a registered issuer flagged `is_insurer`)."""

from __future__ import annotations

from typing import Final

from carnet.access.actions import Action
from carnet.access.policy.terms import NO_RULE, SPACE_CLOSED, Decision, Target, allow, deny

INSURER_ID_PREFIX: Final = "issuer:"
# What the insurer produces: reimbursement data (class 60, REMB), administrative documents and
# attestations (class 95, ATTEST-*), and certificates/declarations (CERT_DECL).
INSURER_CLASSES: Final = frozenset({"60", "95"})
INSURER_TYPES: Final = frozenset({"REMB", "CERT_DECL"})
CARE_HISTORY_SECTION: Final = "historique-soins"
INSURER_WRITES: Final = frozenset(
    {Action.DOCUMENTS_DOCUMENT_CREATE, Action.PROFILE_CARE_HISTORY_CREATE}
)


def decide_insurer(action: Action, target: Target) -> Decision:
    """The insurer deposits reimbursement history, attestations and certificates into open
    spaces and feeds the profile's care history, and does nothing else: it reads nothing, not even
    what it deposited.

    A deposit decided before its documents are known (no `document` facts: the pre-check of a
    whole batch) is allowed; a document whose facts are given must be of a kind the insurer
    produces.
    """
    relation = target.relation
    if relation is None or action not in INSURER_WRITES:
        return deny("no-rule", NO_RULE)
    if not relation.space_open:
        return deny("space-closed", SPACE_CLOSED)
    if action is Action.PROFILE_CARE_HISTORY_CREATE:
        if target.facts.get("section") != CARE_HISTORY_SECTION:
            return deny("no-rule", NO_RULE)
        return allow(
            "insurer-care-history",
            "L'Assurance Maladie alimente l'historique des soins à partir des remboursements.",
        )
    document = target.document
    if (
        document is not None
        and document.type_code not in INSURER_TYPES
        and document.class_code not in INSURER_CLASSES
    ):
        return deny(
            "insurer-document-kind",
            "L'Assurance Maladie ne dépose que des données de remboursement, des attestations "
            "et des certificats.",
        )
    return allow(
        "insurer-deposit",
        "L'Assurance Maladie alimente l'espace : données de remboursement, attestations et "
        "certificats.",
    )
