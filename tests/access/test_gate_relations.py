"""The gate completes each decision with the facts of the database: the professional's relation
to the space (rights, blocks, oppositions, first access), records it, notifies the holder of a
first or emergency access, and compiles list filters into SQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import time_machine

from carnet.access import facts, gate, policy
from carnet.access import services as access
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.access.errors import AccessDenied
from carnet.access.models import CareTeamMember
from carnet.audit.models import AuditEvent
from carnet.core import clock
from carnet.core.errors import NotFound
from carnet.documents.models import DocumentEntry
from carnet.identity.models import Holder, SpaceStatus
from carnet.notifications.kinds import NotificationKind
from carnet.notifications.models import Notification
from tests.access.helpers import document_entry, holder_actor, pro_actor

pytestmark = pytest.mark.django_db


def _identity(holder):
    return policy.Target("Patient", str(holder.pk), patient_id=str(holder.pk))


def _last_event(holder):
    return AuditEvent.objects.filter(patient_id=holder.pk).latest("seq")


def _notices(holder, kind):
    return Notification.objects.filter(patient_id=holder.pk, kind=kind)


def test_the_medecin_traitant_reads_and_the_first_access_is_notified_once(personas):
    doctor = pro_actor(personas.doctor)
    grant = gate.authorize(doctor, Action.IDENTITY_PATIENT_READ, _identity(personas.patient))
    assert grant.decision.code == "medecin-traitant"
    assert grant.target.relation.medecin_traitant
    event = _last_event(personas.patient)
    assert (event.outcome, event.mode, event.actor_profession) == ("allowed", "normal", "10")
    assert event.details["obligations"] == [policy.NOTIFY_FIRST_ACCESS]
    assert event.details["channel"] == "api"
    assert _notices(personas.patient, NotificationKind.FIRST_ACCESS).count() == 1
    again = gate.authorize(doctor, Action.IDENTITY_PATIENT_READ, _identity(personas.patient))
    assert again.decision.obligations == frozenset()
    assert _notices(personas.patient, NotificationKind.FIRST_ACCESS).count() == 1


def test_a_blocked_professional_is_told_and_the_refusal_is_traced(personas):
    access.block_professional(
        holder_actor(personas.patient),
        patient_id=str(personas.patient.pk),
        professional_id=str(personas.doctor.pk),
    )
    with pytest.raises(AccessDenied, match="bloqué"):
        gate.authorize(
            pro_actor(personas.doctor), Action.IDENTITY_PATIENT_READ, _identity(personas.patient)
        )
    event = _last_event(personas.patient)
    assert (event.outcome, event.details["decision"]) == ("denied", "blocked")
    assert not _notices(personas.patient, NotificationKind.FIRST_ACCESS).exists()


def test_an_unrelated_professional_gets_a_404(personas):
    with pytest.raises(NotFound):
        gate.authorize(
            pro_actor(personas.unrelated_pro),
            Action.IDENTITY_PATIENT_READ,
            _identity(personas.patient),
        )
    assert _last_event(personas.patient).details["decision"] == "no-right"


def test_break_glass_is_traced_with_its_reason_and_notified_once_a_day(personas):
    urgent = pro_actor(personas.emergency_doctor, PurposeOfUse.BREAK_GLASS, "coma, chute")
    gate.authorize(urgent, Action.IDENTITY_PATIENT_READ, _identity(personas.patient))
    event = _last_event(personas.patient)
    assert (event.mode, event.details["emergency_reason"]) == ("bris_de_glace", "coma, chute")
    gate.authorize(urgent, Action.IDENTITY_PATIENT_READ, _identity(personas.patient))
    assert _notices(personas.patient, NotificationKind.EMERGENCY_ACCESS).count() == 1
    with time_machine.travel(clock.now() + dt.timedelta(days=1)):
        gate.authorize(urgent, Action.IDENTITY_PATIENT_READ, _identity(personas.patient))
    assert _notices(personas.patient, NotificationKind.EMERGENCY_ACCESS).count() == 2


def test_an_opposed_emergency_is_told_and_traced_in_its_mode(personas):
    access.update_access_settings(
        holder_actor(personas.patient),
        patient_id=str(personas.patient.pk),
        break_glass_opposed=True,
        centre_15_opposed=True,
        mask_all=False,
    )
    samu = pro_actor(personas.emergency_doctor, PurposeOfUse.CENTRE_15)
    with pytest.raises(AccessDenied, match="centre 15"):
        gate.authorize(samu, Action.IDENTITY_PATIENT_READ, _identity(personas.patient))
    event = _last_event(personas.patient)
    assert (event.outcome, event.mode) == ("denied", "centre_15")
    assert not _notices(personas.patient, NotificationKind.EMERGENCY_ACCESS).exists()


def test_visible_filters_documents_with_the_same_rules(personas):
    patient = personas.patient
    shown = document_entry(patient)
    masked = document_entry(patient, masked=True)
    psychiatric = document_entry(patient, type_code="68599-0")
    elsewhere = document_entry(personas.other_patient)
    nurse = pro_actor(personas.unrelated_pro)
    access.authorise_professional(
        holder_actor(patient),
        patient_id=str(patient.pk),
        professional_id=str(personas.unrelated_pro.pk),
    )
    rows = gate.visible(
        nurse,
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        DocumentEntry.objects.all(),
        searched_patient_id=str(patient.pk),
    )
    assert set(rows) == {shown}
    doctor_rows = gate.visible(
        pro_actor(personas.doctor),
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        DocumentEntry.objects.all(),
        searched_patient_id=str(patient.pk),
    )
    assert set(doctor_rows) == {shown, masked, psychiatric}
    assert elsewhere not in set(doctor_rows)
    event = _last_event(patient)
    assert (event.action, event.outcome, event.resource_type) == (
        "documents:document:search",
        "allowed",
        "DocumentEntry",
    )


def test_a_blocked_professional_searching_is_told_after_the_refusal_is_traced(personas):
    patient = personas.patient
    document_entry(patient, author_professional=personas.doctor)
    access.block_professional(
        holder_actor(patient), patient_id=str(patient.pk), professional_id=str(personas.doctor.pk)
    )
    with pytest.raises(AccessDenied):
        gate.visible(
            pro_actor(personas.doctor),
            Action.DOCUMENTS_DOCUMENT_SEARCH,
            DocumentEntry.objects.all(),
            searched_patient_id=str(patient.pk),
        )
    assert _last_event(patient).outcome == "denied"


def test_a_professional_without_a_right_finds_only_what_they_wrote(personas):
    patient = personas.patient
    mine = document_entry(patient, author_professional=personas.unrelated_pro)
    document_entry(patient)
    rows = gate.visible(
        pro_actor(personas.unrelated_pro),
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        DocumentEntry.objects.all(),
        searched_patient_id=str(patient.pk),
    )
    assert list(rows) == [mine]
    assert _last_event(patient).details["decision"] == "author-only"


def test_compiled_filters_never_fail_on_odd_values():
    rows = policy.And(
        (
            policy.Field("author_professional_id", "eq", "not-a-uuid"),
            policy.Field("type_code", "in", ("11488-4",)),
        )
    )
    assert str(gate.compile_filter(rows, DocumentEntry, "patient_id")) == str(
        gate.compile_filter(policy.Field("nope", "eq", 1), DocumentEntry, "patient_id")
        & gate.compile_filter(policy.Field("type_code", "in", ("11488-4",)), DocumentEntry, "x")
    )
    # A reverse relation is not a column: nothing matches.
    assert str(
        gate.compile_filter(policy.Field("replaced_by", "eq", 1), DocumentEntry, "x")
    ) == str(gate.compile_filter(False, DocumentEntry, "x"))
    assert str(gate.compile_filter(True, DocumentEntry, "x")) == "(AND: )"


def test_compiled_filters_match_nothing_for_a_malformed_id(personas):
    document_entry(personas.patient, author_professional=personas.doctor)
    rows = DocumentEntry.objects.filter(
        gate.compile_filter(
            policy.Or(
                (
                    policy.Field("author_professional_id", "eq", "not-a-uuid"),
                    policy.Field("author_professional_id", "in", ("nope",)),
                )
            ),
            DocumentEntry,
            "patient_id",
        )
    )
    assert list(rows) == []


def test_precheck_completes_the_target_before_deciding(personas):
    closed = personas.other_patient
    Holder.objects.filter(pk=closed.pk).update(space_status=SpaceStatus.CLOSED)
    with pytest.raises(NotFound):
        gate.precheck(
            pro_actor(personas.doctor),
            Action.DOCUMENTS_DOCUMENT_CREATE,
            policy.Target("DocumentReference", patient_id=str(closed.pk)),
        )
    grant = gate.precheck(
        pro_actor(personas.doctor),
        Action.DOCUMENTS_DOCUMENT_CREATE,
        policy.Target("DocumentReference", patient_id=str(personas.patient.pk)),
    )
    assert grant.decision.code == "deposit"
    assert grant.target.relation is not None


def test_the_insurer_deposits_into_open_spaces_only(personas):
    insurer = Actor(kind=ActorKind.SYSTEM, id="issuer:1", label="Assurance Maladie")
    target = policy.Target("DocumentReference", patient_id=str(personas.patient.pk))
    assert gate.precheck(insurer, Action.DOCUMENTS_DOCUMENT_CREATE, target).decision.allowed
    with pytest.raises(NotFound):
        gate.authorize(insurer, Action.DOCUMENTS_DOCUMENT_READ, target)


def test_simulate_records_nothing(personas):
    before = AuditEvent.objects.count()
    decision = gate.simulate(
        pro_actor(personas.unrelated_pro),
        Action.DOCUMENTS_DOCUMENT_READ,
        policy.Target(
            "DocumentReference",
            patient_id=str(personas.patient.pk),
            relation=policy.Relation(care_team=True, care_team_basis="autorise"),
            document=policy.DocumentFacts("11488-4", "10"),
        ),
    )
    assert decision.allowed
    assert AuditEvent.objects.count() == before


# --- facts.load_relation ----------------------------------------------------------------------


def test_relations_of_unknown_spaces_holders_and_odd_actor_ids(personas):
    now = clock.now()
    assert facts.load_relation(pro_actor(personas.doctor), str(uuid.uuid4()), now=now) is None
    assert (
        facts.load_relation(holder_actor(personas.patient), str(personas.patient.pk), now=now)
        is None
    )
    odd = Actor(kind=ActorKind.PROFESSIONAL, id="not-a-uuid", profession="10")
    relation = facts.load_relation(odd, str(personas.patient.pk), now=now)
    assert relation == policy.Relation(space_open=True)


def test_rights_count_only_between_their_dates(personas):
    patient, nurse = personas.patient, personas.unrelated_pro
    now = clock.now()
    right = CareTeamMember.objects.create(
        patient=patient,
        professional=nurse,
        basis="autorise",
        started_at=now + dt.timedelta(hours=1),
        created_by_kind="holder",
        created_by_id="test",
    )
    relation = facts.load_relation(pro_actor(nurse), str(patient.pk), now=now)
    assert (relation.care_team, relation.right_expired) == (False, False)
    right.started_at = now - dt.timedelta(days=2)
    right.expires_at = now - dt.timedelta(days=1)
    right.save()
    relation = facts.load_relation(pro_actor(nurse), str(patient.pk), now=now)
    assert (relation.care_team, relation.right_expired) == (False, True)
    right.ended_at = now
    right.save()
    relation = facts.load_relation(pro_actor(nurse), str(patient.pk), now=now)
    assert relation.right_expired is False


def test_the_strongest_basis_names_the_relation(personas):
    patient = personas.patient
    access.declare_consent(
        pro_actor(personas.doctor), matricule=patient.ins_matricule, oid=patient.ins_oid
    )
    relation = facts.load_relation(pro_actor(personas.doctor), str(patient.pk), now=clock.now())
    assert (relation.medecin_traitant, relation.care_team_basis) == (True, "medecin_traitant")
