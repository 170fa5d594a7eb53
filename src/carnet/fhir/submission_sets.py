"""IHE SubmissionSet ("lot de soumission") ⇄ FHIR List (PDSm `pdsm-submissionset-comprehensive`).

A List's logical id carries the patient key and the set's id (`<patient hex><set hex>`, 64
characters, the longest FHIR id): the documents service finds submission sets per space, so a
read by id needs the space. The patient key is already public in `subject` references.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B.list import List as FhirList

from carnet.documents.services import SubmissionSetData
from carnet.fhir import dates, emitted
from carnet.fhir.documents import PDSM, RFC3986, master_identifier, unique_id_of
from carnet.fhir.issues import Issues, check_structure
from carnet.fhir.participants import (
    Ins,
    Resolver,
    as_dict,
    as_list,
    contained_participant,
    participant,
    subject_ins,
    text,
)

if TYPE_CHECKING:
    from carnet.documents.models import DocumentEntry, SubmissionSet

PROFILE_SUBMISSION_SET = PDSM + "pdsm-submissionset-comprehensive"
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
MHD_EXTENSION = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
DESIGNATION_TYPE = MHD_EXTENSION + "ihe-designationType"
SOURCE_ID = MHD_EXTENSION + "ihe-sourceId"
AUTHOR_ORG = MHD_EXTENSION + "ihe-authorOrg"


@dataclass
class ReadSubmissionSet:
    data: SubmissionSetData | None = None
    ins: Ins | None = None
    items: list[str] = field(default_factory=list)  # entry.item references, in order


def is_submission_set(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") == "List" and _list_type(resource) == "submissionset"


def is_folder(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") == "List" and _list_type(resource) == "folder"


def _list_type(resource: Mapping[str, Any]) -> str:
    for coding in as_list(as_dict(resource.get("code")).get("coding")):
        if text(as_dict(coding).get("system")) == MHD_LIST_TYPES:
            return text(as_dict(coding).get("code"))
    return ""


def read_submission_set(
    resource: Mapping[str, Any],
    *,
    path: str,
    resolver: Resolver,
    issues: Issues,
    full_url: str,
) -> ReadSubmissionSet:
    read = ReadSubmissionSet()
    structural = check_structure(FhirList, resource, path)
    if structural:
        issues.extend(structural)
        return read
    outer, issues = issues, Issues()
    try:
        _read_into(read, resource, path, resolver, issues, full_url)
    finally:
        outer.extend(issues.items)
    return read


def _read_into(
    read: ReadSubmissionSet,
    resource: Mapping[str, Any],
    path: str,
    resolver: Resolver,
    issues: Issues,
    full_url: str,
) -> None:
    if text(resource.get("status")) != "current":
        issues.error(
            f"{path}.status", f"{path}.status : un lot de soumission a le statut « current »."
        )
    if text(resource.get("mode")) != "working":
        issues.error(f"{path}.mode", f"{path}.mode : un lot de soumission a le mode « working ».")
    read.ins = subject_ins(resource.get("subject"), resolver, f"{path}.subject", issues)
    submitted_at = None
    if text(resource.get("date")):
        try:
            submitted_at = dates.parse_datetime(text(resource.get("date")))
        except dates.BadDate as error:
            issues.error(f"{path}.date", f"{path}.date : {error}", code="value")
    author: dict[str, str] = {}
    source = as_dict(resource.get("source"))
    if source.get("reference"):
        found = resolver.resolve(source)
        if found is None:
            issues.error(
                f"{path}.source",
                f"{path}.source : l'auteur du lot doit être une ressource contenue (#id).",
                code="value",
            )
        else:
            author = participant(found, resolver)
    for extension in as_list(source.get("extension")):
        if as_dict(extension).get("url") == AUTHOR_ORG:
            organisation = resolver.resolve(as_dict(extension).get("valueReference"))
            if organisation is not None:
                for key, value in participant(organisation, resolver).items():
                    if key.startswith("organisation"):
                        author.setdefault(key, value)
    unique_id = _unique_id(resource, path, issues, full_url)
    read.items = [
        text(as_dict(as_dict(entry).get("item")).get("reference"))
        for entry in as_list(resource.get("entry"))
    ]
    if issues or unique_id is None:
        return
    read.data = SubmissionSetData(
        unique_id=unique_id,
        submitted_at=submitted_at,
        source_id=_extension_identifier(resource, SOURCE_ID),
        content_type_code=_extension_code(resource, DESIGNATION_TYPE),
        title=text(resource.get("title"))[:300],
        author=author,
    )


def _unique_id(resource: Mapping[str, Any], path: str, issues: Issues, full_url: str) -> str | None:
    identifiers = [as_dict(i) for i in as_list(resource.get("identifier"))]
    usual = next((i for i in identifiers if i.get("use") == "usual"), None)
    chosen = usual or (identifiers[0] if len(identifiers) == 1 else None)
    value = text(chosen.get("value")) if chosen else ""
    if value:
        return unique_id_of(value)[:200]
    if full_url.startswith("urn:uuid:"):
        # Several PDSm examples omit it: the entry's fullUrl identifies the set instead, so a
        # re-sent Bundle still finds the same set.
        issues.warning(
            f"{path}.identifier",
            f"{path}.identifier : identifiant unique du lot (uniqueId, use=usual) absent : "
            f"le fullUrl {full_url} en tient lieu.",
        )
        return full_url
    issues.required(
        f"{path}.identifier",
        f"{path}.identifier : l'identifiant unique du lot (uniqueId, use=usual) est obligatoire.",
    )
    return None


def _extension_identifier(resource: Mapping[str, Any], url: str) -> str:
    for extension in as_list(resource.get("extension")):
        if as_dict(extension).get("url") == url:
            return text(as_dict(as_dict(extension).get("valueIdentifier")).get("value"))[:200]
    return ""


def _extension_code(resource: Mapping[str, Any], url: str) -> str:
    for extension in as_list(resource.get("extension")):
        if as_dict(extension).get("url") == url:
            concept = as_dict(as_dict(extension).get("valueCodeableConcept"))
            for coding in as_list(concept.get("coding")):
                if text(as_dict(coding).get("code")):
                    return text(as_dict(coding).get("code"))[:40]
    return ""


# --- Writing ------------------------------------------------------------------------------------


def list_id(row: SubmissionSet) -> str:
    return uuid.UUID(str(row.patient_id)).hex + uuid.UUID(str(row.pk)).hex


def split_list_id(value: str) -> tuple[str, str] | None:
    """(patient key, submission set id) of a List id, or None if it is not one of ours."""
    if len(value) != 64:
        return None
    try:
        return str(uuid.UUID(hex=value[:32])), str(uuid.UUID(hex=value[32:]))
    except ValueError:
        return None


def submission_set_list(row: SubmissionSet, documents: Sequence[DocumentEntry]) -> dict[str, Any]:
    """A stored submission set as a PDSm SubmissionSet List, its visible documents as entries."""
    contained, source = contained_participant(row.author, "auteur")
    resource: dict[str, Any] = {
        "resourceType": "List",
        "id": list_id(row),
        "meta": {"profile": [PROFILE_SUBMISSION_SET]},
        "extension": [],
        "identifier": [
            {"use": "usual", **master_identifier(row.unique_id)},
            {"use": "official", "system": RFC3986, "value": f"urn:uuid:{row.pk}"},
        ],
        "status": "current",
        "mode": "working",
        "code": {"coding": [{"system": MHD_LIST_TYPES, "code": "submissionset"}]},
        "subject": {"reference": f"Patient/{row.patient_id}"},
        "date": dates.instant(row.submitted_at),
        "entry": [{"item": {"reference": f"DocumentReference/{d.pk}"}} for d in documents],
    }
    if row.content_type_code:
        resource["extension"].append(
            {
                "url": DESIGNATION_TYPE,
                "valueCodeableConcept": {"coding": [{"code": row.content_type_code}]},
            }
        )
    if row.source_id:
        resource["extension"].append(
            {"url": SOURCE_ID, "valueIdentifier": {"value": row.source_id}}
        )
    if not resource["extension"]:
        del resource["extension"]
    if row.title:
        resource["title"] = row.title
    if contained:
        resource["contained"] = contained
    if source is not None:
        kind = contained[0]["resourceType"] if contained else ""
        if kind == "Organization":
            # List.source cannot be an Organization: the institution goes in ihe-authorOrg.
            resource["source"] = {"extension": [{"url": AUTHOR_ORG, "valueReference": source}]}
        else:
            resource["source"] = source
    emitted.check(FhirList, resource)
    return resource
