"""Notifications (the in-portal list), their e-mail outbox, and the holder's preferences.

A `Notification` and its `Delivery` rows are written in the transaction of the event they tell
about, so an event that rolls back tells nothing and an event that commits cannot lose its
notice. Nothing here holds health content: a kind, who acted, a link.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from carnet.core.models import PatientOwned
from carnet.notifications.kinds import Channel, NotificationKind

KIND_CHOICES = [(kind.value, kind.info.label) for kind in NotificationKind]
CHANNEL_CHOICES = [(channel.value, channel.value) for channel in Channel]


class Notification(PatientOwned):
    """One thing that happened in a space, shown on the portal's home page."""

    kind = models.CharField(max_length=32, choices=KIND_CHOICES)
    # The caller's name for the event (e.g. "document:<id>:v2"); the same event never makes two.
    dedupe_key = models.CharField(max_length=200)
    # Data to render the text at display time (so it follows the reader's language): who acted.
    context = models.JSONField(default=dict, blank=True)
    link_path = models.CharField(max_length=300, default="/")
    # About data hidden from legal representatives (a minor's secret): only the holder sees it.
    hidden_from_representatives = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind", "dedupe_key"], name="notification_unique_event"
            )
        ]
        indexes = [models.Index(fields=["patient", "-created_at"], name="notification_latest")]

    def __str__(self) -> str:
        return f"{self.kind} {self.created_at:%Y-%m-%d %H:%M}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"  # waiting for its first attempt or for a retry
    SENDING = "sending", "sending"  # claimed by a worker until `lease_until`
    SENT = "sent", "sent"  # the SMTP server accepted it
    FAILED = "failed", "failed"  # refused for good, or out of attempts; `last_error` says why


class Delivery(PatientOwned):
    """The outbox: one notification to one address through one channel, and its attempts."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.CharField(max_length=16, choices=CHANNEL_CHOICES, default=Channel.EMAIL.value)
    recipient = models.EmailField()
    # "holder" or "representative": the e-mail then names whose space it is about.
    recipient_role = models.CharField(max_length=16, default="holder")
    # sha256 of (patient, kind, dedupe key, channel, recipient); also makes the Message-ID, so a
    # resend after a crash carries the same Message-ID as the first send.
    idempotency_key = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=Q(status=DeliveryStatus.PENDING),
            ),
            models.Index(
                fields=["lease_until"],
                name="delivery_leased",
                condition=Q(status=DeliveryStatus.SENDING),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.status} #{self.pk}"


class NotificationPreference(PatientOwned):
    """Whether the holder wants a kind through a channel; no row means yes."""

    kind = models.CharField(max_length=32, choices=KIND_CHOICES)
    channel = models.CharField(max_length=16, choices=CHANNEL_CHOICES, default=Channel.EMAIL.value)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "kind", "channel"], name="notification_preference_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.channel}: {'on' if self.enabled else 'off'}"
