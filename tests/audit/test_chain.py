"""The trail is append-only and hash-chained per patient: audit_verify detects any tampering."""

import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from carnet.audit import services
from carnet.audit.models import GLOBAL_CHAIN, AuditEvent, ChainHead

pytestmark = pytest.mark.django_db


def _event(patient_id, action="identity:patient:read"):
    return services.EventData(
        actor_kind="holder", actor_id="u1", action=action, outcome="allowed", patient_id=patient_id
    )


def _fill():
    first, second = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        services.record(_event(first))
    services.record(_event(second))
    services.record(_event(None, action="identity:patient:search"))
    return first, second


def _without_triggers(sql, params=()):
    """Tamper with the table as an attacker with database access would (triggers removed)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER audit_event_no_update")
            cursor.execute("DROP TRIGGER audit_event_no_delete")
            cursor.execute(sql, params)


def test_each_patient_has_its_own_numbered_chain():
    first, second = _fill()
    assert list(AuditEvent.objects.filter(chain=str(first)).values_list("seq", flat=True)) == [
        1,
        2,
        3,
    ]
    assert AuditEvent.objects.get(chain=str(second)).seq == 1
    # each new patient chain is announced in the global chain
    opened = AuditEvent.objects.filter(chain=GLOBAL_CHAIN, action="audit:chain:open")
    assert set(opened.values_list("resource_id", flat=True)) == {str(first), str(second)}
    rows = list(AuditEvent.objects.filter(chain=str(first)).order_by("seq"))
    assert rows[1].prev_hash == rows[0].hash
    assert rows[2].prev_hash == rows[1].hash


def test_verify_passes_on_a_clean_trail(capsys):
    _fill()
    assert services.verify() == []
    call_command("audit_verify")
    assert "intact" in capsys.readouterr().out


def test_the_database_refuses_updates_and_deletes():
    first, _ = _fill()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(chain=str(first)).update(reason="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(chain=str(first)).delete()
    assert AuditEvent.objects.filter(chain=str(first)).count() == 3


def test_an_altered_row_is_detected():
    first, _ = _fill()
    _without_triggers(
        "UPDATE audit_auditevent SET actor_id = 'someone-else' WHERE chain = %s AND seq = 2",
        [str(first)],
    )
    problems = services.verify()
    assert [(p.chain, p.seq) for p in problems] == [(str(first), 2)]
    assert "altered" in problems[0].problem
    with pytest.raises(CommandError, match="1 problem"):
        call_command("audit_verify")


def test_a_row_removed_in_the_middle_is_detected():
    first, _ = _fill()
    _without_triggers("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 2", [str(first)])
    assert any("missing" in p.problem for p in services.verify())
    with pytest.raises(CommandError):
        call_command("audit_verify")


def test_the_newest_row_removed_is_detected():
    first, _ = _fill()
    _without_triggers("DELETE FROM audit_auditevent WHERE chain = %s AND seq = 3", [str(first)])
    assert any("newest rows removed" in p.problem for p in services.verify())


def test_a_whole_chain_removed_is_detected():
    _, second = _fill()
    _without_triggers("DELETE FROM audit_auditevent WHERE chain = %s", [str(second)])
    ChainHead.objects.filter(chain=str(second)).delete()
    assert any(p.chain == str(second) and "missing" in p.problem for p in services.verify())


def test_a_row_rehashed_without_the_key_is_detected():
    first, _ = _fill()
    row = AuditEvent.objects.get(chain=str(first), seq=3)
    import hashlib

    forged = hashlib.sha256(b"forged").hexdigest()
    _without_triggers("UPDATE audit_auditevent SET hash = %s WHERE id = %s", [forged, row.pk])
    assert services.verify()
