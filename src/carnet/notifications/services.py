"""Notifications: telling the holder what happened in their space.

Invariants:
- `notify` is called by other services *inside their write transaction*: the notification and
  its e-mail outbox rows commit or roll back with the event, and the background delivery is
  scheduled with `transaction.on_commit`. A rolled-back event tells nothing; a committed one
  cannot lose its notice (the outbox row is the truth, the task only a wake-up call).
- One event, one notification: (patient, kind, dedupe key) is unique; notifying it again
  returns the first notification and sends nothing more.
- Notifications and e-mails carry no health content: a kind, who acted, a link to the portal.
  `texts.clean_context` refuses anything but `actor`.
- The in-portal notification is always written; e-mail follows the holder's preference per kind,
  except emergency accesses, which are always e-mailed.
- A minor's e-mails go to the legal representatives (and to the minor's own address if any);
  notices about data hidden from representatives go to the holder only, on both channels.
- Reading notifications and preferences, marking as read and changing preferences go through
  the access gate (actions `notifications:*`). `notify` does not: its caller already did.

Delivery itself (claim, retries, crash recovery) lives in `carnet.notifications.delivery`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils.translation import gettext as _

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.policy import Target
from carnet.core import clock
from carnet.core.errors import InvalidInput, NotFound
from carnet.notifications import delivery, recipients, texts
from carnet.notifications.delivery import PassReport
from carnet.notifications.kinds import Channel, NotificationKind
from carnet.notifications.models import (
    Delivery,
    Notification,
    NotificationPreference,
)

__all__ = [
    "NotificationItem",
    "NotificationList",
    "PassReport",
    "PreferenceRow",
    "deliver_pending",
    "latest",
    "mark_all_read",
    "mark_read",
    "notify",
    "preferences",
    "update_preferences",
]

MAX_LINK_PATH = 300


# --- Writing: called by other services inside their transaction ---------------------------------


def notify(
    patient_id: uuid.UUID | str,
    kind: NotificationKind | str,
    *,
    dedupe_key: str,
    context: Mapping[str, Any] | None = None,
    link_path: str = "/",
    hidden_from_representatives: bool = False,
) -> Notification:
    """Record that `kind` happened in the patient's space and queue its e-mails.

    - `dedupe_key` names the event for the caller (e.g. ``f"{document_id}:v{version}"``); the
      same (patient, kind, dedupe_key) never makes a second notification or e-mail.
    - `context` may only hold ``actor``: the display name of who acted, shown in the portal
      (never in the e-mail).
    - `link_path` is a portal path ("/…") the notification and the e-mail link to.
    - `hidden_from_representatives` for events about data a minor keeps secret from them.

    Call it inside the transaction that writes the event. Raises ValueError on a programming
    error (unknown kind, forbidden context key, bad link path or dedupe key).
    """
    kind = NotificationKind(kind)
    cleaned = texts.clean_context(context)
    _check_link_path(link_path)
    if not dedupe_key or len(dedupe_key) > 200:
        raise ValueError("dedupe_key must be 1 to 200 characters")
    patient = uuid.UUID(str(patient_id))
    with transaction.atomic():
        existing = _existing(patient, kind, dedupe_key)
        if existing is not None:
            return existing
        now = clock.now()
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    patient_id=patient,
                    kind=kind,
                    dedupe_key=dedupe_key,
                    context=cleaned,
                    link_path=link_path,
                    hidden_from_representatives=hidden_from_representatives,
                    created_at=now,
                )
        except IntegrityError:
            # A concurrent transaction recorded the same event first.
            existing = _existing(patient, kind, dedupe_key)
            if existing is None:
                raise
            return existing
        for row in _queue_emails(notification, now):
            delivery.schedule(row.pk)
    return notification


def _existing(patient: uuid.UUID, kind: NotificationKind, dedupe_key: str) -> Notification | None:
    return Notification.objects.filter(patient_id=patient, kind=kind, dedupe_key=dedupe_key).first()


def _check_link_path(link_path: str) -> None:
    if (
        not link_path.startswith("/")
        or link_path.startswith("//")
        or len(link_path) > MAX_LINK_PATH
        or any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in link_path)
    ):
        raise ValueError(f"link_path must be a portal path starting with one '/': {link_path!r}")


def _queue_emails(notification: Notification, now: dt.datetime) -> list[Delivery]:
    kind = NotificationKind(notification.kind)
    patient = notification.patient_id
    if not _email_enabled(patient, kind):
        return []
    rows = [
        Delivery(
            patient_id=patient,
            notification=notification,
            channel=Channel.EMAIL,
            recipient=recipient.address,
            recipient_role=recipient.role,
            idempotency_key=_idempotency_key(notification, Channel.EMAIL, recipient.address),
            next_attempt_at=now,
            created_at=now,
        )
        for recipient in recipients.email_recipients(
            patient, include_representatives=not notification.hidden_from_representatives
        )
    ]
    for row in rows:
        row.save(force_insert=True)
    return rows


def _idempotency_key(notification: Notification, channel: Channel, address: str) -> str:
    material = "\x1f".join(
        [
            str(notification.patient_id),
            notification.kind,
            notification.dedupe_key,
            channel.value,
            address.strip().lower(),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _email_enabled(patient_id: uuid.UUID, kind: NotificationKind) -> bool:
    if kind.email_mandatory:
        return True
    preference = NotificationPreference.objects.filter(
        patient_id=patient_id, kind=kind, channel=Channel.EMAIL
    ).first()
    return preference is None or preference.enabled


def deliver_pending(*, limit: int = 100) -> PassReport:
    """One pass of the fallback scheduler over the outbox (see `delivery.deliver_pending`)."""
    return delivery.deliver_pending(limit=limit)


# --- Reading and acting, for the holder and their representatives --------------------------------


@dataclass(frozen=True)
class NotificationItem:
    id: int
    kind: str
    text: str
    created_at: dt.datetime
    read: bool
    link_path: str


@dataclass(frozen=True)
class NotificationList:
    items: list[NotificationItem]
    unread_count: int
    total: int

    def __bool__(self) -> bool:
        return bool(self.items)


def latest(actor: Actor, patient_id: str, *, limit: int = 5) -> NotificationList:
    """The space's notifications for this reader: unread first, newest first."""
    rows = _readable(actor, patient_id, Action.NOTIFICATIONS_NOTIFICATION_READ)
    ordered = rows.annotate(
        unread=ExpressionWrapper(Q(read_at__isnull=True), output_field=BooleanField())
    ).order_by("-unread", "-created_at", "-pk")
    items = [
        NotificationItem(
            id=row.pk,
            kind=row.kind,
            text=texts.portal_text(row.kind, row.context),
            created_at=row.created_at,
            read=row.read_at is not None,
            link_path=row.link_path,
        )
        for row in ordered[:limit]
    ]
    return NotificationList(
        items=items,
        unread_count=rows.filter(read_at__isnull=True).count(),
        total=rows.count(),
    )


def mark_read(actor: Actor, patient_id: str, notification_id: int) -> None:
    """Mark one notification as read. Raises NotFound if the reader may not see it."""
    row = _find(actor, patient_id, notification_id)
    target = Target(
        "Notification",
        str(notification_id)[:100],
        patient_id=str(row.patient_id) if row else None,
    )
    with gate.change(actor, Action.NOTIFICATIONS_NOTIFICATION_UPDATE, target):
        if row is None:  # the gate refused already; this keeps the type checker honest
            raise NotFound(gate.NOT_FOUND_MESSAGE)
        Notification.objects.filter(pk=row.pk, read_at__isnull=True).update(read_at=clock.now())


def mark_all_read(actor: Actor, patient_id: str) -> int:
    """Mark every notification of the space the reader can see as read; returns how many."""
    key = _patient_key(patient_id)
    target = Target("Notification", patient_id=_text(key))
    with gate.change(actor, Action.NOTIFICATIONS_NOTIFICATION_UPDATE, target) as grant:
        rows = _narrowed(actor, key, Notification.objects.filter(patient_id=key))
        count = rows.filter(read_at__isnull=True).update(read_at=clock.now())
        grant.details = {"count": count}
    return count


def _patient_key(patient_id: str) -> uuid.UUID | None:
    """A well-formed space id, or None (so that the gate refuses a malformed one)."""
    try:
        return uuid.UUID(str(patient_id))
    except ValueError:
        return None


def _text(key: uuid.UUID | None) -> str | None:
    return str(key) if key else None


def _readable(actor: Actor, patient_id: str, action: Action) -> QuerySet[Notification]:
    key = _patient_key(patient_id)
    base = Notification.objects.filter(patient_id=key) if key else Notification.objects.none()
    rows = gate.visible(actor, action, base, searched_patient_id=_text(key))
    return _narrowed(actor, key, rows)


def _narrowed(
    actor: Actor, key: uuid.UUID | None, rows: QuerySet[Notification]
) -> QuerySet[Notification]:
    # A representative never sees notices about what the minor keeps secret from them.
    if _text(key) not in actor.own_patient_ids:
        rows = rows.filter(hidden_from_representatives=False)
    return rows


def _find(actor: Actor, patient_id: str, notification_id: int) -> Notification | None:
    key = _patient_key(patient_id)
    if key is None:
        return None
    try:
        rows = Notification.objects.filter(pk=int(notification_id), patient_id=key)
    except (TypeError, ValueError, ValidationError):
        return None
    return _narrowed(actor, key, rows).first()


# --- Preferences ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreferenceRow:
    kind: NotificationKind
    label: str
    description: str
    email_enabled: bool
    locked: bool  # cannot be switched off (emergency access)


def preferences(actor: Actor, patient_id: str) -> list[PreferenceRow]:
    """The e-mail preference of each kind for this space. Raises NotFound."""
    key = _patient_key(patient_id)
    gate.authorize(
        actor,
        Action.NOTIFICATIONS_PREFERENCE_READ,
        Target("NotificationPreference", patient_id=_text(key)),
    )
    stored = dict(
        NotificationPreference.objects.filter(patient_id=key, channel=Channel.EMAIL).values_list(
            "kind", "enabled"
        )
    )
    return [
        PreferenceRow(
            kind=kind,
            label=str(kind.info.label),
            description=str(kind.info.description),
            email_enabled=kind.email_mandatory or stored.get(kind.value, True),
            locked=kind.email_mandatory,
        )
        for kind in NotificationKind
    ]


def update_preferences(actor: Actor, patient_id: str, *, email_kinds: Iterable[str]) -> None:
    """Set which kinds are e-mailed: those in `email_kinds`, plus the mandatory ones.

    The in-portal notification is always kept. Raises NotFound, InvalidInput (unknown kind).
    """
    wanted = set(email_kinds)
    unknown = wanted - {kind.value for kind in NotificationKind}
    if unknown:
        raise InvalidInput(_("Type de notification inconnu."), field="email")
    key = _patient_key(patient_id)
    target = Target("NotificationPreference", patient_id=_text(key))
    with gate.change(actor, Action.NOTIFICATIONS_PREFERENCE_UPDATE, target) as grant:
        now = clock.now()
        for kind in NotificationKind:
            NotificationPreference.objects.update_or_create(
                patient_id=key,
                kind=kind,
                channel=Channel.EMAIL,
                defaults={
                    "enabled": kind.email_mandatory or kind.value in wanted,
                    "updated_at": now,
                },
            )
        grant.details = {
            "email": sorted(k.value for k in NotificationKind if k.email_mandatory or k in wanted)
        }
