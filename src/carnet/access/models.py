"""The facts the access policy reads about professionals and one holder's space.

- `CareTeamMember`: a professional's right to read the space, with its basis (médecin traitant,
  authorised by the holder, consent declared by the professional), its dates and whether the
  holder gave it the médecin traitant's reach over masked documents ("droits étendus").
- `ConsentDeclaration`: a professional's declaration that the holder consented during care, kept
  as declared (dated, with the channel and the resource received) even once superseded.
- `Block`: the holder refused this professional; it overrides every other right.
- `SpaceSettings`: the holder's emergency-access oppositions and the "mask everything" choice.

Rows are ended rather than deleted (`ended_at`, `unblocked_at`) so the holder's history stays
readable; the audit trail records every change as well. `carnet.access.facts` turns these rows
into the `policy.Relation` the decision reads.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from carnet.core.models import PatientOwned


class Basis(models.TextChoices):
    MEDECIN_TRAITANT = "medecin_traitant", _("médecin traitant")
    AUTHORISED = "autorise", _("autorisé par le titulaire")
    DECLARED_CONSENT = "consentement_declare", _("consentement déclaré par le professionnel")


class ConsentDeclaration(PatientOwned):
    """A professional declared that the holder consented to their access during care
    (CSP L1111-17: consent may be collected by any means, at each consultation)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    professional = models.ForeignKey(
        "identity.Professional", on_delete=models.PROTECT, related_name="+"
    )
    declared_at = models.DateTimeField()
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    channel = models.CharField(max_length=20)  # "api" or "pro-web"
    organisation = models.CharField(max_length=20, blank=True)  # IDNST acted for
    organisation_name = models.CharField(max_length=200, blank=True)
    statement = models.CharField(max_length=500, blank=True)
    source = models.JSONField(default=dict, blank=True)  # the resource as received (API)

    class Meta:
        ordering = ["-declared_at"]

    def __str__(self) -> str:
        return f"consent {self.professional_id} → {self.patient_id} ({self.declared_at:%Y-%m-%d})"


class CareTeamMember(PatientOwned):
    """A professional's access right to one space, on one basis, for a period."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    professional = models.ForeignKey(
        "identity.Professional", on_delete=models.PROTECT, related_name="+"
    )
    basis = models.CharField(max_length=30, choices=Basis.choices)
    extended_rights = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_by_kind = models.CharField(max_length=20)
    created_by_id = models.CharField(max_length=100)
    declaration = models.ForeignKey(
        ConsentDeclaration, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "professional", "basis"],
                condition=Q(ended_at__isnull=True),
                name="care_team_one_open_right_per_basis",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(ended_at__isnull=True, basis="medecin_traitant"),
                name="care_team_one_medecin_traitant",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "professional"], name="care_team_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.professional_id} ({self.basis}) → {self.patient_id}"


class Block(PatientOwned):
    """The holder blocked a professional: refused everything until unblocked."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    professional = models.ForeignKey(
        "identity.Professional", on_delete=models.PROTECT, related_name="+"
    )
    blocked_at = models.DateTimeField()
    unblocked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "professional"],
                condition=Q(unblocked_at__isnull=True),
                name="block_one_open_per_professional",
            )
        ]

    def __str__(self) -> str:
        return f"block {self.professional_id} on {self.patient_id}"


class SpaceSettings(PatientOwned):
    """The holder's access choices for the whole space (absent row = the defaults: emergency
    access allowed, as pre-ticked at creation; documents masked one by one)."""

    break_glass_opposed = models.BooleanField(default=False)
    centre_15_opposed = models.BooleanField(default=False)
    # Every document is treated as masked, in every mode including emergencies: only the author,
    # the médecin traitant and professionals with extended rights still read them.
    mask_all = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="space_settings_one_per_patient")
        ]

    def __str__(self) -> str:
        return f"settings of {self.patient_id}"
