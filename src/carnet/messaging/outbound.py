"""Sending the holders' messages to the professionals' MSSanté addresses through the relay.

State machine of an `Outbox` row (the notifications outbox's, for the same reasons):

    pending ──claim──► sending ──SMTP 250──► sent
       ▲                 │ │
       │   4xx, network  │ └──5xx, or out of attempts──► failed (error kept, shown to the holder)
       └──(backoff)──────┘
    sending, lease expired (the worker died) ──claim──► sending   (a new attempt)
    failed ──the holder asks to send again──► pending

- The claim is one conditional UPDATE committed before anything is sent, so two workers never
  both hold a message; `sent` is recorded only after the relay accepted it, by the claim holder.
- Every attempt sends the same bytes identity: the same Message-ID, In-Reply-To and References,
  so a message resent after a crash between "250" and the `sent` UPDATE is recognisable.
- Nothing is lost: a failure keeps the row and its error; the holder sees it and may retry.

The content (body and attachments) is read back from the patient's encrypted store at each
attempt: it is the holder's own write, already authorised and traced, being carried out.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from django.db import transaction
from django.db.models import F

from carnet.core import clock, outgoing
from carnet.core.outgoing import MAX_ATTEMPTS
from carnet.messaging import config, content
from carnet.messaging.models import Attachment, Message, Outbox, OutboxStatus

logger = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=5)


@dataclass
class PassReport:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retry + self.failed


def queue(message: Message, recipient: str) -> Outbox:
    """Queue a holder's message (call inside the transaction that writes it)."""
    now = clock.now()
    row = Outbox.objects.create(
        patient_id=message.patient_id,
        message=message,
        recipient=recipient,
        next_attempt_at=now,
        created_at=now,
    )
    _schedule(row.pk)
    return row


def requeue(message: Message) -> bool:
    """Put a failed message back in the queue; False if it is not in `failed`."""
    return bool(
        Outbox.objects.filter(message=message, status=OutboxStatus.FAILED).update(
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=clock.now(),
            lease_until=None,
            last_error="",
        )
    )


def _schedule(outbox_id: int, *, at: dt.datetime | None = None) -> None:
    """Wake the background worker once the transaction commits (only a wake-up call: the row is
    the truth, and `send_messages` finds it anyway)."""
    from carnet.messaging.tasks import send_message

    def enqueue() -> None:
        (send_message.using(run_after=at) if at else send_message).enqueue(outbox_id)

    transaction.on_commit(enqueue, robust=True)


def send_one(outbox_id: int) -> str:
    """Try to send one queued message now if it is due and nobody holds it; returns the outcome
    ("sent", "retry", "failed" or "skipped"). Must run outside any transaction."""
    now = clock.now()
    token = secrets.token_hex(16)
    claimed = (
        Outbox.objects.filter(pk=outbox_id)
        .filter(outgoing.claimable(now))
        .update(
            status=OutboxStatus.SENDING,
            claim_token=token,
            lease_until=now + LEASE,
            last_attempt_at=now,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return "skipped"
    row = Outbox.objects.select_related("message__conversation").get(pk=outbox_id)
    try:
        _send(row)
    except (smtplib.SMTPException, OSError) as exc:
        return _record_failure(row, token, exc)
    Outbox.objects.filter(pk=outbox_id, claim_token=token).update(
        status=OutboxStatus.SENT, sent_at=clock.now(), lease_until=None, last_error=""
    )
    return "sent"


def build_email(message: Message, recipient: str) -> EmailMessage:
    """The RFC 5322 message for the relay: threading headers, body, attachments."""
    email = EmailMessage()
    email["From"] = formataddr((message.sender_name, message.sender_address))
    email["To"] = recipient
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.sent_at)
    email["Message-ID"] = f"<{message.message_id}>"
    if message.in_reply_to:
        email["In-Reply-To"] = f"<{message.in_reply_to}>"
    if message.references:
        email["References"] = " ".join(f"<{ref}>" for ref in message.references)
    email.set_content(message.body)
    for attachment in Attachment.objects.filter(message=message).order_by("position"):
        maintype, _sep, subtype = attachment.content_type.partition("/")
        email.add_attachment(
            content.load(attachment.patient_id, attachment.pk),
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
        )
    return email


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=config.string("CARNET_MSS_RELAY_TLS_CA") or None)
    cert = config.string("CARNET_MSS_RELAY_TLS_CERT")
    if cert:
        context.load_cert_chain(cert, config.string("CARNET_MSS_RELAY_TLS_KEY") or None)
    return context


def _send(row: Outbox) -> None:
    from django.conf import settings

    email = build_email(row.message, row.recipient)
    host = config.string("CARNET_MSS_RELAY_HOST") or settings.EMAIL_HOST
    port = config.integer("CARNET_MSS_RELAY_PORT", 0) or settings.EMAIL_PORT
    with smtplib.SMTP(host, port, timeout=config.integer("CARNET_MSS_RELAY_TIMEOUT", 30)) as smtp:
        if config.flag("CARNET_MSS_RELAY_STARTTLS"):
            smtp.starttls(context=_tls_context())
        user = config.string("CARNET_MSS_RELAY_USER")
        if user:
            smtp.login(user, config.string("CARNET_MSS_RELAY_PASSWORD"))
        smtp.send_message(email, from_addr=row.message.sender_address, to_addrs=[row.recipient])


def _record_failure(row: Outbox, token: str, exc: Exception) -> str:
    error = outgoing.describe(exc)
    if outgoing.is_permanent(exc) or row.attempts >= MAX_ATTEMPTS:
        Outbox.objects.filter(pk=row.pk, claim_token=token).update(
            status=OutboxStatus.FAILED, lease_until=None, last_error=error
        )
        logger.warning("outbox %s failed after %s attempt(s): %s", row.pk, row.attempts, error)
        return "failed"
    retry_at = clock.now() + outgoing.backoff(row.attempts)
    with transaction.atomic():
        Outbox.objects.filter(pk=row.pk, claim_token=token).update(
            status=OutboxStatus.PENDING,
            lease_until=None,
            next_attempt_at=retry_at,
            last_error=error,
        )
        _schedule(row.pk, at=retry_at)
    return "retry"


def send_pending(*, limit: int = 100) -> PassReport:
    """One pass of the worker: every due or abandoned message, oldest first."""
    now = clock.now()
    report = PassReport(failed=outgoing.give_up_abandoned(Outbox, now=now))
    for outbox_id in outgoing.due_ids(Outbox, now=now, limit=limit):
        outcome = send_one(outbox_id)
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report
