"""Base models shared by the domain apps (no domain rules here)."""

from __future__ import annotations

import uuid

from django.db import models


class PatientOwned(models.Model):
    """A row that belongs to one patient's space.

    Every such row carries the patient key (indexed) so that the access gate can always start from
    the patient, and so that the data can later be sharded by patient.
    """

    patient = models.ForeignKey(
        "identity.Holder", on_delete=models.PROTECT, related_name="+", db_index=True
    )

    class Meta:
        abstract = True


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()
