"""The pure decision: holders and representatives act on their spaces; everything else is denied."""

import pytest

from carnet.access.actions import Action
from carnet.access.actors import ANONYMOUS, Actor, ActorKind
from carnet.access.policy import Target, decide, scope

HOLDER = Actor(kind=ActorKind.HOLDER, id="u1", own_patient_ids=frozenset({"p1"}))
PARENT = Actor(
    kind=ActorKind.HOLDER,
    id="u2",
    own_patient_ids=frozenset({"p2"}),
    represented_patient_ids=frozenset({"p3"}),
)
PRO = Actor(kind=ActorKind.PROFESSIONAL, id="pro", profession="10", rpps="10000000015")
SYSTEM = Actor(kind=ActorKind.SYSTEM, id="insurer")


def target(patient_id):
    return Target(resource_type="Patient", resource_id=patient_id or "x", patient_id=patient_id)


@pytest.mark.parametrize("action", list(Action))
def test_holder_acts_on_own_space(action):
    decision = decide(HOLDER, action, target("p1"))
    assert decision.allowed
    assert decision.code == "holder-own-space"


@pytest.mark.parametrize("action", list(Action))
def test_holder_cannot_act_on_another_space(action):
    decision = decide(HOLDER, action, target("p2"))
    assert not decision.allowed
    assert not decision.reveal


def test_representative_acts_on_the_represented_space():
    decision = decide(PARENT, Action.IDENTITY_PATIENT_READ, target("p3"))
    assert decision.allowed
    assert decision.code == "legal-representative"


@pytest.mark.parametrize("actor", [PRO, SYSTEM, ANONYMOUS])
@pytest.mark.parametrize("action", [a for a in Action if a is not Action.DOCUMENTS_DOCUMENT_CREATE])
def test_other_actors_are_denied_by_default(actor, action):
    decision = decide(actor, action, target("p1"))
    assert not decision.allowed
    assert decision.code == "no-rule"


def test_a_professional_may_deposit_but_not_read_what_others_wrote():
    from carnet.access.policy import DocumentFacts, Relation

    assert decide(PRO, Action.DOCUMENTS_DOCUMENT_CREATE, target("p1")).allowed
    theirs = Target(
        "DocumentReference",
        "d1",
        patient_id="p1",
        document=DocumentFacts("11488-4", "10", author_professional_id="other"),
    )
    mine = Target(
        "DocumentReference",
        "d2",
        patient_id="p1",
        document=DocumentFacts("11488-4", "10", author_professional_id="pro"),
    )
    assert not decide(PRO, Action.DOCUMENTS_DOCUMENT_READ, theirs).allowed
    assert decide(PRO, Action.DOCUMENTS_DOCUMENT_READ, mine).allowed
    closed = Target("DocumentReference", patient_id="p1", relation=Relation(space_open=False))
    assert not decide(PRO, Action.DOCUMENTS_DOCUMENT_CREATE, closed).allowed
    blocked = Target("DocumentReference", patient_id="p1", relation=Relation(blocked=True))
    refusal = decide(PRO, Action.DOCUMENTS_DOCUMENT_CREATE, blocked)
    assert not refusal.allowed
    assert refusal.reveal


def test_missing_target_is_denied_even_for_a_holder():
    decision = decide(HOLDER, Action.IDENTITY_PATIENT_READ, target(None))
    assert not decision.allowed
    assert decision.code == "no-target"


def test_scope_is_the_spaces_of_the_holder_and_nothing_for_others():
    assert scope(PARENT, Action.IDENTITY_PATIENT_SEARCH).patient_ids == {"p2", "p3"}
    assert scope(PRO, Action.IDENTITY_PATIENT_SEARCH).is_empty
    assert scope(ANONYMOUS, Action.IDENTITY_PATIENT_SEARCH).is_empty


def test_write_actions_are_flagged():
    assert Action.IDENTITY_PATIENT_UPDATE.is_write
    assert not Action.IDENTITY_PATIENT_READ.is_write
