"""The audit trail: append-only, hash-chained per patient.

Rows are never updated or deleted by code; the admin is read-only, and database triggers
refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL). Each row carries an HMAC of its content
and of the previous row's HMAC in the same chain, so `manage.py audit_verify` detects an
altered or removed row.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

GLOBAL_CHAIN = "global"


class Outcome(models.TextChoices):
    ALLOWED = "allowed", _("autorisé")
    DENIED = "denied", _("refusé")


class AuditEvent(models.Model):
    chain = models.CharField(max_length=40)
    seq = models.PositiveBigIntegerField()
    # No foreign key: the trail outlives the data it describes.
    patient_id = models.UUIDField(null=True, blank=True, db_index=True)
    occurred_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=100)
    actor_label = models.CharField(max_length=200, blank=True)
    actor_profession = models.CharField(max_length=40, blank=True)
    actor_organisation = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=80)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reason = models.CharField(max_length=300, blank=True)
    mode = models.CharField(max_length=20, default="normal")
    resource_type = models.CharField(max_length=40, blank=True)
    resource_id = models.CharField(max_length=100, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_chain_seq_unique")
        ]
        indexes = [models.Index(fields=["patient_id", "occurred_at"], name="audit_patient_time")]
        ordering = ["chain", "seq"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action} {self.outcome}"


class ChainHead(models.Model):
    """The last link of each chain, so that removing the newest rows is detected too."""

    chain = models.CharField(max_length=40, primary_key=True)
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq}"
