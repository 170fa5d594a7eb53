"""`access.policy.messaging.decide_messaging` (pure): the MSSanté gateway delivers and does
nothing else, a professional opens a conversation with an open space and then acts only in the
conversations they take part in, everything else is refused by default."""

from __future__ import annotations

import pytest

from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind
from carnet.access.policy import MSS_GATEWAY_ID, Relation, Target, decide

SPACE = "0b7e6c1e-0000-4000-8000-000000000001"
PRO = Actor(kind=ActorKind.PROFESSIONAL, id="pro-1", profession="10")
GATEWAY = Actor(kind=ActorKind.SYSTEM, id=MSS_GATEWAY_ID)
INSURER = Actor(kind=ActorKind.SYSTEM, id="issuer:cnam")
HOLDER = Actor(kind=ActorKind.HOLDER, id="user-1", own_patient_ids=frozenset({SPACE}))
MESSAGING = [a for a in Action if a.value.startswith("messaging:")]


def _target(relation=Relation(), **facts):  # noqa: B008 (an immutable default)
    return Target("Conversation", "c-1", patient_id=SPACE, relation=relation, facts=facts)


def test_the_gateway_only_delivers_into_an_open_space():
    assert decide(GATEWAY, Action.MESSAGING_MESSAGE_CREATE, _target()).allowed
    closed = _target(Relation(space_open=False))
    assert decide(GATEWAY, Action.MESSAGING_MESSAGE_CREATE, closed).code == "space-closed"
    for action in MESSAGING:
        if action is not Action.MESSAGING_MESSAGE_CREATE:
            assert not decide(GATEWAY, action, _target()).allowed, action
    assert not decide(GATEWAY, Action.DOCUMENTS_DOCUMENT_READ, _target()).allowed


def test_another_system_actor_has_no_messaging_right():
    for action in MESSAGING:
        assert not decide(INSURER, action, _target()).allowed


def test_a_professional_opens_a_conversation_with_an_open_space():
    assert decide(PRO, Action.MESSAGING_MESSAGE_CREATE, _target(new_conversation=True)).allowed
    refused = decide(
        PRO,
        Action.MESSAGING_MESSAGE_CREATE,
        _target(Relation(space_open=False), new_conversation=True),
    )
    assert refused.code == "space-closed"
    blocked = decide(
        PRO, Action.MESSAGING_MESSAGE_CREATE, _target(Relation(blocked=True), new_conversation=True)
    )
    assert not blocked.allowed


@pytest.mark.parametrize(
    "action",
    [
        Action.MESSAGING_CONVERSATION_READ,
        Action.MESSAGING_ATTACHMENT_READ,
        Action.MESSAGING_MESSAGE_CREATE,
    ],
)
def test_a_participant_reads_and_writes_in_their_conversation_only(action):
    assert decide(PRO, action, _target(participant_id="pro-1")).allowed
    other = decide(PRO, action, _target(participant_id="pro-2"))
    assert (other.allowed, other.code, other.reveal) == (False, "messaging-not-participant", False)
    assert not decide(PRO, action, _target(participant_id="")).allowed
    assert not decide(PRO, action, _target()).allowed


@pytest.mark.parametrize(
    "action",
    [
        Action.MESSAGING_CONVERSATION_DELETE,
        Action.MESSAGING_CONVERSATION_SEARCH,
        Action.MESSAGING_ATTACHMENT_UPDATE,
        Action.MESSAGING_MESSAGE_UPDATE,
    ],
)
def test_what_is_the_holders_own_is_refused_to_professionals(action):
    assert not decide(PRO, action, _target(participant_id="pro-1")).allowed
    assert decide(HOLDER, action, _target()).allowed


def test_without_relation_or_space_nothing():
    assert not decide(
        PRO, Action.MESSAGING_CONVERSATION_READ, _target(None, participant_id="pro-1")
    ).allowed
    orphan = Target("Conversation", "c-1", patient_id=None, facts={"participant_id": "pro-1"})
    assert not decide(PRO, Action.MESSAGING_CONVERSATION_READ, orphan).allowed


def test_a_holder_acts_on_their_own_messages_only():
    for action in MESSAGING:
        assert decide(HOLDER, action, _target()).allowed
    stranger = Actor(kind=ActorKind.HOLDER, id="user-2", own_patient_ids=frozenset({"other"}))
    for action in MESSAGING:
        assert not decide(stranger, action, _target()).allowed
