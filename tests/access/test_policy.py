"""The pure decision, rule by rule: holders, professionals (rights, blocks, masking, emergency,
authors, deposits), the system, and `scope` as the same rules for lists."""

import datetime as dt

import pytest

from carnet.access.actions import Action
from carnet.access.actors import ANONYMOUS, Actor, ActorKind, PurposeOfUse
from carnet.access.policy import (
    NOTIFY_EMERGENCY,
    NOTIFY_FIRST_ACCESS,
    And,
    DocumentFacts,
    Field,
    Or,
    Relation,
    Target,
    all_of,
    any_of,
    decide,
    readable_types,
    scope,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
HOLDER = Actor(kind=ActorKind.HOLDER, id="u1", own_patient_ids=frozenset({"p1"}))
PARENT = Actor(
    kind=ActorKind.HOLDER,
    id="u2",
    own_patient_ids=frozenset({"p2"}),
    represented_patient_ids=frozenset({"p3"}),
)
PRO = Actor(
    kind=ActorKind.PROFESSIONAL,
    id="pro",
    profession="10",
    rpps="10000000015",
    organisation="1750000001",
)
NURSE = Actor(kind=ActorKind.PROFESSIONAL, id="nurse", profession="60")
SYSTEM = Actor(kind=ActorKind.SYSTEM, id="insurer")
OPEN = Relation()
AUTHORISED = Relation(care_team=True, care_team_basis="autorise")
PROFESSIONAL_ONLY = {Action.ACCESS_CONSENT_CREATE}


def doc(type_code="11488-4", **facts):
    return DocumentFacts(type_code, "10", **facts)


def target(patient_id="p1", *, relation=None, document=None, now=NOW):
    return Target(
        "DocumentReference",
        resource_id="d1",
        patient_id=patient_id,
        relation=relation,
        document=document,
        now=now,
    )


def emergency(actor, purpose, reason="patient inconscient"):
    from dataclasses import replace

    return replace(actor, purpose_of_use=purpose, emergency_reason=reason)


# --- Holders ------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [a for a in Action if a not in PROFESSIONAL_ONLY])
def test_holder_acts_on_own_space(action):
    decision = decide(HOLDER, action, target())
    assert decision.allowed
    assert decision.code == "holder-own-space"
    assert decision.obligations == frozenset()


@pytest.mark.parametrize("action", list(Action))
def test_holder_cannot_act_on_another_space(action):
    decision = decide(HOLDER, action, target("p2"))
    assert not decision.allowed
    assert not decision.reveal


def test_representative_acts_on_the_represented_space():
    decision = decide(PARENT, Action.IDENTITY_PATIENT_READ, target("p3"))
    assert decision.allowed
    assert decision.code == "legal-representative"


def test_declaring_consent_is_for_professionals_and_the_holder_is_told():
    decision = decide(HOLDER, Action.ACCESS_CONSENT_CREATE, target())
    assert (decision.allowed, decision.code, decision.reveal) == (False, "professionals-only", True)


def test_a_document_invisible_to_the_patient_is_hidden_until_its_date():
    hidden = doc(invisible_to_patient=True, invisible_until=NOW + dt.timedelta(days=1))
    released = doc(invisible_to_patient=True, invisible_until=NOW - dt.timedelta(seconds=1))
    forever = doc(invisible_to_patient=True)
    for document in (hidden, forever):
        decision = decide(HOLDER, Action.DOCUMENTS_DOCUMENT_READ, target(document=document))
        assert (decision.allowed, decision.code) == (False, "invisible-to-patient")
        assert not decision.reveal
    assert decide(HOLDER, Action.DOCUMENTS_DOCUMENT_READ, target(document=released)).allowed
    # Without a clock reading the document stays hidden (deny by default).
    no_clock = target(document=released, now=None)
    assert not decide(HOLDER, Action.DOCUMENTS_DOCUMENT_READ, no_clock).allowed


def test_a_document_invisible_to_representatives_is_hidden_from_them_only():
    secret = doc(invisible_to_representatives=True)
    assert not decide(PARENT, Action.DOCUMENTS_DOCUMENT_READ, target("p3", document=secret)).allowed
    minor = Actor(kind=ActorKind.HOLDER, id="u3", own_patient_ids=frozenset({"p3"}))
    assert decide(minor, Action.DOCUMENTS_DOCUMENT_READ, target("p3", document=secret)).allowed


def test_a_deleted_document_is_read_by_nobody():
    deleted = doc(status="entered-in-error", author_professional_id="pro")
    for actor, relation in ((HOLDER, None), (PRO, Relation(medecin_traitant=True))):
        decision = decide(
            actor, Action.DOCUMENTS_DOCUMENT_READ, target(relation=relation, document=deleted)
        )
        assert (decision.allowed, decision.code) == (False, "document-unavailable")
    for action in (Action.DOCUMENTS_DOCUMENT_UPDATE, Action.DOCUMENTS_DOCUMENT_DELETE):
        assert not decide(PRO, action, target(relation=OPEN, document=deleted)).allowed
    superseded = doc(status="superseded")
    assert decide(HOLDER, Action.DOCUMENTS_DOCUMENT_READ, target(document=superseded)).allowed


def test_the_holder_deletes_only_what_they_added():
    theirs = doc(author_professional_id="pro")
    refusal = decide(HOLDER, Action.DOCUMENTS_DOCUMENT_DELETE, target(document=theirs))
    assert (refusal.allowed, refusal.reveal) == (False, True)
    mine = doc(type_code="DOCPAT03", deposited_by_holder=True)
    assert decide(HOLDER, Action.DOCUMENTS_DOCUMENT_DELETE, target(document=mine)).allowed
    # Masking (an update) is the holder's on any document they can see.
    assert decide(HOLDER, Action.DOCUMENTS_DOCUMENT_UPDATE, target(document=theirs)).allowed


# --- Everyone else is denied by default ----------------------------------------------------------


@pytest.mark.parametrize("actor", [PRO, SYSTEM, ANONYMOUS])
@pytest.mark.parametrize("action", list(Action))
def test_other_actors_without_a_relation_are_denied(actor, action):
    decision = decide(actor, action, target())
    assert not decision.allowed
    assert not decision.reveal
    assert decision.code in {"no-rule", "no-right"}


@pytest.mark.parametrize(
    "action",
    [
        a
        for a in Action
        if a
        not in {
            Action.ACCESS_CONSENT_CREATE,
            Action.DOCUMENTS_DOCUMENT_CREATE,
            Action.DOCUMENTS_DOCUMENT_SEARCH,
            Action.PROFILE_ITEM_SEARCH,
        }
    ],
)
def test_a_professional_without_a_right_gets_nothing_but_deposits_consent_and_own_documents(
    action,
):
    assert not decide(PRO, action, target(relation=OPEN, document=doc())).allowed


def test_a_missing_target_is_denied_even_for_a_holder():
    decision = decide(HOLDER, Action.IDENTITY_PATIENT_READ, target(None))
    assert (decision.allowed, decision.code) == (False, "no-target")


# --- Professionals: deposits, consent declarations, authors ---------------------------------------


def test_a_professional_may_deposit_but_not_read_what_others_wrote():
    assert decide(PRO, Action.DOCUMENTS_DOCUMENT_CREATE, target(relation=OPEN)).allowed
    theirs = target(relation=OPEN, document=doc(author_professional_id="other"))
    mine = target(relation=OPEN, document=doc(author_professional_id="pro"))
    assert not decide(PRO, Action.DOCUMENTS_DOCUMENT_READ, theirs).allowed
    assert decide(PRO, Action.DOCUMENTS_DOCUMENT_READ, mine).code == "author"
    closed = target(relation=Relation(space_open=False))
    assert decide(PRO, Action.DOCUMENTS_DOCUMENT_CREATE, closed).code == "space-closed"
    blocked = decide(PRO, Action.DOCUMENTS_DOCUMENT_CREATE, target(relation=Relation(blocked=True)))
    assert (blocked.allowed, blocked.code, blocked.reveal) == (False, "blocked", True)


def test_the_insurer_only_deposits_into_open_spaces_and_other_jobs_do_nothing():
    insurer = Actor(kind=ActorKind.SYSTEM, id="issuer:1")
    assert decide(insurer, Action.DOCUMENTS_DOCUMENT_CREATE, target(relation=OPEN)).allowed
    closed = target(relation=Relation(space_open=False))
    assert not decide(insurer, Action.DOCUMENTS_DOCUMENT_CREATE, closed).allowed
    assert not decide(insurer, Action.DOCUMENTS_DOCUMENT_READ, target(relation=OPEN)).allowed
    for action in Action:
        assert decide(SYSTEM, action, target(relation=OPEN)).code == "no-rule"


def test_a_professional_declares_consent_unless_blocked():
    allowed = decide(PRO, Action.ACCESS_CONSENT_CREATE, target(relation=OPEN))
    assert (allowed.allowed, allowed.mode) == (True, "consentement_declare")
    blocked = decide(PRO, Action.ACCESS_CONSENT_CREATE, target(relation=Relation(blocked=True)))
    assert (blocked.allowed, blocked.reveal) == (False, True)


def test_authors_and_their_organisation_update_and_delete_documents():
    for action in (Action.DOCUMENTS_DOCUMENT_UPDATE, Action.DOCUMENTS_DOCUMENT_DELETE):
        own = doc(author_professional_id="pro")
        colleague = doc(author_professional_id="other", author_organisation="1750000001")
        stranger = doc(author_professional_id="other", author_organisation="1990000001")
        assert decide(PRO, action, target(relation=OPEN, document=own)).allowed
        assert decide(PRO, action, target(relation=OPEN, document=colleague)).allowed
        assert decide(PRO, action, target(relation=OPEN, document=stranger)).code == "not-author"
        assert decide(PRO, action, target(relation=OPEN)).code == "no-document"


def test_a_read_without_document_facts_is_refused():
    assert decide(PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=AUTHORISED)).code == (
        "no-document"
    )


# --- Professionals: rights, matrix, masking -------------------------------------------------------


@pytest.mark.parametrize(
    ("relation", "code", "mode"),
    [
        (Relation(care_team=True, medecin_traitant=True), "medecin-traitant", "normal"),
        (AUTHORISED, "care-team-authorised", "normal"),
        (
            Relation(care_team=True, care_team_basis="consentement_declare"),
            "consent-declared",
            "consentement_declare",
        ),
    ],
)
def test_each_right_lets_a_professional_read_within_the_matrix(relation, code, mode):
    decision = decide(
        PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=relation, document=doc())
    )
    assert (decision.allowed, decision.code, decision.mode) == (True, code, mode)
    assert "la matrice d'habilitations autorise les médecins" in decision.reason.lower()


def test_the_matrix_refuses_what_a_profession_may_not_read():
    # Nurses may not read a synthèse psychiatrique (68599-0) whatever their right.
    decision = decide(
        NURSE, Action.DOCUMENTS_DOCUMENT_READ, target(relation=AUTHORISED, document=doc("68599-0"))
    )
    assert (decision.allowed, decision.code) == (False, "matrix")
    assert "n'autorise pas les infirmiers" in decision.reason
    unknown = decide(
        PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=AUTHORISED, document=doc("XYZ"))
    )
    assert (unknown.allowed, unknown.code) == (False, "matrix")
    stray = decide(
        PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=AUTHORISED, document=doc(" 11488-4"))
    )
    assert not stray.allowed  # the list filter would not show it either


def test_a_masked_document_is_read_by_author_organisation_medecin_traitant_and_extended_rights():
    masked = doc(masked=True, author_organisation="1990000001")
    for relation, allowed in (
        (AUTHORISED, False),
        (Relation(care_team=True, medecin_traitant=True), True),
        (Relation(care_team=True, care_team_basis="autorise", extended_rights=True), True),
    ):
        decision = decide(
            PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=relation, document=masked)
        )
        assert decision.allowed is allowed
        assert decision.reveal is False
    same_organisation = doc(masked=True, author_organisation=PRO.organisation)
    assert decide(
        PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=AUTHORISED, document=same_organisation)
    ).allowed
    refusal = decide(
        PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=AUTHORISED, document=masked)
    )
    assert refusal.code == "masked"
    assert refusal.reason.startswith("Document masqué par le titulaire")


def test_masking_everything_masks_every_document_including_in_emergencies():
    relation = Relation(care_team=True, care_team_basis="autorise", mask_all=True)
    refusal = decide(PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=relation, document=doc()))
    assert refusal.code == "masked"
    assert "masqué tous ses documents, y compris en cas d'urgence" in refusal.reason
    urgent = emergency(PRO, PurposeOfUse.BREAK_GLASS)
    assert not decide(
        urgent,
        Action.DOCUMENTS_DOCUMENT_READ,
        target(relation=Relation(mask_all=True), document=doc()),
    ).allowed
    treating = Relation(care_team=True, medecin_traitant=True, mask_all=True)
    assert decide(
        PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=treating, document=doc())
    ).allowed


def test_a_blocked_professional_is_refused_everything_whatever_their_rights():
    relation = Relation(blocked=True, care_team=True, medecin_traitant=True, extended_rights=True)
    for actor in (
        PRO,
        emergency(PRO, PurposeOfUse.BREAK_GLASS),
        emergency(PRO, PurposeOfUse.CENTRE_15),
    ):
        for action in Action:
            document = doc(author_professional_id="pro")
            decision = decide(actor, action, target(relation=relation, document=document))
            assert (decision.allowed, decision.code, decision.reveal) == (False, "blocked", True)


def test_a_closed_space_is_refused_without_saying_why():
    decision = decide(
        PRO, Action.DOCUMENTS_DOCUMENT_READ, target(relation=Relation(space_open=False))
    )
    assert (decision.allowed, decision.code, decision.reveal) == (False, "space-closed", False)


def test_an_expired_right_is_told_to_the_professional():
    decision = decide(
        PRO, Action.IDENTITY_PATIENT_READ, target(relation=Relation(right_expired=True))
    )
    assert (decision.allowed, decision.code, decision.reveal) == (False, "right-expired", True)


def test_a_professional_with_a_right_reads_the_identity_and_the_first_time_is_notified():
    first = Relation(care_team=True, care_team_basis="autorise", first_access=True)
    decision = decide(PRO, Action.IDENTITY_PATIENT_READ, target(relation=first))
    assert decision.allowed
    assert decision.obligations == {NOTIFY_FIRST_ACCESS}
    again = decide(PRO, Action.IDENTITY_PATIENT_READ, target(relation=AUTHORISED))
    assert again.obligations == frozenset()
    assert not decide(PRO, Action.IDENTITY_PATIENT_UPDATE, target(relation=AUTHORISED)).allowed


# --- Emergency -----------------------------------------------------------------------------------


def test_break_glass_needs_a_reason_and_no_opposition_and_is_notified():
    urgent = emergency(PRO, PurposeOfUse.BREAK_GLASS)
    allowed = decide(urgent, Action.DOCUMENTS_DOCUMENT_READ, target(relation=OPEN, document=doc()))
    assert (allowed.allowed, allowed.mode) == (True, "bris_de_glace")
    assert NOTIFY_EMERGENCY in allowed.obligations
    silent = emergency(PRO, PurposeOfUse.BREAK_GLASS, reason="  ")
    refusal = decide(silent, Action.DOCUMENTS_DOCUMENT_READ, target(relation=OPEN, document=doc()))
    assert (refusal.code, refusal.reveal, refusal.mode) == (
        "break-glass-reason-missing",
        True,
        "bris_de_glace",
    )
    opposed = decide(
        urgent,
        Action.DOCUMENTS_DOCUMENT_READ,
        target(relation=Relation(break_glass_opposed=True), document=doc()),
    )
    assert (opposed.code, opposed.reveal) == ("break-glass-opposed", True)
    # The other emergency opposition does not stop break-glass.
    other = decide(
        urgent,
        Action.DOCUMENTS_DOCUMENT_READ,
        target(relation=Relation(centre_15_opposed=True), document=doc()),
    )
    assert other.allowed


def test_centre_15_is_for_regulating_physicians_unless_opposed():
    samu = emergency(PRO, PurposeOfUse.CENTRE_15, reason="")
    allowed = decide(samu, Action.DOCUMENTS_DOCUMENT_READ, target(relation=OPEN, document=doc()))
    assert (allowed.allowed, allowed.mode, allowed.obligations) == (
        True,
        "centre_15",
        frozenset({NOTIFY_EMERGENCY}),
    )
    nurse = emergency(NURSE, PurposeOfUse.CENTRE_15)
    refusal = decide(nurse, Action.DOCUMENTS_DOCUMENT_READ, target(relation=OPEN, document=doc()))
    assert (refusal.code, refusal.reveal) == ("centre-15-physicians-only", True)
    opposed = decide(
        samu,
        Action.DOCUMENTS_DOCUMENT_READ,
        target(relation=Relation(centre_15_opposed=True), document=doc()),
    )
    assert (opposed.code, opposed.reveal) == ("centre-15-opposed", True)


def test_emergency_access_does_not_lift_a_mask_nor_the_matrix():
    urgent = emergency(NURSE, PurposeOfUse.BREAK_GLASS)
    masked = decide(
        urgent, Action.DOCUMENTS_DOCUMENT_READ, target(relation=OPEN, document=doc(masked=True))
    )
    assert (masked.code, masked.mode) == ("masked", "bris_de_glace")
    psychiatric = decide(
        urgent, Action.DOCUMENTS_DOCUMENT_READ, target(relation=OPEN, document=doc("68599-0"))
    )
    assert (psychiatric.code, psychiatric.mode) == ("matrix", "bris_de_glace")


def test_an_emergency_mode_is_judged_as_declared_even_for_the_medecin_traitant():
    relation = Relation(care_team=True, medecin_traitant=True, break_glass_opposed=True)
    urgent = emergency(PRO, PurposeOfUse.BREAK_GLASS)
    assert decide(urgent, Action.IDENTITY_PATIENT_READ, target(relation=relation)).code == (
        "break-glass-opposed"
    )
    assert decide(PRO, Action.IDENTITY_PATIENT_READ, target(relation=relation)).allowed


# --- Searches and scope ---------------------------------------------------------------------------


def test_a_search_without_a_right_shows_the_professionals_own_documents_only():
    expired = decide(
        PRO, Action.DOCUMENTS_DOCUMENT_SEARCH, target(relation=Relation(right_expired=True))
    )
    assert (expired.allowed, expired.code) == (True, "author-only")
    decision = decide(PRO, Action.DOCUMENTS_DOCUMENT_SEARCH, target(relation=OPEN))
    assert (decision.allowed, decision.code, decision.obligations) == (
        True,
        "author-only",
        frozenset(),
    )
    rows = scope(PRO, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p1", relation=OPEN).rows
    assert rows == And(
        (
            Field("patient", "eq", "p1"),
            Field("status", "in", ("current", "superseded")),
            Field("author_professional_id", "eq", "pro"),
        )
    )


def test_a_search_refusal_the_professional_may_know_is_told():
    urgent = emergency(PRO, PurposeOfUse.BREAK_GLASS)
    opposed = Relation(break_glass_opposed=True)
    decision = decide(urgent, Action.DOCUMENTS_DOCUMENT_SEARCH, target(relation=opposed))
    assert (decision.allowed, decision.reveal) == (False, True)
    first = decide(
        PRO,
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        target(relation=Relation(care_team=True, care_team_basis="autorise", first_access=True)),
    )
    assert first.obligations == {NOTIFY_FIRST_ACCESS}


def test_scope_of_a_professional_with_a_right_combines_authorship_mask_and_matrix():
    rows = scope(PRO, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p1", relation=AUTHORISED).rows
    assert isinstance(rows, And)
    space, _status, readable = rows.parts
    assert space == Field("patient", "eq", "p1")
    assert isinstance(readable, Or)
    authored, shown = readable.parts
    assert authored == Field("author_professional_id", "eq", "pro")
    assert isinstance(shown, And)
    mask, matrix_ok = shown.parts
    assert mask == Or(
        (Field("masked", "eq", False), Field("author_organisation", "eq", PRO.organisation))
    )
    assert matrix_ok == Field("type_code", "in", tuple(sorted(readable_types("10"))))
    treating = Relation(care_team=True, medecin_traitant=True)
    rows = scope(PRO, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p1", relation=treating).rows
    assert "masked" not in repr(rows)
    everything_masked = Relation(care_team=True, care_team_basis="autorise", mask_all=True)
    rows = scope(
        NURSE, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p1", relation=everything_masked
    ).rows
    assert rows == And(
        (
            Field("patient", "eq", "p1"),
            Field("status", "in", ("current", "superseded")),
            Field("author_professional_id", "eq", "nurse"),
        )
    )


def test_scope_is_empty_for_blocked_closed_unknown_and_unrelated_actors():
    for relation in (Relation(blocked=True), Relation(space_open=False)):
        assert scope(
            PRO, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p1", relation=relation
        ).is_empty
    assert scope(PRO, Action.DOCUMENTS_DOCUMENT_SEARCH).is_empty  # no searched space
    assert scope(SYSTEM, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p1", relation=OPEN).is_empty
    assert scope(ANONYMOUS, Action.IDENTITY_PATIENT_SEARCH).is_empty
    unknown_profession = Actor(kind=ActorKind.PROFESSIONAL, id="", profession="35")
    assert scope(
        unknown_profession, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p1", relation=AUTHORISED
    ).is_empty


def test_scope_of_other_lists_is_the_space_when_the_right_holds():
    assert scope(
        PRO, Action.IDENTITY_PATIENT_SEARCH, patient_id="p1", relation=AUTHORISED
    ).rows == (Field("patient", "eq", "p1"))
    assert scope(PRO, Action.IDENTITY_PATIENT_SEARCH, patient_id="p1", relation=OPEN).is_empty
    assert scope(PRO, Action.AUDIT_TRACE_READ, patient_id="p1", relation=AUTHORISED).is_empty


def test_scope_of_a_holder_is_their_spaces_and_hides_invisible_documents():
    assert scope(PARENT, Action.IDENTITY_PATIENT_SEARCH).rows == Field(
        "patient", "in", ("p2", "p3")
    )
    rows = scope(PARENT, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id="p3", now=NOW).rows
    assert isinstance(rows, Or)
    own, represented = rows.parts
    assert Field("patient", "in", ("p2",)) in own.parts
    assert Field("invisible_to_representatives", "eq", False) in represented.parts
    assert Or(
        (Field("invisible_to_patient", "eq", False), Field("invisible_until", "lte", NOW))
    ) in (own.parts)
    without_clock = scope(HOLDER, Action.DOCUMENTS_DOCUMENT_SEARCH).rows
    assert Field("invisible_to_patient", "eq", False) in without_clock.parts
    assert scope(Actor(kind=ActorKind.HOLDER, id="x"), Action.IDENTITY_PATIENT_SEARCH).is_empty


def test_filters_simplify():
    a, b = Field("a", "eq", 1), Field("b", "eq", 2)
    assert all_of() is True
    assert all_of(True, a) == a
    assert all_of(a, False) is False
    assert all_of(a, b) == And((a, b))
    assert any_of() is False
    assert any_of(False, a) == a
    assert any_of(a, True) is True
    assert any_of(a, b) == Or((a, b))
    assert all_of(And((a, b)), a) == And((a, b, a))
    assert any_of(Or((a, b)), a) == Or((a, b, a))


def test_write_actions_are_flagged():
    assert Action.IDENTITY_PATIENT_UPDATE.is_write
    assert Action.DOCUMENTS_DOCUMENT_CREATE.is_write
    assert not Action.IDENTITY_PATIENT_READ.is_write
    assert list(Action) == sorted(Action, key=lambda a: a.name)  # alphabetised
