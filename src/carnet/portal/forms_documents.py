"""Forms of the holder's documents pages: list filters, upload, visibility, and the upload guard.

The upload form never trusts the browser's declared content type: the format is recognised from
the file's first bytes, and the documents service checks it again before storing anything.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from carnet.documents import classification
from carnet.documents.services import HOLDER_UPLOAD_TYPES, SearchFilters

PAGE_SIZE = 20
SORTS = {"recents": "-date", "anciens": "date"}


def category_choices() -> list[tuple[str, str]]:
    return [(c.slug, c.label) for c in classification.holder_categories()]


def _filter_category_choices() -> list[tuple[str, str]]:
    return [("", str(_("Toutes"))), *category_choices()]


def max_upload_label() -> str:
    """The upload limit as the holder reads it ("20 Mo")."""
    limit: int = settings.CARNET_MAX_DOCUMENT_BYTES
    if limit % (1024 * 1024) == 0:
        return str(_("%(n)s Mo") % {"n": limit // (1024 * 1024)})
    return str(filesizeformat(limit))


class DocumentFilterForm(forms.Form):
    """The list's criteria, read from the query string (the same with or without htmx)."""

    categorie = forms.ChoiceField(
        label=_("Catégorie"), required=False, choices=_filter_category_choices
    )
    type = forms.CharField(label=_("Type de document"), required=False, max_length=40)
    auteur = forms.CharField(label=_("Déposé par"), required=False, max_length=200)
    q = forms.CharField(label=_("Rechercher dans les titres"), required=False, max_length=200)
    tri = forms.ChoiceField(
        label=_("Trier par date"),
        required=False,
        choices=[("recents", _("Plus récents d'abord")), ("anciens", _("Plus anciens d'abord"))],
    )
    page = forms.IntegerField(label=_("Page"), required=False, min_value=1, max_value=100_000)

    def clean_type(self) -> str:
        code: str = self.cleaned_data["type"].strip()
        if code and classification.document_type(code) is None:
            raise forms.ValidationError(_("Ce type de document n'existe pas."))
        return code

    def search_filters(self) -> SearchFilters:
        data = self.cleaned_data
        return SearchFilters(
            holder_category=data["categorie"],
            type_codes=(data["type"],) if data["type"] else (),
            depositor=data["auteur"].strip(),
            text=data["q"].strip(),
            sort=SORTS[data["tri"] or "recents"],
        )

    def offset(self) -> int:
        return ((self.cleaned_data["page"] or 1) - 1) * PAGE_SIZE


class BoundedUploadHandler(FileUploadHandler):
    """Stops receiving a file once it passes the size limit, and remembers it did.

    Raising SkipFile drops the rest of that file only, so the other fields are still parsed and
    the form can answer "too big" with the holder's input kept, without the server first
    spooling an arbitrarily large file to disk.
    """

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def sniff_mime_type(upload: UploadedFile) -> str | None:
    """PDF, JPEG or PNG recognised from the first bytes; None for anything else."""
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    for mime_type, magic in HOLDER_UPLOAD_TYPES.items():
        if head.startswith(magic):
            return mime_type
    return None


class UploadForm(forms.Form):
    fichier = forms.FileField(
        label=_("Fichier"),
        required=False,
        error_messages={
            "empty": _("Le fichier est vide."),
            "invalid": _("Aucun fichier n'a été reçu : choisissez-le à nouveau."),
            "missing": _("Aucun fichier n'a été reçu : choisissez-le à nouveau."),
        },
    )
    titre = forms.CharField(label=_("Titre du document"), required=False, max_length=200)
    categorie = forms.ChoiceField(
        label=_("Catégorie"),
        choices=category_choices,
        error_messages={
            "required": _("Choisissez une catégorie."),
            "invalid_choice": _("Choisissez une des catégories proposées."),
        },
    )

    def __init__(self, *args: Any, guard: BoundedUploadHandler | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.mime_type = ""

    def clean_fichier(self) -> UploadedFile:
        upload: UploadedFile | None = self.cleaned_data.get("fichier")
        limit = settings.CARNET_MAX_DOCUMENT_BYTES
        if (self.guard is not None and self.guard.exceeded) or (
            upload and (upload.size or 0) > limit
        ):
            raise forms.ValidationError(
                _("Le fichier dépasse la taille maximale de %(max)s.") % {"max": max_upload_label()}
            )
        if upload is None:
            raise forms.ValidationError(_("Choisissez un fichier à déposer."))
        if not upload.size:
            raise forms.ValidationError(_("Le fichier est vide."))
        mime_type = sniff_mime_type(upload)
        if mime_type is None:
            raise forms.ValidationError(
                _("Format refusé : seuls les fichiers PDF, JPEG et PNG sont acceptés.")
            )
        self.mime_type = mime_type
        return upload

    def title(self) -> str:
        """The title typed, or else the file's name without its extension."""
        typed: str = self.cleaned_data["titre"].strip()
        return typed or PurePath(self.cleaned_data["fichier"].name or "").stem[:200]


class VisibilityForm(forms.Form):
    visibilite = forms.ChoiceField(
        choices=[("masque", _("Masqué aux professionnels")), ("visible", _("Visible"))]
    )

    @property
    def masked(self) -> bool:
        return bool(self.cleaned_data["visibilite"] == "masque")
