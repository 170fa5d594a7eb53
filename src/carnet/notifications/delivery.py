"""The e-mail outbox: claim, send, record; retry with backoff; never knowingly send twice.

State machine of a `Delivery`:

    pending ──claim──► sending ──SMTP 250──► sent
       ▲                 │ │
       │   4xx, network  │ └──5xx, or out of attempts──► failed (last_error kept)
       └──(backoff)──────┘
    sending, lease expired (the worker died) ──claim──► sending   (a new attempt)

- **Claim** is one conditional UPDATE (`pending` and due, or `sending` with an expired lease →
  `sending`, a fresh claim token, `lease_until`, attempts + 1). It commits before anything is
  sent, so two workers, or a worker and the fallback scheduler, never both hold a delivery:
  exactly one UPDATE matches.
- **Sent** is recorded only after the SMTP server accepted the message, and only by the holder
  of the claim token (a worker whose lease was taken over cannot overwrite the new state).
- **Retries**: 4xx replies and network errors put the delivery back to `pending` after
  `BASE_DELAY * 2**(attempts-1)`, capped at `MAX_DELAY`; after `MAX_ATTEMPTS` attempts, or on a
  5xx (permanent) reply, it is `failed` with the error kept (the schedule and the judgement of
  SMTP errors are those of every outbox: `core.outgoing`). Attempts count claims, so a message
  that kills its worker each time also ends `failed` instead of looping.

What remains at-least-once, honestly: a worker that dies (or stalls past its lease) *after* the
SMTP server accepted the message and *before* the `sent` UPDATE commits leaves the delivery in
`sending`; once the lease expires it is sent again. SMTP offers no way to ask the server whether
it already has a message, so the only alternative would be to risk losing it (unacceptable for
an emergency-access notice). The resend carries the same `Message-ID` (derived from the
idempotency key), so the duplicate is recognisable, and MTAs and mail clients that deduplicate on
Message-ID show it once. A crash anywhere else (before DATA completes, or after the UPDATE)
yields exactly one message.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import smtplib
from dataclasses import dataclass
from email.utils import parseaddr
from enum import StrEnum

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from carnet.core import clock, outgoing
from carnet.core.outgoing import MAX_ATTEMPTS
from carnet.notifications import recipients
from carnet.notifications.email import send_templated
from carnet.notifications.kinds import NotificationKind
from carnet.notifications.models import Delivery, DeliveryStatus

logger = logging.getLogger(__name__)

# Longer than any legitimate SMTP exchange (EMAIL_TIMEOUT bounds each socket operation).
DEFAULT_LEASE_SECONDS = 300


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # back to pending, a new attempt is scheduled
    FAILED = "failed"
    SKIPPED = "skipped"  # not claimable: done, not due, or held by another worker


@dataclass
class PassReport:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)

    @property
    def handled(self) -> int:
        return self.sent + self.retry + self.failed


def lease_seconds() -> int:
    return int(getattr(settings, "CARNET_NOTIFICATION_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


def message_id(idempotency_key: str) -> str:
    """A stable Message-ID: every send of one delivery carries the same one."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "carnet.localhost"
    # 128 bits of the key are plenty and keep the header on one line.
    return f"<notification.{idempotency_key[:32]}@{domain}>"


def deliver_one(delivery_id: int) -> Outcome:
    """Try to send one delivery now, if it is due and nobody else holds it.

    Must run outside any transaction: the claim has to be visible to other workers before the
    SMTP exchange starts, and the outcome recorded after it.
    """
    now = clock.now()
    token = secrets.token_hex(16)
    claimed = (
        Delivery.objects.filter(pk=delivery_id)
        .filter(outgoing.claimable(now))
        .update(
            status=DeliveryStatus.SENDING,
            claim_token=token,
            lease_until=now + dt.timedelta(seconds=lease_seconds()),
            last_attempt_at=now,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return Outcome.SKIPPED
    delivery = Delivery.objects.select_related("notification").get(pk=delivery_id)
    try:
        _send(delivery)
    except (smtplib.SMTPException, OSError) as exc:
        return _record_failure(delivery, token, exc)
    except Exception as exc:
        # A bug (a template that fails to render, say) must not leave the delivery held for a
        # whole lease: it is retried with backoff like a refusal, and ends failed if it persists.
        logger.exception("delivery %s: unexpected error", delivery_id)
        return _record_failure(delivery, token, exc)
    updated = Delivery.objects.filter(pk=delivery_id, claim_token=token).update(
        status=DeliveryStatus.SENT, sent_at=clock.now(), lease_until=None, last_error=""
    )
    if not updated:
        # Our lease ran out during the exchange and another worker took the delivery over.
        logger.warning("delivery %s: sent after its lease expired", delivery_id)
    return Outcome.SENT


def _send(delivery: Delivery) -> None:
    notification = delivery.notification
    kind = NotificationKind(notification.kind)
    if delivery.recipient_role == recipients.REPRESENTATIVE:
        name = recipients.space_first_name(str(delivery.patient_id))
        space = _("l'espace santé de %(name)s") % {"name": name}
    else:
        space = _("votre espace santé")
    context = {
        "link": settings.SITE_URL + notification.link_path,
        "space": space,
        "mandatory": kind.email_mandatory,
    }
    connection = get_connection(fail_silently=False)
    connection.open()
    try:
        send_templated(
            kind.value,
            delivery.recipient,
            context,
            message_id=message_id(delivery.idempotency_key),
            headers={"Auto-Submitted": "auto-generated"},
            connection=connection,
        )
    finally:
        # Once DATA is accepted the message is the server's: a failing QUIT must not turn a
        # delivered notice into a retry (and a duplicate).
        try:
            connection.close()
        except (smtplib.SMTPException, OSError) as exc:
            logger.info("delivery %s: closing the SMTP session failed: %s", delivery.pk, exc)


def _record_failure(delivery: Delivery, token: str, exc: Exception) -> Outcome:
    now = clock.now()
    error = outgoing.describe(exc)
    if outgoing.is_permanent(exc) or delivery.attempts >= MAX_ATTEMPTS:
        Delivery.objects.filter(pk=delivery.pk, claim_token=token).update(
            status=DeliveryStatus.FAILED, lease_until=None, last_error=error
        )
        logger.warning(
            "delivery %s failed after %s attempt(s): %s", delivery.pk, delivery.attempts, error
        )
        return Outcome.FAILED
    retry_at = now + outgoing.backoff(delivery.attempts)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk, claim_token=token).update(
            status=DeliveryStatus.PENDING,
            lease_until=None,
            next_attempt_at=retry_at,
            last_error=error,
        )
        schedule(delivery.pk, at=retry_at)
    return Outcome.RETRY


def schedule(delivery_id: int, *, at: dt.datetime | None = None) -> None:
    """Ask the background worker to try this delivery (at `at`), once the transaction commits.

    Only a wake-up call: if it is lost (enqueue failure, worker killed), the fallback scheduler
    `deliver_pending` finds the delivery anyway, because the outbox row is the truth.
    """
    from carnet.notifications.tasks import deliver

    def enqueue() -> None:
        (deliver.using(run_after=at) if at else deliver).enqueue(delivery_id)

    transaction.on_commit(enqueue, robust=True)


def deliver_pending(*, limit: int = 100) -> PassReport:
    """One pass of the fallback scheduler: every due or abandoned delivery, oldest first."""
    now = clock.now()
    report = PassReport()
    report.failed += outgoing.give_up_abandoned(Delivery, now=now)
    for delivery_id in outgoing.due_ids(Delivery, now=now, limit=limit):
        report.count(deliver_one(delivery_id))
    return report


def retry_failed() -> int:
    """Put every failed delivery back in the queue (after fixing the SMTP relay, say)."""
    now = clock.now()
    return Delivery.objects.filter(status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, lease_until=None
    )
