"""The outbox state machine: retries with exponential backoff when the SMTP server refuses, a
final `failed` with the error kept, claims that exclude each other, abandoned deliveries taken
over once their lease expires. Time is moved with time_machine, never slept."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.core.management import call_command

from carnet.core.outgoing import MAX_ATTEMPTS, backoff
from carnet.notifications import delivery, services
from carnet.notifications.delivery import Outcome
from carnet.notifications.kinds import NotificationKind
from carnet.notifications.models import Delivery, DeliveryStatus
from tests.factories import make_holder
from tests.notifications.conftest import ScriptedMailbox

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def holder():
    return make_holder(email="camille@exemple.test")


def _queue(holder, key="doc-1", kind=NotificationKind.DOCUMENT_NEW):
    services.notify(holder.pk, kind, dedupe_key=key)
    return Delivery.objects.get(notification__dedupe_key=key)


def test_backoff_doubles_up_to_a_cap():
    delays = [backoff(n).total_seconds() for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays[:4] == [30, 60, 120, 240]
    assert max(delays) == 3600
    assert delays == sorted(delays)
    assert backoff(1000) == dt.timedelta(hours=1)


def test_a_refusing_server_is_retried_with_backoff_until_it_accepts(
    holder, smtp_server_factory, time_machine
):
    # given a server that answers 451 twice, then 250
    server = ScriptedMailbox(["451 4.3.0 Essayez plus tard", "451 4.3.0 Toujours occupé"])
    smtp_server_factory(server)
    time_machine.move_to(T0, tick=False)
    row = _queue(holder)

    # when the first attempt is refused
    assert services.deliver_pending().retry == 1
    row.refresh_from_db()
    assert row.status == DeliveryStatus.PENDING
    assert row.attempts == 1
    assert row.last_error.startswith("SMTP 451")
    assert row.next_attempt_at == T0 + dt.timedelta(seconds=30)

    # then nothing is tried before the retry is due
    time_machine.move_to(T0 + dt.timedelta(seconds=29), tick=False)
    assert services.deliver_pending().handled == 0
    assert server.attempts == 1

    time_machine.move_to(T0 + dt.timedelta(seconds=30), tick=False)
    assert services.deliver_pending().retry == 1
    row.refresh_from_db()
    assert row.next_attempt_at == T0 + dt.timedelta(seconds=30 + 60)

    time_machine.move_to(T0 + dt.timedelta(seconds=90), tick=False)
    assert services.deliver_pending().sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.SENT, 3, "")
    assert row.sent_at == T0 + dt.timedelta(seconds=90)
    assert server.attempts == 3
    assert len(server.accepted) == 1


def test_a_failed_attempt_schedules_a_deferred_task(
    holder, smtp_server_factory, time_machine, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    smtp_server_factory(ScriptedMailbox(["451 4.3.0 Essayez plus tard"]))
    time_machine.move_to(T0, tick=False)
    row = _queue(holder)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery.deliver_one(row.pk) is Outcome.RETRY
    task = DBTaskResult.objects.get()
    assert task.run_after == T0 + dt.timedelta(seconds=30)
    assert task.args_kwargs == {"args": [row.pk], "kwargs": {}}
    assert not DBTaskResult.objects.ready().exists()  # the worker waits for it


def test_an_unreachable_server_is_retried(holder, settings, time_machine, mailbox):
    relay_port = settings.EMAIL_PORT
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        settings.EMAIL_PORT = probe.getsockname()[1]
    time_machine.move_to(T0, tick=False)
    row = _queue(holder)
    assert services.deliver_pending().retry == 1
    row.refresh_from_db()
    assert row.status == DeliveryStatus.PENDING
    assert "ConnectionRefusedError" in row.last_error

    # when the relay is back and the retry is due
    settings.EMAIL_PORT = relay_port
    time_machine.move_to(row.next_attempt_at, tick=False)
    assert services.deliver_pending().sent == 1
    assert len(mailbox.to("camille@exemple.test")) == 1


def test_a_permanent_refusal_fails_at_once_with_the_error_kept(holder, smtp_server_factory):
    smtp_server_factory(ScriptedMailbox(default="550 5.1.1 Boîte inconnue"))
    row = _queue(holder)
    assert services.deliver_pending().failed == 1
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED
    assert row.attempts == 1
    assert row.last_error.startswith("SMTP 550")


def test_after_the_last_attempt_the_delivery_fails_with_its_error(
    holder, smtp_server_factory, time_machine
):
    server = ScriptedMailbox(default="421 4.7.0 Trop de connexions")
    smtp_server_factory(server)
    now = T0
    time_machine.move_to(now, tick=False)
    row = _queue(holder)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = services.deliver_pending()
        row.refresh_from_db()
        assert row.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert report.retry == 1
            now = row.next_attempt_at
            time_machine.move_to(now, tick=False)
    assert report.failed == 1
    assert row.status == DeliveryStatus.FAILED
    assert "421" in row.last_error
    # a failed delivery is left alone until an operator puts it back
    time_machine.move_to(now + dt.timedelta(days=1), tick=False)
    assert services.deliver_pending().handled == 0
    assert server.attempts == MAX_ATTEMPTS


def test_a_delivery_held_by_another_worker_is_not_sent_until_its_lease_expires(
    holder, mailbox, time_machine, settings
):
    settings.CARNET_NOTIFICATION_LEASE_SECONDS = 120
    time_machine.move_to(T0, tick=False)
    row = _queue(holder)
    # given another worker claimed it and died in the middle of the SMTP exchange
    Delivery.objects.filter(pk=row.pk).update(
        status=DeliveryStatus.SENDING,
        claim_token="a-dead-worker",
        lease_until=T0 + dt.timedelta(seconds=120),
        attempts=1,
    )
    assert delivery.deliver_one(row.pk) is Outcome.SKIPPED
    time_machine.move_to(T0 + dt.timedelta(seconds=119), tick=False)
    assert services.deliver_pending().handled == 0
    assert mailbox.messages == []

    # when the lease has expired, the fallback scheduler takes it over
    time_machine.move_to(T0 + dt.timedelta(seconds=120), tick=False)
    assert services.deliver_pending().sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
    assert len(mailbox.messages) == 1


def test_only_the_holder_of_the_claim_records_the_outcome(holder, mailbox, time_machine):
    # given a worker whose lease expired while it was sending, and another that took over
    time_machine.move_to(T0, tick=False)
    row = _queue(holder)
    Delivery.objects.filter(pk=row.pk).update(
        status=DeliveryStatus.SENT, claim_token="the-new-owner", attempts=2
    )
    # when the slow worker's failure arrives late, it changes nothing
    outcome = delivery._record_failure(row, "the-old-owner", OSError("timed out"))
    row.refresh_from_db()
    assert outcome is Outcome.RETRY
    assert row.status == DeliveryStatus.SENT


def test_a_delivery_abandoned_at_its_last_attempt_ends_failed(holder, time_machine, mailbox):
    time_machine.move_to(T0, tick=False)
    row = _queue(holder)
    Delivery.objects.filter(pk=row.pk).update(
        status=DeliveryStatus.SENDING, claim_token="x", lease_until=T0, attempts=MAX_ATTEMPTS
    )
    assert services.deliver_pending().failed == 1
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED
    assert "interrompue" in row.last_error
    assert mailbox.messages == []


def test_the_command_sends_one_pass_and_can_requeue_failed(
    holder, smtp_server_factory, capsys, settings, mailbox
):
    session_port = settings.EMAIL_PORT
    smtp_server_factory(ScriptedMailbox(default="554 5.7.1 Relais refusé"))
    _queue(holder, key="a")
    _queue(holder, key="b")
    call_command("deliver_notifications")
    assert "en échec : 2" in capsys.readouterr().out

    # the operator fixes the relay and puts the failed deliveries back
    settings.EMAIL_PORT = session_port
    call_command("deliver_notifications", "--retry-failed")
    out = capsys.readouterr().out
    assert "2 envoi(s) en échec remis en file d'attente" in out
    assert "envoyées : 2" in out
    assert len(mailbox.to("camille@exemple.test")) == 2


def test_an_unexpected_error_is_retried_rather_than_left_held(holder, monkeypatch, time_machine):
    from django.template import TemplateSyntaxError

    def broken_template(*args, **kwargs):
        raise TemplateSyntaxError("gabarit cassé")

    # given a rendering bug (fault injected where the e-mail is built)
    monkeypatch.setattr(delivery, "send_templated", broken_template)
    time_machine.move_to(T0, tick=False)
    row = _queue(holder)
    assert delivery.deliver_one(row.pk) is Outcome.RETRY
    row.refresh_from_db()
    assert row.status == DeliveryStatus.PENDING
    assert row.lease_until is None
    assert row.last_error == "TemplateSyntaxError: gabarit cassé"


def test_operators_see_the_outbox_read_only_without_the_notices_content(admin_client, holder):
    services.notify(
        holder.pk, NotificationKind.FIRST_ACCESS, dedupe_key="p1", context={"actor": "Dr MARTIN"}
    )
    row = Delivery.objects.get()
    listing = admin_client.get("/gestion/notifications/delivery/")
    assert listing.status_code == 200
    assert "pending" in listing.content.decode()
    detail = admin_client.get(f"/gestion/notifications/delivery/{row.pk}/change/")
    assert detail.status_code == 200
    for page in (listing, detail):
        assert "MARTIN" not in page.content.decode()
    assert admin_client.post(f"/gestion/notifications/delivery/{row.pk}/delete/").status_code == 403
