"""IHE MHD / PDSm document sharing over FHIR R4: the professional (and insurer) document API.

- ITI-65 Provide Document Bundle: `POST [base]/` with a transaction Bundle (via `fhir.bundle`);
- ITI-105 Simplified Publish: `POST [base]/DocumentReference`;
- ITI-67 Find Document References: `GET [base]/DocumentReference?…`, and the read by id;
- ITI-68 Retrieve Document: `GET [base]/Binary/<id>` (the bytes, or a Binary resource when
  `Accept: application/fhir+json`);
- ITI-66 Find Document Lists: `GET [base]/List?…`, `GET [base]/List/<id>`;
- PDSm metadata update and deletion: `PATCH [base]/DocumentReference/<id>` or the conditional
  `PATCH [base]/DocumentReference?identifier=…` (JSON Patch).

Handlers only translate: they read FHIR, call `documents.services` (which goes through the access
gate and the audit trail) and write FHIR. They store nothing and decide nothing.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from carnet.access.actors import Actor
from carnet.core.errors import InvalidInput, NotFound
from carnet.core.requests import api_actor
from carnet.documents import services
from carnet.fhir import capability
from carnet.fhir.documents import (
    PROFILE_COMPREHENSIVE,
    PROFILE_SIMPLIFIED,
    document_reference,
    read_document_reference,
    unique_id_of,
)
from carnet.fhir.issues import InvalidResource, Issues
from carnet.fhir.outcome import Issue, fhir_response, operation_outcome
from carnet.fhir.participants import Resolver, ins_from_token
from carnet.fhir.patch import from_fhirpath_patch, metadata_change
from carnet.fhir.provide import deposit  # importing it also registers ITI-65 with fhir.bundle
from carnet.fhir.search import (
    DOCUMENT_PARAMS,
    LIST_PARAMS,
    PatientSelector,
    document_search,
    list_search,
    searchset,
)
from carnet.fhir.submission_sets import PROFILE_SUBMISSION_SET, split_list_id, submission_set_list
from carnet.identity import services as identity

router = Router(tags=["FHIR MHD"])

capability.declare(
    "DocumentReference",
    interactions=["create", "read", "search-type", "patch"],
    search_params=DOCUMENT_PARAMS,
    profiles=[PROFILE_COMPREHENSIVE, PROFILE_SIMPLIFIED],
)
capability.declare("Binary", interactions=["read"])
capability.declare(
    "List",
    interactions=["read", "search-type"],
    search_params=LIST_PARAMS,
    profiles=[PROFILE_SUBMISSION_SET],
)

FHIR_TYPES = ("application/fhir+json", "application/json")
JSON_PATCH = "application/json-patch+json"


def base_url() -> str:
    return settings.SITE_URL + "/fhir/R4"


def _actor(request: HttpRequest) -> Actor:
    return api_actor(request)


def _refused(
    expression: str, message: str, *, code: str = "invalid", status: int = 400
) -> InvalidResource:
    return InvalidResource(
        [Issue(code=code, diagnostics=message, expression=expression)], status=status
    )


def read_json(request: HttpRequest, *, accepted: Sequence[str] = FHIR_TYPES) -> Any:
    """The request body as JSON, or an InvalidResource saying what is wrong with it."""
    content_type = request.content_type or ""
    if content_type not in accepted:
        raise _refused(
            "Content-Type",
            f"Type de contenu « {content_type or 'absent'} » non pris en charge : "
            f"utilisez {' ou '.join(accepted)}.",
            code="not-supported",
            status=415,
        )
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError) as error:
        raise _refused("body", "Le corps de la requête n'est pas un JSON valide.") from error


def read_resource(request: HttpRequest, resource_type: str) -> dict[str, Any]:
    resource = read_json(request)
    if not isinstance(resource, dict) or resource.get("resourceType") != resource_type:
        raise _refused(
            "resourceType",
            f"Une ressource {resource_type} est attendue dans le corps de la requête.",
        )
    return resource


def _no_store(response: HttpResponse) -> HttpResponse:
    # Health data: never kept by shared caches.
    response["Cache-Control"] = "no-store"
    return response


def _document_response(entry: Any, status: int = 200) -> HttpResponse:
    response = fhir_response(
        document_reference(entry, base_url=base_url()),
        status=status,
        ETag=f'W/"{entry.version}"',
        Location=f"{base_url()}/DocumentReference/{entry.pk}/_history/{entry.version}",
    )
    return _no_store(response)


# --- ITI-105 Simplified Publish -----------------------------------------------------------------


@router.post("/DocumentReference", include_in_schema=False)
def simplified_publish(request: HttpRequest) -> HttpResponse:
    resource = read_resource(request, "DocumentReference")
    issues = Issues()
    read = read_document_reference(
        resource,
        path="DocumentReference",
        simplified=True,
        resolver=Resolver.of(resource),
        issues=issues,
    )
    issues.raise_if_any()
    assert read.submission is not None  # noqa: S101 (no issues were found)
    assert read.ins is not None  # noqa: S101
    result = deposit(_actor(request), read.ins, read.traits, [read], submission_set=None)[0]
    return _deposit_response(request, result)


def _deposit_response(request: HttpRequest, result: services.DepositResult) -> HttpResponse:
    entry = result.document
    if result.created:
        return _document_response(entry, status=201)
    # Already deposited: show it only if the actor may read it (another depositor's document).
    try:
        entry = services.get_document(_actor(request), str(entry.pk))
    except NotFound:
        return _no_store(
            fhir_response(
                operation_outcome(
                    [
                        Issue(
                            code="duplicate",
                            severity="information",
                            diagnostics="Ce document est déjà présent dans l'espace santé.",
                        )
                    ]
                ),
                Location=f"{base_url()}/DocumentReference/{entry.pk}",
            )
        )
    return _document_response(entry)


# --- ITI-67 Find Document References, read ----------------------------------------------------


def _patient_key(selector: PatientSelector) -> str:
    """The space a search names, or "" (which matches nothing, and is audited as such)."""
    if selector.ins is None:
        return selector.patient_id
    holder = identity.holder_for_ins(selector.ins.matricule, selector.ins.oid)
    return str(holder.pk) if holder is not None else ""


@router.get("/DocumentReference", include_in_schema=False)
def find_document_references(request: HttpRequest) -> HttpResponse:
    query, filters = document_search(request.GET, prefer=request.headers.get("Prefer", ""))
    page = services.search_documents(
        _actor(request),
        patient_id=_patient_key(query.patient),
        filters=filters,
        offset=query.offset,
        limit=query.count,
    )
    bundle = searchset(
        base_url=base_url(),
        resource_type="DocumentReference",
        query=query,
        total=page.total,
        resources=[document_reference(row, base_url=base_url()) for row in page.rows],
    )
    return _no_store(fhir_response(bundle))


@router.get("/DocumentReference/{document_id}", include_in_schema=False)
def read_document_reference_by_id(request: HttpRequest, document_id: str) -> HttpResponse:
    return _document_response(services.get_document(_actor(request), document_id))


# --- Metadata updates -------------------------------------------------------------------------


def _patch(request: HttpRequest, entry: Any) -> HttpResponse:
    if request.content_type == JSON_PATCH:
        operations = read_json(request, accepted=(JSON_PATCH,))
    else:
        operations = from_fhirpath_patch(read_resource(request, "Parameters"))
    expected = request.headers.get("If-Match")
    if expected and expected.strip() not in {f'W/"{entry.version}"', f'"{entry.version}"'}:
        raise _refused(
            "If-Match",
            f"Le document a changé depuis la version {expected} : version actuelle "
            f"{entry.version}.",
            code="conflict",
            status=412,
        )
    change = metadata_change(
        document_reference(entry, base_url=base_url()),
        operations,
        confidentiality=entry.confidentiality,
        invisible_until=entry.invisible_until,
    )
    updated = services.update_metadata(_actor(request), str(entry.pk), change)
    return _document_response(updated)


@router.patch("/DocumentReference/{document_id}", include_in_schema=False)
def patch_document_reference(request: HttpRequest, document_id: str) -> HttpResponse:
    return _patch(request, services.get_document(_actor(request), document_id))


@router.patch("/DocumentReference", include_in_schema=False)
def conditional_patch(request: HttpRequest) -> HttpResponse:
    """`PATCH [base]/DocumentReference?identifier=…` (PDSm4DMP): the entryUUID (urn:uuid:<id>)
    alone, or the uniqueId together with the patient (patient.identifier or patient)."""
    params = request.GET
    identifier = params.get("identifier", "")
    if not identifier or len(params.getlist("identifier")) > 1:
        raise _refused("identifier", "identifier : un (seul) identifiant de document est attendu.")
    value = unique_id_of(identifier.rpartition("|")[2].strip())
    actor = _actor(request)
    if value.lower().startswith("urn:uuid:") and not (
        params.get("patient") or params.get("patient.identifier")
    ):
        return _patch(request, services.get_document(actor, value[len("urn:uuid:") :]))
    selector = _selector(params)
    if selector is None:
        raise _refused(
            "patient.identifier",
            "patient.identifier : pour désigner un document par son identifiant unique, "
            "précisez le patient (patient.identifier=urn:oid:…|<INS>).",
        )
    entry = services.find_document_by_unique_id(actor, _patient_key(selector), value)
    return _patch(request, entry)


def _selector(params: Mapping[str, str]) -> PatientSelector | None:
    if params.get("patient"):
        return PatientSelector(patient_id=params["patient"].rsplit("/", 1)[-1])
    token = params.get("patient.identifier", "")
    if not token:
        return None
    try:
        ins = ins_from_token(token)
    except InvalidInput as error:
        raise _refused("patient.identifier", f"INS invalide. {error.message}") from error
    return PatientSelector(ins=ins) if ins else None


# --- ITI-68 Retrieve Document -----------------------------------------------------------------


def _wants_binary_resource(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return any(
        part.split(";")[0].strip() in FHIR_TYPES for part in accept.split(",") if part.strip()
    )


@router.get("/Binary/{document_id}", include_in_schema=False)
def retrieve_document(request: HttpRequest, document_id: str) -> HttpResponse:
    entry, stream = services.open_content(_actor(request), document_id)
    if _wants_binary_resource(request):
        data = b"".join(stream)
        resource = {
            "resourceType": "Binary",
            "id": str(entry.pk),
            "contentType": entry.mime_type,
            "data": base64.b64encode(data).decode("ascii"),
        }
        return _no_store(fhir_response(resource, ETag=f'W/"{entry.version}"'))
    response = StreamingHttpResponse(_chunks(stream), content_type=entry.mime_type)
    response["Content-Length"] = str(entry.size)
    response["ETag"] = f'"{entry.sha256}"'
    # Served from our origin: never rendered as a page (a stored HTML or SVG could run scripts).
    extension = mimetypes.guess_extension(entry.mime_type) or ""
    response["Content-Disposition"] = f'attachment; filename="document-{entry.pk}{extension}"'
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]


def _chunks(stream: Iterator[bytes]) -> Iterator[bytes]:
    yield from stream


# --- ITI-66 Find Document Lists ---------------------------------------------------------------


@router.get("/List", include_in_schema=False)
def find_document_lists(request: HttpRequest) -> HttpResponse:
    query, matches = list_search(request.GET, prefer=request.headers.get("Prefer", ""))
    actor = _actor(request)
    rows, total = services.list_submission_sets(
        actor,
        patient_id=_patient_key(query.patient) if matches else "",
        offset=query.offset,
        limit=query.count,
    )
    resources = [submission_set_list(row, services.documents_of_set(actor, row)) for row in rows]
    bundle = searchset(
        base_url=base_url(), resource_type="List", query=query, total=total, resources=resources
    )
    return _no_store(fhir_response(bundle))


@router.get("/List/{list_id}", include_in_schema=False)
def read_list(request: HttpRequest, list_id: str) -> HttpResponse:
    keys = split_list_id(list_id)
    if keys is None:
        raise NotFound("Ressource introuvable.")
    patient_id, set_id = keys
    actor = _actor(request)
    offset, total = 0, 1
    while offset < total:
        rows, total = services.list_submission_sets(
            actor, patient_id=patient_id, offset=offset, limit=100
        )
        if not rows:
            break
        for row in rows:
            if str(row.pk) == set_id:
                documents = services.documents_of_set(actor, row)
                return _no_store(fhir_response(submission_set_list(row, documents)))
        offset += 100
    raise NotFound("Ressource introuvable.")
