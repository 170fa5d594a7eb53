"""The insurer's feed (a registered issuer flagged as insurer, actor `issuer:<id>`): it deposits
reimbursement data, attestations and certificates into open spaces, and nothing else."""

import pytest

from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind
from carnet.access.policy import DocumentFacts, Relation, Target, decide, scope

INSURER = Actor(kind=ActorKind.SYSTEM, id="issuer:7", label="Assurance Maladie", channel="api")
OPEN = Relation(space_open=True)


def _deposit(document=None, relation=OPEN):
    return Target("DocumentReference", patient_id="p1", relation=relation, document=document)


def test_the_insurer_deposits_a_batch_into_an_open_space():
    decision = decide(INSURER, Action.DOCUMENTS_DOCUMENT_CREATE, _deposit())
    assert decision.allowed
    assert decision.code == "insurer-deposit"


@pytest.mark.parametrize(
    ("type_code", "class_code"),
    [("REMB", "60"), ("ATTEST-DROITS-AM", "95"), ("ATTEST-ASS-COMPL", "95"), ("CERT_DECL", "52")],
)
def test_reimbursement_data_attestations_and_certificates_are_the_insurers(type_code, class_code):
    decision = decide(
        INSURER, Action.DOCUMENTS_DOCUMENT_CREATE, _deposit(DocumentFacts(type_code, class_code))
    )
    assert decision.allowed


@pytest.mark.parametrize(
    ("type_code", "class_code"),
    [("11488-4", "10"), ("89601-9", "52"), ("SYNTH", "11"), ("57833-6", "42")],
)
def test_clinical_documents_are_not_the_insurers(type_code, class_code):
    decision = decide(
        INSURER, Action.DOCUMENTS_DOCUMENT_CREATE, _deposit(DocumentFacts(type_code, class_code))
    )
    assert not decision.allowed
    assert decision.code == "insurer-document-kind"


def test_a_closed_or_unknown_space_refuses_the_insurer():
    closed = decide(
        INSURER, Action.DOCUMENTS_DOCUMENT_CREATE, _deposit(relation=Relation(space_open=False))
    )
    assert (closed.allowed, closed.code) == (False, "space-closed")
    unknown = decide(INSURER, Action.DOCUMENTS_DOCUMENT_CREATE, _deposit(relation=None))
    assert not unknown.allowed
    missing = decide(INSURER, Action.DOCUMENTS_DOCUMENT_CREATE, Target("DocumentReference"))
    assert not missing.allowed


@pytest.mark.parametrize("action", [a for a in Action if a is not Action.DOCUMENTS_DOCUMENT_CREATE])
def test_the_insurer_does_nothing_else_not_even_read_its_own_deposits(action):
    own = DocumentFacts("REMB", "60")
    assert not decide(INSURER, action, _deposit(own)).allowed


def test_the_insurer_searches_nothing():
    found = scope(INSURER, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p1", relation=OPEN)
    assert found.is_empty
