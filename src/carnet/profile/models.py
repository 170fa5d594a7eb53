"""Medical profile storage: one row per profile item (its FHIR resource) and one per measure.

Rows hold their own invariants only; who may read or write them is decided by the access gate
in `services.py`, which every read and write goes through.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from carnet.core.models import PatientOwned


class AuthorKind(models.TextChoices):
    HOLDER = "holder", _("titulaire")
    PROFESSIONAL = "professional", _("professionnel de santé")
    APP = "app", _("application")
    SYSTEM = "system", _("Assurance Maladie")


class ProfileItem(PatientOwned):
    """An item of a profile section, stored as the FHIR R4 resource that carries it.

    `resource` is the validated resource (its `id` is this row's id; `meta` is written on the
    way out). The indexed columns are derived from it on every save, for sorting and search:
    `title` (what lists show), `date` (onset, occurrence…). The author is who created the item;
    the editor is who changed it last (the holder correcting a professional's item, say).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    section = models.CharField(max_length=40)
    kind = models.CharField(max_length=40)
    resource_type = models.CharField(max_length=40)
    resource = models.JSONField()
    title = models.CharField(max_length=200)
    date = models.DateField(null=True, blank=True)
    author_kind = models.CharField(max_length=20, choices=AuthorKind.choices)
    author_id = models.CharField(max_length=100)
    author_label = models.CharField(max_length=200, blank=True)
    author_profession = models.CharField(max_length=40, blank=True)
    author_organisation = models.CharField(max_length=200, blank=True)
    editor_kind = models.CharField(max_length=20, choices=AuthorKind.choices, blank=True)
    editor_label = models.CharField(max_length=200, blank=True)
    # Hidden from professionals by the holder (still shown to the holder, marked as hidden).
    hidden = models.BooleanField(default=False)
    # The sender's identifier of the item (the insurer's claim id): a repeated feed is idempotent.
    external_id = models.CharField(max_length=200, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["patient", "section"], name="profile_item_section"),
            models.Index(fields=["patient", "resource_type"], name="profile_item_type"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "resource_type", "external_id"],
                condition=~Q(external_id=""),
                name="profile_item_unique_external_id",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="profile_item_version"),
        ]

    def __str__(self) -> str:
        return f"{self.section}: {self.title}"


class MeasureSource(models.TextChoices):
    HOLDER = "holder", _("saisie par le titulaire")
    PROFESSIONAL = "professional", _("professionnel de santé")
    APP = "app", _("application")
    DEVICE = "device", _("objet connecté")
    SYSTEM = "system", _("système")


class Measure(PatientOwned):
    """One health measure of the ANS guide, validated by `measures.validate_measure`.

    `values` maps each series (`value`, or `systolic`/`diastolic`) to its value in the guide's
    canonical UCUM `unit`, as a decimal string (exact, portable across databases). `effective`
    keeps the date as it was given (ISO date, or date-time with its offset) and `effective_at`
    the instant it is sorted and plotted by.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.CharField(max_length=40)
    values = models.JSONField()
    unit = models.CharField(max_length=20)
    effective = models.CharField(max_length=40)
    effective_at = models.DateTimeField()
    original_value = models.CharField(max_length=40, blank=True)
    original_unit = models.CharField(max_length=20, blank=True)
    moment = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, default="final")
    source = models.CharField(max_length=20, choices=MeasureSource.choices)
    author_kind = models.CharField(max_length=20, choices=AuthorKind.choices)
    author_id = models.CharField(max_length=100)
    author_label = models.CharField(max_length=200, blank=True)
    author_profession = models.CharField(max_length=40, blank=True)
    source_uri = models.CharField(max_length=200, blank=True)
    device = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["patient", "key", "effective_at"], name="profile_measure_series"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(version__gte=1), name="profile_measure_version"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.effective}"
