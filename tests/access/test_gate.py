"""The gate records every decision; writes are recorded in the same transaction as the change."""

import pytest

from carnet.access import gate, policy
from carnet.access.actions import Action
from carnet.access.errors import AccessDenied
from carnet.access.policy import Decision, Target
from carnet.audit.models import AuditEvent
from carnet.core.errors import NotFound
from carnet.identity.models import Holder
from carnet.identity.services import actor_for_user

pytestmark = pytest.mark.django_db


def _target(holder):
    return Target("Patient", str(holder.pk), patient_id=str(holder.pk))


def test_allowed_read_is_recorded(personas):
    actor = actor_for_user(personas.patient.user)
    grant = gate.authorize(actor, Action.IDENTITY_PATIENT_READ, _target(personas.patient))
    assert grant.decision.allowed
    row = AuditEvent.objects.filter(patient_id=personas.patient.pk).latest("seq")
    assert (row.action, row.outcome, row.actor_id) == (
        "identity:patient:read",
        "allowed",
        str(personas.patient.user.pk),
    )


def test_refusal_is_recorded_and_looks_like_not_found(personas):
    actor = actor_for_user(personas.patient.user)
    with pytest.raises(NotFound):
        gate.authorize(actor, Action.IDENTITY_PATIENT_READ, _target(personas.other_patient))
    row = AuditEvent.objects.filter(patient_id=personas.other_patient.pk).latest("seq")
    assert row.outcome == "denied"
    assert row.details["decision"] == "holder-other-space"


def test_a_revealed_refusal_raises_access_denied(personas, monkeypatch):
    actor = actor_for_user(personas.patient.user)
    refusal = Decision(allowed=False, reason="Vous êtes bloqué.", code="blocked", reveal=True)
    monkeypatch.setattr(gate.policy, "decide", lambda *args: refusal)
    with pytest.raises(AccessDenied, match="bloqué"):
        gate.authorize(actor, Action.IDENTITY_PATIENT_READ, _target(personas.patient))


def test_change_records_inside_the_write_transaction(personas):
    actor = actor_for_user(personas.patient.user)
    with gate.change(actor, Action.IDENTITY_PATIENT_UPDATE, _target(personas.patient)) as grant:
        Holder.objects.filter(pk=personas.patient.pk).update(contact_phone="0600000000")
        grant.details["field"] = "contact_phone"
    row = AuditEvent.objects.filter(patient_id=personas.patient.pk).latest("seq")
    assert row.action == "identity:patient:update"
    assert row.details == {
        "decision": "holder-own-space",
        "channel": "portal",
        "field": "contact_phone",
    }


def test_a_failed_change_leaves_neither_the_change_nor_its_event(personas):
    actor = actor_for_user(personas.patient.user)
    before = AuditEvent.objects.count()

    def failing_write():
        with gate.change(actor, Action.IDENTITY_PATIENT_UPDATE, _target(personas.patient)):
            Holder.objects.filter(pk=personas.patient.pk).update(contact_phone="0611111111")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        failing_write()
    assert AuditEvent.objects.count() == before
    assert Holder.objects.get(pk=personas.patient.pk).contact_phone == ""


def test_a_refused_change_is_recorded_and_changes_nothing(personas):
    actor = actor_for_user(personas.patient.user)
    with (
        pytest.raises(NotFound),
        gate.change(actor, Action.IDENTITY_PATIENT_UPDATE, _target(personas.other_patient)),
    ):
        pytest.fail("the body of a refused change must not run")
    assert AuditEvent.objects.filter(
        patient_id=personas.other_patient.pk, outcome="denied"
    ).exists()


def test_visible_filters_to_the_actor_spaces_and_records_the_search(personas):
    actor = actor_for_user(personas.parent)
    rows = gate.visible(
        actor, Action.IDENTITY_PATIENT_SEARCH, Holder.objects.all(), patient_field="id"
    )
    assert set(rows) == {personas.minor, Holder.objects.get(user=personas.parent)}
    assert AuditEvent.objects.filter(
        action="identity:patient:search", actor_id=str(personas.parent.pk)
    ).exists()


def test_visible_gives_nothing_to_an_actor_without_rule(personas):
    from carnet.identity.services import actor_for_professional

    actor = actor_for_professional(personas.doctor, channel="api")
    rows = gate.visible(
        actor, Action.IDENTITY_PATIENT_SEARCH, Holder.objects.all(), patient_field="id"
    )
    assert list(rows) == []
    assert AuditEvent.objects.filter(action="identity:patient:search", outcome="denied").exists()


def test_a_missing_row_gets_the_same_refusal_as_a_forbidden_one(personas):
    actor = actor_for_user(personas.patient.user)
    with pytest.raises(NotFound) as missing:
        gate.refuse_missing(actor, Action.IDENTITY_PATIENT_READ, "Patient", "x" * 300)
    with pytest.raises(NotFound) as forbidden:
        gate.authorize(actor, Action.IDENTITY_PATIENT_READ, _target(personas.other_patient))
    assert str(missing.value) == str(forbidden.value)
    row = AuditEvent.objects.get(patient_id__isnull=True, resource_id="x" * 100)
    assert (row.outcome, row.reason) == ("denied", policy.NO_TARGET)
