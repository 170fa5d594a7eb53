"""The holder's documents: list with filters (htmx), document page, view, download, upload,
hide from professionals, delete. Views parse, call `documents.services`, render.

Everything a document reveals is read through the documents service, so the access gate decides
and records each read; a document the actor may not read is a plain 404.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from carnet.core.errors import CarnetError
from carnet.documents import classification
from carnet.documents import services as documents
from carnet.documents.services import SearchFilters
from carnet.portal import session
from carnet.portal.forms_documents import (
    PAGE_SIZE,
    BoundedUploadHandler,
    DocumentFilterForm,
    UploadForm,
    VisibilityForm,
    max_upload_label,
)

# The filter choices come from this many of the space's most recent documents (the service's cap).
# What the browser may show inline: anything else is only offered as a download.
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
# The body of an N1 CDA, known from its format code (ASS_A12) without reading the content.
N1_BODY_TYPES = {
    "urn:ihe:iti:xds-sd:pdf:2008": "application/pdf",
    "urn:ihe:iti-fr:xds-sd:jpeg:2010": "image/jpeg",
    "urn:ihe:iti:xds-sd:text:2008": "text/plain",
    "urn:ihe:iti-fr:xds-sd:rtf:2010": "text/rtf",
    "urn:ihe:iti-fr:xds-sd:tiff:2010": "image/tiff",
}
EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/tiff": ".tif",
    "text/plain": ".txt",
    "text/rtf": ".rtf",
    "text/xml": ".xml",
    "application/xml": ".xml",
    "application/hl7-cda+xml": ".xml",
}
FORMAT_LABELS = {
    "application/pdf": gettext_lazy("PDF"),
    "image/jpeg": gettext_lazy("image JPEG"),
    "image/png": gettext_lazy("image PNG"),
    "image/tiff": gettext_lazy("image TIFF"),
    "text/plain": gettext_lazy("texte"),
    "text/rtf": gettext_lazy("RTF"),
}
# Files leave with a policy that lets them run nothing, even if a browser misreads them.
FILE_CSP = (
    "default-src 'none'; img-src 'self'; object-src 'self'; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)
DOWNLOAD_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_UPLOAD_FIELDS = {"file": "fichier", "category": "categorie", "content.attachment.title": "titre"}


# --- Presentation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShownDocument:
    """A document as the holder sees it in a list or on its page."""

    entry: Any
    category: str
    depositor: str
    is_new: bool
    own_upload: bool


def _shown(entry: Any, actor: Any) -> ShownDocument:
    mine = entry.depositor_kind == "holder" and entry.depositor_id == actor.id
    return ShownDocument(
        entry=entry,
        category=_category_label(entry.holder_category),
        depositor=_depositor(entry, mine),
        # The holder's own uploads are never "new" to them.
        is_new=entry.opened_by_holder_at is None and not mine,
        own_upload=entry.depositor_kind == "holder",
    )


def _category_label(slug: str) -> str:
    try:
        return classification.holder_category(slug).label
    except CarnetError:
        return slug


def _depositor(entry: Any, mine: bool) -> str:
    return _depositor_kind(str(entry.depositor_kind), str(entry.depositor_label), mine)


def _depositor_kind(kind: str, label: str, mine: bool) -> str:
    if mine:
        return _("vous")
    if kind == "insurer":
        return _("l'Assurance Maladie")
    if label:
        return label
    return _("un professionnel de santé")


def _author(entry: Any) -> str:
    """The author as the deposit described them (name, specialty), whatever the channel."""
    author = entry.author if isinstance(entry.author, dict) else {}
    name = author.get("name") or " ".join(
        str(author[key]) for key in ("prefix", "given", "family") if author.get(key)
    )
    role = author.get("specialty_display") or author.get("role_display") or ""
    return ", ".join(str(part) for part in (name, role) if part)


def _organisation(entry: Any) -> str:
    author = entry.author if isinstance(entry.author, dict) else {}
    return str(author.get("organisation_name") or entry.author_organisation or "")


def _readable_type(entry: Any) -> str:
    """The media type the holder reads: the N1 body, the N3 narrative, or the file itself."""
    if entry.cda_level == "N3":
        return "text/html"
    if entry.cda_level == "N1":
        return N1_BODY_TYPES.get(entry.format_code, "")
    return str(entry.mime_type)


def _format_label(entry: Any) -> str:
    readable = FORMAT_LABELS.get(_readable_type(entry), entry.mime_type)
    if entry.cda_level == "N1":
        return _("%(format)s (document CDA R2 de niveau 1)") % {"format": readable}
    if entry.cda_level == "N3":
        return _("document CDA R2 structuré (niveau 3)")
    return str(readable)


def _class_label(entry: Any) -> str:
    found = classification.document_type(entry.type_code)
    return (found.class_display or "") if found else ""


def _filename(entry: Any, mime_type: str) -> str:
    """A readable French file name: the title and the document's date, with an extension."""
    title = _UNSAFE_FILENAME.sub(" ", str(entry.title)).strip()[:100] or _("document")
    day = timezone.localtime(entry.created_at_source).strftime("%d-%m-%Y")
    extension = EXTENSIONS.get(mime_type) or mimetypes.guess_extension(mime_type) or ".bin"
    return f"{' '.join(title.split())} ({day}){extension}"


def _safe_mime(mime_type: str) -> str:
    mime_type = mime_type.strip().lower()
    return mime_type if _MIME.match(mime_type) else "application/octet-stream"


def _file_response(
    content: bytes | Iterator[bytes], mime_type: str, filename: str, *, inline: bool, size: int
) -> HttpResponseBase:
    response: HttpResponseBase
    if isinstance(content, bytes):
        response = HttpResponse(content, content_type=_safe_mime(mime_type))
    else:
        response = StreamingHttpResponse(content, content_type=_safe_mime(mime_type))
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = content_disposition_header(not inline, filename) or ""
    response["Content-Security-Policy"] = FILE_CSP if inline else DOWNLOAD_CSP
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- Requests -------------------------------------------------------------------------------------


def _space_id(request: HttpRequest) -> str:
    space_id = session.current_space(request)
    if space_id is None:
        raise Http404
    return space_id


def _document(request: HttpRequest, document_id: Any) -> Any:
    try:
        return documents.get_document(request.actor, str(document_id))  # type: ignore[attr-defined]
    except CarnetError as exc:  # NotFound, or a refusal: existence is never confirmed
        raise Http404 from exc


def _rendition(request: HttpRequest, document_id: Any) -> documents.Rendition:
    """What the holder reads of a document (N1 body, N3 narrative); 404 if it cannot be read."""
    try:
        return documents.holder_rendition(request.actor, str(document_id))[1]  # type: ignore[attr-defined]
    except CarnetError as exc:  # refused, closed space, or a body that no longer decodes
        raise Http404 from exc


def _open(request: HttpRequest, document_id: Any) -> tuple[Any, Iterator[bytes]]:
    """The document and its content stream, read through the service (marks it opened)."""
    try:
        return documents.open_content(request.actor, str(document_id))  # type: ignore[attr-defined]
    except CarnetError as exc:  # not found, refused, or a closed space: nothing to hand out
        raise Http404 from exc


def _partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request  # type: ignore[union-attr]


def _page_url(request: HttpRequest, number: int) -> str:
    query = request.GET.copy()
    query["page"] = str(number)
    return f"{reverse('portal:documents')}?{query.urlencode()}"


def _pagination(request: HttpRequest, page: documents.Page) -> dict[str, Any]:
    count = max(1, -(-page.total // PAGE_SIZE))
    current = page.offset // PAGE_SIZE + 1
    shown = sorted({1, count, *range(max(1, current - 2), min(count, current + 2) + 1)})
    items: list[dict[str, Any]] = []
    for number in shown:
        if items and number - items[-1]["number"] > 1:
            items.append({"number": number - 1, "gap": True})
        items.append(
            {"number": number, "url": _page_url(request, number), "current": number == current}
        )
    return {
        "items": items if count > 1 else [],
        "current": current,
        "count": count,
        "previous": _page_url(request, current - 1) if current > 1 else "",
        "next": _page_url(request, current + 1) if current < count else "",
    }


def _results(request: HttpRequest, page: documents.Page | None) -> dict[str, Any]:
    if page is None:
        return {"rows": [], "total": 0, "valid": False}
    trigger = getattr(getattr(request, "htmx", None), "trigger", None) or ""
    return {
        "rows": [_shown(entry, request.actor) for entry in page.rows],  # type: ignore[attr-defined]
        "total": page.total,
        "valid": True,
        "pagination": _pagination(request, page),
        # After a page change the link that was used is gone: move focus to the results.
        "focus": trigger.startswith("pagination-"),
    }


def _choices(
    request: HttpRequest, space_id: str, form: DocumentFilterForm, facets: documents.Facets | None
) -> dict[str, Any]:
    """Filter choices over all the documents of the space: category counts, types, depositors."""
    actor = request.actor  # type: ignore[attr-defined]
    if facets is None:  # the list itself could not be searched (invalid filters)
        facets = documents.document_facets(actor, patient_id=space_id, filters=SearchFilters())
    chosen = form.cleaned_data if form.is_valid() else {}
    types = dict(facets.types)
    if chosen.get("type") and chosen["type"] not in types:
        known = classification.document_type(chosen["type"])
        types[chosen["type"]] = known.display if known else chosen["type"]
    authors = {
        label: _depositor_label(label, kind, depositor_id, actor)
        for label, kind, depositor_id in facets.depositors
    }
    if chosen.get("auteur") and chosen["auteur"] not in authors:
        authors[chosen["auteur"]] = chosen["auteur"]
    return {
        "categories": [
            {"slug": c.slug, "label": c.label, "count": facets.categories.get(c.slug, 0)}
            for c in classification.holder_categories()
        ],
        "all_count": facets.total,
        "types": sorted(types.items(), key=lambda item: item[1].lower()),
        "authors": sorted(authors.items(), key=lambda item: item[1].lower()),
        "empty_space": facets.total == 0,
    }


def _depositor_label(label: str, kind: str, depositor_id: str, actor: Any) -> str:
    mine = kind == "holder" and depositor_id == actor.id
    return _depositor_kind(kind, label, mine)


_MASKED_MESSAGE = gettext_lazy(
    "Document masqué : les professionnels de santé ne le voient plus, sauf son auteur et votre "
    "médecin traitant."
)
_SHOWN_MESSAGE = gettext_lazy(
    "Document de nouveau visible par les professionnels de santé autorisés."
)


# --- Views ----------------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
def document_list(request: HttpRequest) -> HttpResponse:
    space_id = _space_id(request)
    form = DocumentFilterForm(request.GET)
    page, facets = None, None
    partial = _partial(request)
    if form.is_valid():
        actor = request.actor  # type: ignore[attr-defined]
        filters, offset = form.search_filters(), form.offset()
        try:
            if partial:  # the filters stay as they are: only the results change
                page = documents.search_documents(
                    actor, patient_id=space_id, filters=filters, offset=offset, limit=PAGE_SIZE
                )
            else:  # one search (one trace event) for the page and the filter choices
                page, facets = documents.document_list(
                    actor, patient_id=space_id, filters=filters, offset=offset, limit=PAGE_SIZE
                )
        except CarnetError as exc:
            form.add_error(None, exc.message)
            page = None
    context: dict[str, Any] = {"form": form, "results": _results(request, page)}
    if partial:  # htmx shows only 2xx answers: errors are in the fragment itself
        return render(request, "portal/documents/list.html#results", context | {"partial": True})
    context |= _choices(request, space_id, form, facets)
    status = 400 if form.errors else 200
    return render(request, "portal/documents/list.html", context, status=status)


@require_GET
def document_detail(request: HttpRequest, document_id: Any) -> HttpResponse:
    entry = _document(request, document_id)
    readable = _readable_type(entry)
    narrative = ""
    if readable == "text/html":
        # The service renders the N3 narrative through an allow-list sanitiser.
        narrative = _rendition(request, document_id).html
    context = {
        "document": _shown(entry, request.actor),  # type: ignore[attr-defined]
        "readable": readable,
        "inline": readable in INLINE_TYPES,
        "narrative": narrative,
        "author": _author(entry),
        "organisation": _organisation(entry),
        "format_label": _format_label(entry),
        "class_label": _class_label(entry),
    }
    return render(request, "portal/documents/detail.html", context)


@require_GET
@xframe_options_sameorigin
def document_view(request: HttpRequest, document_id: Any) -> HttpResponseBase:
    """The document shown inline (PDF or image), embeddable only by our own pages."""
    entry = _document(request, document_id)
    content: bytes | Iterator[bytes]
    if _readable_type(entry) not in INLINE_TYPES:
        raise Http404
    if entry.cda_level:
        rendition = _rendition(request, document_id)
        content, mime_type, size = rendition.content, rendition.mime_type, len(rendition.content)
    else:
        entry, content = _open(request, document_id)
        mime_type, size = entry.mime_type, entry.size
    if mime_type not in INLINE_TYPES:  # an N1 body other than its format code announced
        raise Http404
    return _file_response(content, mime_type, _filename(entry, mime_type), inline=True, size=size)


@require_GET
def document_download(request: HttpRequest, document_id: Any) -> HttpResponseBase:
    """The document exactly as it was deposited (for a CDA: the XML file)."""
    entry, stream = _open(request, document_id)
    filename = _filename(entry, entry.mime_type)
    return _file_response(stream, entry.mime_type, filename, inline=False, size=entry.size)


@require_GET
def document_download_readable(request: HttpRequest, document_id: Any) -> HttpResponseBase:
    """The readable content of an N1 CDA (its PDF or image), as a file."""
    entry = _document(request, document_id)
    if entry.cda_level != "N1":
        raise Http404
    rendition = _rendition(request, document_id)
    filename = _filename(entry, rendition.mime_type)
    size = len(rendition.content)
    return _file_response(rendition.content, rendition.mime_type, filename, inline=False, size=size)


@require_POST
def document_visibility(request: HttpRequest, document_id: Any) -> HttpResponse:
    entry = _document(request, document_id)
    form = VisibilityForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choix de visibilité non reconnu : rien n'a été modifié."))
        return redirect("portal:document", entry.pk)
    try:
        documents.set_masked(request.actor, str(entry.pk), masked=form.masked)  # type: ignore[attr-defined]
    except CarnetError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _MASKED_MESSAGE if form.masked else _SHOWN_MESSAGE)
    return redirect("portal:document", entry.pk)


@require_http_methods(["GET", "POST"])
def document_delete(request: HttpRequest, document_id: Any) -> HttpResponse:
    shown = _shown(_document(request, document_id), request.actor)  # type: ignore[attr-defined]
    if not shown.own_upload:
        messages.error(
            request,
            _("Vous ne pouvez supprimer que les documents que vous avez ajoutés vous-même."),
        )
        return redirect("portal:document", shown.entry.pk)
    if request.method == "POST":
        try:
            documents.delete_document(request.actor, str(shown.entry.pk))  # type: ignore[attr-defined]
        except CarnetError as exc:
            messages.error(request, exc.message)
            return redirect("portal:document", shown.entry.pk)
        messages.success(request, _("« %(title)s » a été supprimé.") % {"title": shown.entry.title})
        return redirect("portal:documents")
    context = {"document": shown}
    return render(request, "portal/documents/delete.html", context)


@csrf_exempt  # checked by _upload, once the size guard is in place (Django's documented pattern)
@require_http_methods(["GET", "POST"])
def document_upload(request: HttpRequest) -> HttpResponse:
    # The guard must be installed before anything reads the body, CSRF included.
    guard = BoundedUploadHandler(request, settings.CARNET_MAX_DOCUMENT_BYTES)
    handlers = request.upload_handlers
    if isinstance(handlers, list):  # it becomes immutable once the body is read
        handlers.insert(0, guard)
    return _upload(request, guard)


@csrf_protect
def _upload(request: HttpRequest, guard: BoundedUploadHandler) -> HttpResponse:
    space_id = _space_id(request)
    posted = request.method == "POST"
    form = UploadForm(
        request.POST if posted else None,
        request.FILES if posted else None,
        guard=guard,
        initial={"categorie": request.GET.get("categorie", "")},
    )
    if posted and form.is_valid():
        try:
            result = documents.deposit_holder_document(
                request.actor,  # type: ignore[attr-defined]
                patient_id=space_id,
                content=form.cleaned_data["fichier"].chunks(),
                mime_type=form.mime_type,
                title=form.title(),
                category=form.cleaned_data["categorie"],
            )
        except CarnetError as exc:
            form.add_error(_UPLOAD_FIELDS.get(exc.field or ""), exc.message)
        else:
            return _uploaded(request, result)
    context = {"form": form, "max_size": max_upload_label()}
    return render(
        request, "portal/documents/upload.html", context, status=400 if form.errors else 200
    )


def _uploaded(request: HttpRequest, result: documents.DepositResult) -> HttpResponse:
    entry = result.document
    if not result.created:
        messages.info(request, _("Ce document figure déjà dans votre espace : le voici."))
        return redirect("portal:document", entry.pk)
    category = _category_label(entry.holder_category)
    messages.success(
        request,
        _("« %(title)s » a été ajouté dans « %(category)s ».")
        % {"title": entry.title, "category": category},
    )
    query = urlencode({"categorie": entry.holder_category})
    return redirect(f"{reverse('portal:documents')}?{query}")
