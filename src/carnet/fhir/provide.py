"""ITI-65 Provide Document Bundle, and the hand-over of checked documents to the service.

A transaction Bundle posted to the base URL reaches `provide_document_bundle` through the
dispatcher of `fhir.bundle` when it carries List, DocumentReference or Binary entries. Every entry
is read and every problem collected before anything is stored; the documents service then stores
the whole submission set or nothing. The answer has one entry per request entry, in order.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from carnet.access.actors import Actor
from carnet.core.errors import InvalidInput
from carnet.documents import cda, services
from carnet.fhir import bundle as bundle_dispatch
from carnet.fhir.documents import BinaryData, ReadDocument, read_document_reference
from carnet.fhir.issues import InvalidResource, Issues
from carnet.fhir.outcome import Issue, operation_outcome
from carnet.fhir.participants import Ins, Resolver, Traits, as_dict, as_list, patient_identity, text
from carnet.fhir.patch import from_fhirpath_patch
from carnet.fhir.submission_sets import (
    ReadSubmissionSet,
    is_folder,
    is_submission_set,
    read_submission_set,
)


def _refused(expression: str, message: str) -> InvalidResource:
    return InvalidResource([Issue(code="invalid", diagnostics=message, expression=expression)])


def deposit(
    actor: Actor,
    ins: Ins,
    traits: Traits | None,
    documents: Sequence[ReadDocument],
    *,
    submission_set: services.SubmissionSetData | None,
) -> list[services.DepositResult]:
    """Hand the checked documents to the service; a domain refusal names the document at fault
    when it can (the service reports the element, the Bundle path comes from here)."""
    try:
        return services.deposit_documents(
            actor,
            patient=patient_identity(ins, traits),
            documents=[(d.submission, d.content or b"") for d in documents if d.submission],
            submission_set=submission_set,
        )
    except InvalidResource:
        raise
    except InvalidInput as error:
        raise _located(error, documents) from error


def _located(error: InvalidInput, documents: Sequence[ReadDocument]) -> InvalidResource:
    """The service's refusal as an issue on the document's FHIR path. The subject's INS was
    checked here already, so an INS or CDA refusal is about the document's content."""
    where = documents[0].path if len(documents) == 1 else "Bundle.entry.resource"
    in_content = isinstance(error, cda.InvalidCda) or error.code == "invalid-ins"
    if in_content or error.field == "content":
        expression = f"{where}.content[0].attachment"
    else:
        expression = f"{where}.{error.field}" if error.field else where
    message = error.message
    if error.code == "invalid-ins":
        message = f"INS du document CDA invalide : {message}"
    elif isinstance(error, cda.InvalidCda):
        message = f"Document CDA refusé : {message}"
    identity = error.code in {"identity-mismatch", "invalid-ins"}
    return InvalidResource(
        [
            Issue(
                code="business-rule" if identity else "invalid",
                diagnostics=message,
                expression=expression,
            )
        ],
        status=422 if identity else 400,
    )


# --- ITI-65 Provide Document Bundle -------------------------------------------------------------


@dataclass
class _Entry:
    index: int
    path: str
    full_url: str
    resource: Mapping[str, Any]
    method: str
    url: str
    kind: str  # "submission-set", "document", "binary", "patient", "supersede"


def is_provide_document_bundle(bundle: Mapping[str, Any]) -> bool:
    """A Bundle carrying documents (what `fhir.bundle` dispatches to ITI-65)."""
    kinds = {
        str(as_dict(as_dict(e).get("resource")).get("resourceType"))
        for e in as_list(bundle.get("entry"))
    }
    return bool(kinds & {"DocumentReference", "List", "Binary"})


def provide_document_bundle(actor: Actor, bundle: Mapping[str, Any]) -> dict[str, Any]:
    """ITI-65: one submission set, its documents and their Binaries, stored all or nothing; the
    transaction-response has one entry per request entry, in the same order."""
    if bundle.get("type") != "transaction":
        raise _refused(
            "Bundle.type",
            "Bundle.type : un dépôt de documents (ITI-65) est un Bundle de type « transaction ».",
        )
    issues = Issues()
    entries = _entries(bundle, issues)
    by_url = {e.full_url: e.resource for e in entries if e.full_url}
    binaries = _binaries(entries, issues)
    sets = [e for e in entries if e.kind == "submission-set"]
    documents: list[ReadDocument] = []
    for entry in entries:
        if entry.kind != "document":
            continue
        read = read_document_reference(
            entry.resource,
            path=f"{entry.path}.resource",
            simplified=False,
            resolver=Resolver.of(entry.resource, by_url),
            issues=issues,
            binaries=binaries,
        )
        read.full_url = entry.full_url
        documents.append(read)
    submission_set = ReadSubmissionSet()
    if len(sets) != 1:
        issues.error(
            "Bundle.entry",
            "Bundle.entry : un Bundle ITI-65 contient exactement un lot de soumission (List "
            f"code=submissionset) ; reçu : {len(sets)}.",
        )
    else:
        submission_set = read_submission_set(
            sets[0].resource,
            path=f"{sets[0].path}.resource",
            resolver=Resolver.of(sets[0].resource, by_url),
            issues=issues,
            full_url=sets[0].full_url,
        )
    if not documents:
        issues.required("Bundle.entry", "Bundle.entry : au moins un DocumentReference est attendu.")
    _cross_checks(entries, documents, submission_set, sets, issues)
    issues.raise_if_any()
    assert submission_set.data is not None  # noqa: S101 (no issues were found)
    assert submission_set.ins is not None  # noqa: S101
    traits = next((d.traits for d in documents if d.traits is not None), None)
    results = deposit(
        actor, submission_set.ins, traits, documents, submission_set=submission_set.data
    )
    return _transaction_response(entries, documents, results, issues.warnings)


bundle_dispatch.register(
    "iti-65", matches=is_provide_document_bundle, handle=provide_document_bundle
)


_KINDS = {"DocumentReference": "document", "Binary": "binary", "Patient": "patient"}


def _entries(bundle: Mapping[str, Any], issues: Issues) -> list[_Entry]:
    found: list[_Entry] = []
    seen: set[str] = set()
    for index, raw in enumerate(as_list(bundle.get("entry"))):
        path = f"Bundle.entry[{index}]"
        item = as_dict(raw)
        resource = as_dict(item.get("resource"))
        request = as_dict(item.get("request"))
        method, url = text(request.get("method")).upper(), text(request.get("url"))
        full_url = text(item.get("fullUrl"))
        kind = resource.get("resourceType")
        if not resource:
            issues.required(f"{path}.resource", f"{path}.resource : ressource absente.")
            continue
        if full_url:
            if full_url in seen:
                issues.error(f"{path}.fullUrl", f"{path}.fullUrl : « {full_url} » est en double.")
            seen.add(full_url)
        if kind == "Parameters" and method == "PATCH":
            entry_kind = "supersede"
        elif kind == "List" and is_submission_set(resource):
            entry_kind = "submission-set"
        elif kind == "List" and is_folder(resource):
            issues.error(
                f"{path}.resource",
                f"{path}.resource : les classeurs (List code=folder) ne sont pas pris en charge "
                "par le DMP.",
                code="not-supported",
            )
            continue
        elif isinstance(kind, str) and kind in _KINDS:
            entry_kind = _KINDS[kind]
        else:
            issues.error(
                f"{path}.resource",
                f"{path}.resource : ressource « {kind} » inattendue dans un Bundle ITI-65 (List, "
                "DocumentReference, Binary, Patient).",
                code="not-supported",
            )
            continue
        if entry_kind in {"submission-set", "document", "binary"} and (
            method != "POST" or url != kind
        ):
            issues.error(
                f"{path}.request",
                f"{path}.request : une création « POST {kind} » est attendue (reçu : "
                f"« {method} {url} »).",
            )
        if entry_kind in {"document", "binary"} and not full_url.startswith("urn:uuid:"):
            issues.required(
                f"{path}.fullUrl",
                f"{path}.fullUrl : un fullUrl urn:uuid:… est obligatoire pour les "
                "DocumentReference et les Binary.",
            )
        found.append(_Entry(index, path, full_url, resource, method, url, entry_kind))
    return found


def _binaries(entries: Sequence[_Entry], issues: Issues) -> dict[str, BinaryData]:
    found: dict[str, BinaryData] = {}
    for entry in entries:
        if entry.kind != "binary":
            continue
        here = f"{entry.path}.resource"
        content_type = text(entry.resource.get("contentType"))
        if not content_type:
            issues.required(f"{here}.contentType", f"{here}.contentType : obligatoire.")
        data = entry.resource.get("data")
        if not isinstance(data, str) or not data:
            issues.required(f"{here}.data", f"{here}.data : le contenu (base64) est obligatoire.")
            continue
        try:
            content = base64.b64decode("".join(data.split()), validate=True)
        except ValueError:
            issues.error(f"{here}.data", f"{here}.data : contenu base64 invalide.", code="value")
            continue
        found[entry.full_url] = BinaryData(content=content, content_type=content_type, path=here)
    return found


def _cross_checks(
    entries: Sequence[_Entry],
    documents: Sequence[ReadDocument],
    submission_set: ReadSubmissionSet,
    sets: Sequence[_Entry],
    issues: Issues,
) -> None:
    """What ties the entries together: one patient, the set lists exactly the documents, each
    Binary belongs to one document, and the only PATCH is the superseding of a replaced one."""
    for document in documents:
        if submission_set.ins and document.ins and document.ins != submission_set.ins:
            issues.error(
                f"{document.path}.subject",
                f"{document.path}.subject : le document désigne un autre patient que le lot de "
                "soumission.",
                code="business-rule",
            )
    if sets and submission_set.data is not None:
        listed = set(submission_set.items)
        urls = {d.full_url for d in documents}
        for document in documents:
            if document.full_url not in listed:
                issues.error(
                    f"{sets[0].path}.resource.entry",
                    f"{sets[0].path}.resource.entry : le document {document.full_url} n'est pas "
                    "listé dans le lot de soumission.",
                )
        for item in submission_set.items:
            if item not in urls:
                issues.error(
                    f"{sets[0].path}.resource.entry",
                    f"{sets[0].path}.resource.entry : « {item} » ne désigne aucun "
                    "DocumentReference de ce Bundle.",
                )
    used = [d.binary_url for d in documents if d.binary_url]
    for entry in entries:
        if entry.kind == "binary" and used.count(entry.full_url) != 1:
            issues.error(
                f"{entry.path}",
                f"{entry.path} : chaque Binary est le contenu d'un et un seul DocumentReference.",
            )
    replaced = {d.replaces for d in documents if d.replaces}
    for entry in entries:
        if entry.kind != "supersede":
            continue
        try:
            operations = from_fhirpath_patch(entry.resource)
        except InvalidResource:
            operations = []
        if entry.url not in replaced or operations != [
            {"op": "replace", "path": "/status", "value": "superseded"}
        ]:
            issues.error(
                f"{entry.path}.request",
                f"{entry.path}.request : dans un Bundle ITI-65, un PATCH ne peut que marquer "
                "« superseded » le document qu'un DocumentReference du Bundle remplace "
                "(relatesTo).",
                code="not-supported",
            )
    traits = {d.traits for d in documents if d.traits is not None}
    if len(traits) > 1:
        issues.error(
            "Bundle.entry",
            "Bundle.entry : les DocumentReference donnent des traits d'identité différents pour "
            "le patient (context.sourcePatientInfo).",
            code="business-rule",
        )


def _transaction_response(
    entries: Sequence[_Entry],
    documents: Sequence[ReadDocument],
    results: Sequence[services.DepositResult],
    warnings: Sequence[Issue],
) -> dict[str, Any]:
    by_url = {d.full_url: r for d, r in zip(documents, results, strict=True)}
    by_binary = {d.binary_url: r for d, r in zip(documents, results, strict=True) if d.binary_url}
    by_replaced = {d.replaces: r for d, r in zip(documents, results, strict=True) if d.replaces}
    any_created = any(r.created for r in results)
    # The set this deposit recorded (an already present document keeps its earlier set).
    first = next((r.document for r in results if r.created), results[0].document)
    response_entries: list[dict[str, Any]] = []
    for entry in entries:
        answer: dict[str, Any]
        if entry.kind == "submission-set":
            set_id = first.submission_set_id
            location = (
                f"List/{uuid.UUID(str(first.patient_id)).hex}{uuid.UUID(str(set_id)).hex}"
                if set_id is not None
                else "List"
            )
            answer = {"status": "201 Created" if any_created else "200 OK", "location": location}
            if warnings:
                answer["outcome"] = operation_outcome(warnings)
        elif entry.kind == "document":
            result = by_url[entry.full_url]
            answer = _created(result, f"DocumentReference/{result.document.pk}")
            answer["location"] += f"/_history/{result.document.version}"
            answer["etag"] = f'W/"{result.document.version}"'
        elif entry.kind == "binary":
            result = by_binary[entry.full_url]
            answer = _created(result, f"Binary/{result.document.pk}")
        elif entry.kind == "supersede":
            result = by_replaced[entry.url]
            replaced_id = result.document.replaces_id
            answer = {"status": "200 OK", "location": f"DocumentReference/{replaced_id}"}
        else:
            answer = {"status": "200 OK", "location": f"Patient/{first.patient_id}"}
        response_entries.append({"response": answer})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": response_entries}


def _created(result: services.DepositResult, location: str) -> dict[str, Any]:
    return {"status": "201 Created" if result.created else "200 OK", "location": location}
