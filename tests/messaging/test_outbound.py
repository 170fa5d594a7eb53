"""The holder's replies leave through a real SMTP relay on loopback with their threading headers;
a relay that is down or refuses is retried (time moved, never slept) and the holder sees it."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import threading

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from carnet.identity.services import actor_for_user
from carnet.messaging import outbound, services
from carnet.messaging.gateway import process_inbound
from carnet.messaging.models import Message, Outbox, OutboxStatus
from carnet.messaging.services import OutgoingFile
from tests.conftest import free_port
from tests.messaging.builders import SENDER, build_mss_message, embedded_pdf, patient_address

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
FIRST_ID = "20260302.1@labo-charmes.mssante.fr"


@pytest.fixture
def relay(settings, mailbox):
    """The loopback SMTP server of every test (`mailbox`) plays the MSSanté relay."""
    settings.CARNET_MSS_RELAY_HOST = settings.EMAIL_HOST
    settings.CARNET_MSS_RELAY_PORT = settings.EMAIL_PORT
    return mailbox


@pytest.fixture
def conversation(holder):
    raw = build_mss_message(message_id=f"<{FIRST_ID}>", subject="XDM/1.0/DDM+Vos résultats")
    result = process_inbound(raw, mail_from=SENDER, rcpt_tos=[patient_address()])
    return Message.objects.get(pk=result.delivered[0].message_id).conversation


@pytest.fixture
def actor(holder):
    return actor_for_user(holder.user)


def _delivery_seen_by(actor, conversation):
    view = services.read_conversation(actor, str(conversation.pk))
    (sent,) = [m for m in view.messages if m.delivery is not None]
    return sent.delivery


class Refusing:
    """A relay answering DATA with a fixed reply."""

    def __init__(self, reply):
        self.reply = reply
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.attempts += 1
        return self.reply


def test_the_reply_leaves_through_the_relay_with_threading_headers(
    relay, conversation, actor, time_machine
):
    time_machine.move_to(T0, tick=False)
    pdf = OutgoingFile("ordonnance.pdf", "application/pdf", embedded_pdf())
    reply = services.reply(actor, str(conversation.pk), body="Merci docteur.", files=[pdf])

    report = outbound.send_pending()

    assert report.sent == 1
    (sent,) = relay.to(SENDER)
    assert sent["From"].addresses[0].addr_spec == patient_address()
    assert sent["Subject"] == "RE: Vos résultats"
    assert sent["Message-ID"] == f"<{reply.message_id}>"
    assert sent["In-Reply-To"] == f"<{FIRST_ID}>"
    assert sent["References"] == f"<{FIRST_ID}>"
    assert relay.body(sent).strip() == "Merci docteur."
    (attachment,) = list(sent.iter_attachments())
    assert attachment.get_filename() == "ordonnance.pdf"
    assert attachment.get_content() == embedded_pdf()
    assert Outbox.objects.get().status == OutboxStatus.SENT


def test_a_second_reply_references_the_whole_thread(relay, conversation, actor):
    first = services.reply(actor, str(conversation.pk), body="Merci.")
    second = services.reply(actor, str(conversation.pk), body="Une question encore.")
    outbound.send_pending()
    sent = email.message_from_bytes(
        outbound.build_email(second, SENDER).as_bytes(), policy=email.policy.default
    )
    assert second.in_reply_to == first.message_id
    assert sent["References"] == f"<{FIRST_ID}> <{first.message_id}>"
    assert len(relay.to(SENDER)) == 2


def test_a_relay_that_is_down_is_retried_and_the_holder_sees_it(
    relay, settings, conversation, actor, time_machine
):
    # given a relay that does not answer
    time_machine.move_to(T0, tick=False)
    settings.CARNET_MSS_RELAY_PORT = free_port()
    reply = services.reply(actor, str(conversation.pk), body="Bonjour.")

    # when the worker tries
    assert outbound.send_pending().retry == 1

    # then the holder sees that it is waiting for a new attempt, with when
    delivery = _delivery_seen_by(actor, conversation)
    assert delivery.status == OutboxStatus.PENDING
    assert delivery.last_error.startswith("ConnectionRefusedError")
    assert delivery.next_attempt_at == T0 + dt.timedelta(seconds=30)
    assert outbound.send_pending().handled == 0  # not before it is due

    # and once the relay is back and the delay has passed, it leaves
    settings.CARNET_MSS_RELAY_PORT = settings.EMAIL_PORT
    time_machine.move_to(T0 + dt.timedelta(seconds=30), tick=False)
    assert outbound.send_pending().sent == 1
    assert [m["Message-ID"] for m in relay.to(SENDER)] == [f"<{reply.message_id}>"]


def test_a_temporary_refusal_backs_off_and_a_permanent_one_fails_until_the_holder_retries(
    settings, conversation, actor, time_machine, relay
):
    time_machine.move_to(T0, tick=False)
    busy = Refusing("451 4.3.0 Try again later")
    server = Controller(busy, hostname="127.0.0.1", port=free_port())
    server.start()
    try:
        settings.CARNET_MSS_RELAY_PORT = server.port
        reply = services.reply(actor, str(conversation.pk), body="Bonjour.")
        assert outbound.send_pending().retry == 1
        time_machine.move_to(T0 + dt.timedelta(seconds=30), tick=False)
        assert outbound.send_pending().retry == 1
        row = Outbox.objects.get()
        assert (row.attempts, row.next_attempt_at) == (2, T0 + dt.timedelta(seconds=90))

        busy.reply = "550 5.1.1 Mailbox unknown"
        time_machine.move_to(T0 + dt.timedelta(seconds=90), tick=False)
        assert outbound.send_pending().failed == 1
    finally:
        server.stop()
    delivery = _delivery_seen_by(actor, conversation)
    assert delivery.status == OutboxStatus.FAILED
    assert "550 5.1.1" in delivery.last_error

    # the holder asks to send it again, the relay is fixed: it leaves, nothing was lost
    settings.CARNET_MSS_RELAY_PORT = settings.EMAIL_PORT
    services.retry_delivery(actor, str(reply.pk))
    assert outbound.send_pending().sent == 1
    assert len(relay.to(SENDER)) == 1


def test_the_reply_is_queued_for_the_background_worker_on_commit(
    relay, conversation, actor, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        services.reply(actor, str(conversation.pk), body="Bonjour.")
    assert DBTaskResult.objects.filter(task_path="carnet.messaging.tasks.send_message").count() == 1


def test_the_worker_command_sends_one_pass(relay, conversation, actor):
    services.reply(actor, str(conversation.pk), body="Bonjour.")
    call_command("send_messages")
    assert len(relay.to(SENDER)) == 1
