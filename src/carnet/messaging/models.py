"""Secure messaging: conversations between a holder's space and a professional, their messages,
attachments (content encrypted with the patient's key in the content store) and the outbox of
replies sent by SMTP.

Every row carries the patient key. A conversation's professional side is either a professional
of the directory (`professional`) or, for mail from a trusted domain whose sender the directory
does not know, only an address and a display name ("professionnel de santé").
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from carnet.core.models import PatientOwned


class Conversation(PatientOwned):
    """A thread between one space and one professional correspondent."""

    class StartedBy(models.TextChoices):
        PROFESSIONAL = "professional", _("professionnel")
        HOLDER = "holder", _("titulaire")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    professional = models.ForeignKey(
        "identity.Professional", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Where the holder's replies go (MSSanté address); empty when the professional only uses the
    # API (their software then reads the replies with FHIR Communication search).
    correspondent_address = models.CharField(max_length=254, blank=True)
    correspondent_name = models.CharField(max_length=200)
    correspondent_profession = models.CharField(max_length=200, blank=True)
    correspondent_organisation = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=300)
    started_by = models.CharField(max_length=20, choices=StartedBy.choices)
    # A professional message with `X-MSS-MES: FIN` or `[FIN]` closes the thread to replies.
    closed = models.BooleanField(default=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    last_message_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["patient", "-last_message_at"], name="conversation_latest"),
            models.Index(fields=["professional", "-last_message_at"], name="conversation_pro"),
        ]

    def __str__(self) -> str:
        return self.subject


class Direction(models.TextChoices):
    INBOUND = "in", _("reçu")  # from the professional to the holder
    OUTBOUND = "out", _("envoyé")  # from the holder to the professional


class Source(models.TextChoices):
    SMTP = "smtp", _("messagerie MSSanté")
    API = "api", _("logiciel du professionnel (API)")
    PORTAL = "portal", _("portail")


class Message(PatientOwned):
    """One message. `message_id` (RFC 5322, without angle brackets) is unique per space: a sender
    retrying a delivery finds its message already there and nothing is stored twice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.PROTECT, related_name="messages"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    message_id = models.CharField(max_length=255)
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.JSONField(default=list, blank=True)
    sender_address = models.CharField(max_length=254, blank=True)
    sender_name = models.CharField(max_length=200)
    # Who wrote an outbound message: the holder or a legal representative (account id).
    author_account_id = models.CharField(max_length=100, blank=True)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    sent_at = models.DateTimeField()  # the Date header, or when the holder sent it
    received_at = models.DateTimeField()  # when Carnet stored it
    read_at = models.DateTimeField(null=True, blank=True)
    # The holder deleted the conversation from their inbox: hidden from them, kept in the trace.
    hidden_by_holder = models.BooleanField(default=False)
    closes_conversation = models.BooleanField(default=False)
    # X-MSS-* headers and what was tolerated or noticed while parsing (for support and audit).
    mss_headers = models.JSONField(default=dict, blank=True)
    problems = models.JSONField(default=list, blank=True)
    raw_sha256 = models.CharField(max_length=64, blank=True)
    raw_size = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "message_id"], name="message_unique_id")
        ]
        indexes = [
            models.Index(fields=["conversation", "received_at"], name="message_thread"),
        ]

    def __str__(self) -> str:
        return self.subject


class Attachment(PatientOwned):
    """A file of a message, encrypted with the patient's key under `content_key`.

    A CDA document that came in an IHE_XDM.ZIP keeps its XDS metadata (`xdm_metadata`), so that
    saving it into the documents uses the type, title and dates the sender declared.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="attachments")
    position = models.PositiveSmallIntegerField(default=0)
    filename = models.CharField(max_length=255)
    title = models.CharField(max_length=300, blank=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_key = models.CharField(max_length=200)
    xdm_metadata = models.JSONField(null=True, blank=True)
    invisible_to_representatives = models.BooleanField(default=False)
    saved_document_id = models.UUIDField(null=True, blank=True)
    saved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.filename

    @property
    def is_cda(self) -> bool:
        return self.xdm_metadata is not None

    @property
    def is_calendar(self) -> bool:
        return self.content_type == "text/calendar"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("en attente d'envoi")
    SENDING = "sending", _("envoi en cours")
    SENT = "sent", _("envoyé")
    FAILED = "failed", _("échec de l'envoi")


class Outbox(PatientOwned):
    """A holder's message to send by SMTP to the professional's MSSanté address, and its attempts
    (same state machine as the notification outbox: claim, send, record, retry with backoff)."""

    message = models.OneToOneField(Message, on_delete=models.PROTECT, related_name="outbox")
    recipient = models.CharField(max_length=254)
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
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
        verbose_name_plural = "outbox"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due",
                condition=models.Q(status=OutboxStatus.PENDING),
            ),
            models.Index(
                fields=["lease_until"],
                name="outbox_leased",
                condition=models.Q(status=OutboxStatus.SENDING),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} {self.status}"
