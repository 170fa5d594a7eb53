"""The pure decision for the medical profile: professionals read it with an access right (hidden
items excepted), complete the sections open to them in normal mode and correct only what they
wrote; the holder alone hides, deletes, shares and enters measures; the insurer feeds the care
history of open spaces and reads nothing."""

import datetime as dt

import pytest

from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.access.policy import (
    NOTIFY_EMERGENCY,
    NOTIFY_FIRST_ACCESS,
    And,
    Field,
    Relation,
    Target,
    decide,
    scope,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
PRO = Actor(kind=ActorKind.PROFESSIONAL, id="pro", profession="10")
OTHER_PRO = Actor(kind=ActorKind.PROFESSIONAL, id="other", profession="10")
EMERGENCY = Actor(
    kind=ActorKind.PROFESSIONAL,
    id="pro",
    profession="10",
    purpose_of_use=PurposeOfUse.BREAK_GLASS,
    emergency_reason="Patient inconscient aux urgences",
)
INSURER = Actor(kind=ActorKind.SYSTEM, id="issuer:1", label="Assurance Maladie")
AUTHORISED = Relation(care_team=True, care_team_basis="autorise")
NO_RIGHT = Relation()
ALLERGIES = {"section": "allergies", "professional_write": True, "read_only": False}
HABITS = {"section": "habitudes-de-vie", "professional_write": False, "read_only": False}
CARE_HISTORY = {"section": "historique-soins", "professional_write": False, "read_only": True}

READS = [
    Action.PROFILE_ITEM_READ,
    Action.PROFILE_ITEM_SEARCH,
    Action.PROFILE_MEASURE_READ,
    Action.PROFILE_MEASURE_SEARCH,
    Action.PROFILE_SUMMARY_READ,
    Action.PROFILE_SYNTHESIS_READ,
]


def target(relation, **facts):
    return Target(
        "AllergyIntolerance", "i1", patient_id="p1", relation=relation, facts=facts, now=NOW
    )


def item(author_id="holder", hidden=False, **section):
    return {**(section or ALLERGIES), "author_id": author_id, "hidden": hidden}


@pytest.mark.parametrize("action", READS)
def test_a_professional_with_a_right_reads_the_profile(action):
    decision = decide(PRO, action, target(AUTHORISED, **item()))
    assert decision.allowed, decision.reason
    assert decision.code == "care-team-authorised"


@pytest.mark.parametrize("action", READS)
def test_without_a_right_the_profile_is_refused(action):
    decision = decide(PRO, action, target(NO_RIGHT, **item()))
    if action is Action.PROFILE_ITEM_SEARCH:
        assert (decision.allowed, decision.code) == (True, "author-only")
    else:
        assert (decision.allowed, decision.code) == (False, "no-right")


def test_a_first_reading_of_the_profile_notifies_the_holder():
    relation = Relation(care_team=True, care_team_basis="autorise", first_access=True)
    decision = decide(PRO, Action.PROFILE_SUMMARY_READ, target(relation))
    assert NOTIFY_FIRST_ACCESS in decision.obligations


def test_an_emergency_reads_the_profile_and_the_holder_is_told():
    decision = decide(EMERGENCY, Action.PROFILE_SYNTHESIS_READ, target(NO_RIGHT))
    assert decision.allowed
    assert NOTIFY_EMERGENCY in decision.obligations


def test_a_hidden_item_is_read_by_its_author_only():
    hidden = item(author_id="pro", hidden=True)
    assert decide(PRO, Action.PROFILE_ITEM_READ, target(AUTHORISED, **hidden)).allowed
    refused = decide(OTHER_PRO, Action.PROFILE_ITEM_READ, target(AUTHORISED, **hidden))
    assert (refused.allowed, refused.code) == (False, "profile-hidden")
    assert not refused.reveal


def test_the_author_reads_their_item_without_a_right():
    assert decide(PRO, Action.PROFILE_ITEM_READ, target(NO_RIGHT, **item(author_id="pro"))).allowed


def test_a_professional_with_a_right_completes_the_open_sections():
    decision = decide(PRO, Action.PROFILE_ITEM_CREATE, target(AUTHORISED, **ALLERGIES))
    assert (decision.allowed, decision.code) == (True, "profile-professional-write")


@pytest.mark.parametrize("facts", [HABITS, CARE_HISTORY, {}])
def test_the_other_sections_are_the_holders(facts):
    decision = decide(PRO, Action.PROFILE_ITEM_CREATE, target(AUTHORISED, **facts))
    assert (decision.allowed, decision.code) == (False, "profile-section-holder-only")


def test_writing_needs_a_right_and_never_comes_from_an_emergency():
    assert decide(PRO, Action.PROFILE_ITEM_CREATE, target(NO_RIGHT, **ALLERGIES)).code == "no-right"
    emergency = decide(EMERGENCY, Action.PROFILE_ITEM_CREATE, target(NO_RIGHT, **ALLERGIES))
    assert (emergency.allowed, emergency.code) == (False, "profile-write-emergency")


def test_a_professional_corrects_only_what_they_wrote():
    own = item(author_id="pro")
    assert decide(PRO, Action.PROFILE_ITEM_UPDATE, target(AUTHORISED, **own)).allowed
    refused = decide(OTHER_PRO, Action.PROFILE_ITEM_UPDATE, target(AUTHORISED, **own))
    assert (refused.allowed, refused.code) == (False, "profile-not-author")


@pytest.mark.parametrize(
    "action",
    [
        Action.PROFILE_ITEM_DELETE,
        Action.PROFILE_ITEM_MANAGE,
        Action.PROFILE_SYNTHESIS_PUBLISH,
        Action.PROFILE_MEASURE_CREATE,
        Action.PROFILE_MEASURE_UPDATE,
        Action.PROFILE_MEASURE_DELETE,
    ],
)
def test_hiding_deleting_sharing_and_measures_are_the_holders(action):
    decision = decide(PRO, action, target(AUTHORISED, **item(author_id="pro")))
    assert (decision.allowed, decision.code) == (False, "profile-holder-only")


def test_only_the_insurer_feeds_the_care_history():
    decision = decide(PRO, Action.PROFILE_CARE_HISTORY_CREATE, target(AUTHORISED, **CARE_HISTORY))
    assert (decision.allowed, decision.code) == (False, "care-history-insurer-only")


def test_a_blocked_or_closed_space_refuses_the_profile():
    blocked = Relation(care_team=True, care_team_basis="autorise", blocked=True)
    assert decide(PRO, Action.PROFILE_ITEM_READ, target(blocked, **item())).code == "blocked"
    closed = Relation(care_team=True, care_team_basis="autorise", space_open=False)
    assert (
        decide(PRO, Action.PROFILE_ITEM_CREATE, target(closed, **ALLERGIES)).code == "space-closed"
    )


def test_the_insurer_feeds_the_care_history_of_open_spaces_only():
    assert decide(
        INSURER, Action.PROFILE_CARE_HISTORY_CREATE, target(NO_RIGHT, **CARE_HISTORY)
    ).allowed
    closed = decide(
        INSURER,
        Action.PROFILE_CARE_HISTORY_CREATE,
        target(Relation(space_open=False), **CARE_HISTORY),
    )
    assert closed.code == "space-closed"
    elsewhere = decide(INSURER, Action.PROFILE_CARE_HISTORY_CREATE, target(NO_RIGHT, **ALLERGIES))
    assert not elsewhere.allowed


@pytest.mark.parametrize("action", [*READS, Action.PROFILE_ITEM_CREATE])
def test_the_insurer_reads_and_writes_nothing_else(action):
    assert not decide(INSURER, action, target(NO_RIGHT, **item())).allowed


def test_scope_gives_the_space_with_a_right_and_own_items_without():
    assert scope(PRO, Action.PROFILE_MEASURE_SEARCH, patient_id="p1", relation=AUTHORISED).rows == (
        Field("patient", "eq", "p1")
    )
    assert scope(PRO, Action.PROFILE_ITEM_SEARCH, patient_id="p1", relation=NO_RIGHT).rows == And(
        (Field("patient", "eq", "p1"), Field("author_id", "eq", "pro"))
    )
    assert scope(PRO, Action.PROFILE_MEASURE_SEARCH, patient_id="p1", relation=NO_RIGHT).is_empty
    blocked = Relation(care_team=True, care_team_basis="autorise", blocked=True)
    assert scope(PRO, Action.PROFILE_ITEM_SEARCH, patient_id="p1", relation=blocked).is_empty
