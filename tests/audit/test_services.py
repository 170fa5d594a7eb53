"""The audit services beyond the chain: a concurrent append retried, the registry's own checks,
the raw per-patient query, the read-only admin, and the triggers put back after a flush."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import pytest
from django.contrib import admin
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import RequestFactory

from carnet.audit import chain, services, triggers
from carnet.audit.admin import AuditEventAdmin
from carnet.audit.models import AuditEvent, ChainHead
from carnet.core import clock

pytestmark = pytest.mark.django_db


def _event(patient_id=None):
    return services.EventData(
        actor_kind="professional",
        actor_id="pro",
        action="identity:patient:read",
        outcome="allowed",
        patient_id=patient_id,
    )


def test_an_append_that_lost_a_race_is_retried(monkeypatch):
    real = services._append
    calls = []

    def racing(event):
        calls.append(event)
        if len(calls) == 1:
            raise IntegrityError("duplicate (chain, seq)")
        return real(event)

    monkeypatch.setattr(services, "_append", racing)
    row = services.record(_event())
    assert (len(calls), row.seq) == (2, 1)


def test_an_append_that_keeps_failing_is_not_hidden(monkeypatch):
    def always(event):
        raise IntegrityError("duplicate (chain, seq)")

    monkeypatch.setattr(services, "_append", always)
    with pytest.raises(IntegrityError):
        services.record(_event())


def test_a_missing_head_and_an_emptied_chain_are_reported():
    first, second = uuid.uuid4(), uuid.uuid4()
    services.record(_event(first))
    services.record(_event(second))
    ChainHead.objects.filter(chain=str(first)).delete()
    with connection.cursor() as cursor:
        triggers.remove(connection)
        cursor.execute("DELETE FROM audit_auditevent WHERE chain = %s", [str(second)])
        triggers.install(connection)
    problems = {(p.chain, p.problem) for p in services.verify()}
    assert (str(first), "chain head missing") in problems
    assert (str(second), "every row of the chain removed") in problems
    assert str(services.ChainProblem(str(first), None, "x")) == f"{first}: x"


def test_triggers_can_be_removed_for_a_flush_and_put_back():
    row = services.record(_event())
    triggers.remove(connection)
    AuditEvent.objects.filter(pk=row.pk).update(reason="flush")
    triggers.install(connection)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=row.pk).update(reason="tampered")


def test_events_for_patient_newest_first_and_since():
    patient = uuid.uuid4()
    older = services.record(_event(patient))
    newer = services.record(_event(patient))
    assert [e.pk for e in services.events_for_patient(patient)] == [newer.pk, older.pk]
    later = clock.now() + dt.timedelta(minutes=1)
    assert services.events_for_patient(patient, since=later) == []


def test_rows_name_themselves_and_odd_values_hash_as_text():
    row = services.record(_event())
    assert str(row).endswith("identity:patient:read allowed")
    assert str(ChainHead.objects.get(chain="global")) == f"global#{row.seq}"
    assert chain._canonical(decimal.Decimal("1.50")) == "1.50"
    assert chain._canonical(None) == ""


def test_the_admin_is_read_only(personas):
    request = RequestFactory().get("/admin/")
    model_admin = AuditEventAdmin(AuditEvent, admin.site)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
