"""DMP documents: entries (metadata), submission sets, and each patient's content key.

The content itself lives encrypted in the content store (`documents.storage`); a row here is
created in the same transaction that records the deposit, after the content is stored, so a
crash leaves either a complete document or none.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from carnet.core.models import PatientOwned
from carnet.core.text import folded


class DepositorKind(models.TextChoices):
    PROFESSIONAL = "professional", _("professionnel de santé")
    ORGANISATION = "organisation", _("établissement")
    INSURER = "insurer", _("Assurance Maladie")
    HOLDER = "holder", _("titulaire")


class Status(models.TextChoices):
    CURRENT = "current", _("à jour")
    SUPERSEDED = "superseded", _("remplacé")
    DELETED = "entered-in-error", _("supprimé")


class PatientKey(PatientOwned):
    """The patient's data key, wrapped by a key-encryption key; destroyed when the space closes."""

    wrapped_key = models.BinaryField(null=True)
    kek_id = models.CharField(max_length=40)
    created_at = models.DateTimeField()
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["patient"], name="one_key_per_patient")]

    def __str__(self) -> str:
        return f"key of {self.patient_id}"


class SubmissionSet(PatientOwned):
    """An IHE submission set ("lot de soumission"): documents deposited together."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    unique_id = models.CharField(max_length=200)
    source_id = models.CharField(max_length=200, blank=True)
    submitted_at = models.DateTimeField()
    content_type_code = models.CharField(max_length=40, blank=True)
    title = models.CharField(max_length=300, blank=True)
    author = models.JSONField(default=dict, blank=True)
    depositor_kind = models.CharField(max_length=20, choices=DepositorKind.choices)
    depositor_id = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "unique_id"], name="submissionset_unique_id")
        ]

    def __str__(self) -> str:
        return self.unique_id


class DocumentEntry(PatientOwned):
    """One document's metadata (the DMP "fiche"); `id` is the stable logical id, `version`
    counts metadata versions (each PATCH keeps the id and increments the version)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.PositiveIntegerField(default=1)
    unique_id = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CURRENT)
    archived = models.BooleanField(default=False)
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    submission_set = models.ForeignKey(
        SubmissionSet, null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    # Classification (type → class → holder category and professional space).
    type_code = models.CharField(max_length=40)
    type_system = models.CharField(max_length=200)
    type_display = models.CharField(max_length=300)
    class_code = models.CharField(max_length=10)
    holder_category = models.CharField(max_length=40)
    dmp_space = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    # The title without accents or case, for the holder's search (kept in step by save()).
    title_folded = models.CharField(max_length=300, blank=True, default="", editable=False)
    description = models.TextField(blank=True)
    created_at_source = models.DateTimeField()  # creationTime (the document's own date)
    service_start = models.DateTimeField(null=True, blank=True)
    service_stop = models.DateTimeField(null=True, blank=True)
    # Content facts.
    format_code = models.CharField(max_length=200)
    mime_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha1 = models.CharField(max_length=40)
    sha256 = models.CharField(max_length=64)
    language = models.CharField(max_length=10, default="fr-FR")
    content_key = models.CharField(max_length=200)
    cda_level = models.CharField(max_length=2, blank=True)  # "N1", "N3" or "" (not CDA)
    # Context.
    facility_type = models.CharField(max_length=40)
    practice_setting = models.CharField(max_length=40)
    event_codes = models.JSONField(default=list, blank=True)
    # Author (person, role, specialty, organisation) and legal authenticator.
    author_professional = models.ForeignKey(
        "identity.Professional", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    author = models.JSONField(default=dict, blank=True)
    author_organisation = models.CharField(max_length=20, blank=True)  # IDNST
    legal_authenticator = models.JSONField(default=dict, blank=True)
    # Confidentiality and visibility.
    confidentiality = models.CharField(max_length=2, default="N")
    masked = models.BooleanField(default=False)  # MASQUE_PS
    invisible_to_patient = models.BooleanField(default=False)  # INVISIBLE_PATIENT
    invisible_until = models.DateTimeField(null=True, blank=True)
    invisible_to_representatives = models.BooleanField(default=False)
    # Who deposited it, and when.
    depositor_kind = models.CharField(max_length=20, choices=DepositorKind.choices)
    depositor_id = models.CharField(max_length=100)
    depositor_label = models.CharField(max_length=200, blank=True)
    deposited_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    opened_by_holder_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "unique_id"], name="document_unique_id"),
        ]
        indexes = [
            models.Index(
                fields=["patient", "status", "-created_at_source"], name="doc_patient_list"
            ),
            models.Index(fields=["patient", "sha256", "type_code"], name="doc_patient_content"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.title_folded = folded(self.title)[:300]
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "title" in update_fields:
            kwargs["update_fields"] = {*update_fields, "title_folded"}
        super().save(*args, **kwargs)


class DocumentVersion(PatientOwned):
    """Earlier metadata versions of a document, kept when a PATCH changes it."""

    document = models.ForeignKey(DocumentEntry, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "version"], name="document_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.document_id} v{self.version}"
