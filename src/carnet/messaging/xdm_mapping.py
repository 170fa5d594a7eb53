"""IHE_XDM.ZIP metadata kept with each CDA attachment, and its mapping to a documents deposit.

At reception the XDS metadata of each document (METADATA.XML) is kept as JSON next to the
attachment (`document_metadata`); when the holder saves it, the JSON becomes the
`DocumentSubmission`, `PatientIdentity` and `SubmissionSetData` the documents service deposits,
so the document keeps the type, title, dates and author the sender declared.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from carnet.core import clock
from carnet.documents.services import DocumentSubmission, PatientIdentity, SubmissionSetData
from carnet.messaging.xdm import (
    INVISIBLE_PATIENT,
    INVISIBLE_REPRESENTANTS_LEGAUX,
    MASQUE_PS,
    Author,
    Code,
    Person,
    XdmDocument,
    XdmSubmissionSet,
)

_LEVELS = ("N", "R", "V")
_LABELS = frozenset({MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX})


def _code(code: Code | None) -> dict[str, str] | None:
    if code is None:
        return None
    return {"code": code.code, "system": code.scheme, "display": code.display}


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _person(person: Person | None) -> dict[str, str]:
    if person is None:
        return {}
    name = " ".join(part for part in (person.prefix, person.given, person.family) if part)
    return {"id": person.id, "name": name, "family": person.family, "given": person.given}


def _author(author: Author) -> dict[str, str]:
    found = _person(author.person)
    if author.institutions:
        first = author.institutions[0]
        found.update(organisation=first.id[:20], organisation_name=first.name)
    if author.specialties:
        found.update(specialty=author.specialties[0].code)
    if author.roles:
        found.update(role=author.roles[0].code)
    return found


def document_metadata(document: XdmDocument, submission_set: XdmSubmissionSet) -> dict[str, Any]:
    """The JSON kept with a CDA attachment (everything but the bytes)."""
    info = document.source_patient_info
    patient = document.patient_id or document.source_patient_id
    return {
        "unique_id": document.unique_id,
        "entry_uuid": document.entry_uuid,
        "title": document.title,
        "comments": document.comments,
        "mime_type": document.mime_type,
        "kind": document.kind.value,
        "type": _code(document.type_code),
        "type_code": document.type_code.code if document.type_code else "",
        "class_code": document.class_code.code if document.class_code else "",
        "format_code": document.format_code.code if document.format_code else "",
        "confidentiality": [c.code for c in document.confidentiality_codes],
        "facility_type": _code(document.healthcare_facility_type_code),
        "practice_setting": _code(document.practice_setting_code),
        "event_codes": [_code(c) for c in document.event_codes],
        "patient": {"id": patient.value, "oid": patient.oid} if patient else None,
        "source_patient": {
            "family": info.names[0].family if info and info.names else "",
            "given": info.names[0].given if info and info.names else "",
            "birth_date": info.birth_date.isoformat() if info and info.birth_date else None,
            "gender": info.gender if info else "",
            "birth_place": info.birth_place_code if info else "",
        },
        "authors": [_author(a) for a in document.authors],
        "legal_authenticator": _person(document.legal_authenticator),
        "creation_time": _time(document.creation_time),
        "service_start": _time(document.service_start_time),
        "service_stop": _time(document.service_stop_time),
        "language": document.language_code,
        "path": document.path,
        "size": document.size,
        "sha1": document.sha1,
        "problems": list(document.problems),
        "submission_set": {
            "unique_id": submission_set.unique_id,
            "source_id": submission_set.source_id,
            "submission_time": _time(submission_set.submission_time),
            "title": submission_set.title,
            "content_type_code": submission_set.content_type_code.code
            if submission_set.content_type_code
            else "",
        },
    }


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def patient_identity(metadata: dict[str, Any]) -> PatientIdentity | None:
    """The patient the document names (INS and strict traits), or None without an INS."""
    patient = metadata.get("patient") or {}
    if not patient.get("id") or not patient.get("oid"):
        return None
    traits = metadata.get("source_patient") or {}
    birth = traits.get("birth_date")
    return PatientIdentity(
        matricule=str(patient["id"]).strip().upper(),
        oid=str(patient["oid"]),
        birth_family_name=traits.get("family") or None,
        first_given_name=(traits.get("given") or "").split(" ")[0] or None,
        birth_date=dt.date.fromisoformat(birth) if birth else None,
        sex=traits.get("gender") or None,
        birth_place_code=traits.get("birth_place") or None,
    )


def _code_value(value: object) -> str:
    return str(value.get("code", "")) if isinstance(value, dict) else ""


def submission(
    metadata: dict[str, Any], *, created_fallback: dt.datetime | None = None
) -> DocumentSubmission:
    """The documents service's submission of a CDA received in an XDM."""
    confidentiality = [str(c) for c in metadata.get("confidentiality") or []]
    authors = metadata.get("authors") or [{}]
    created = _parse_time(metadata.get("creation_time")) or created_fallback
    return DocumentSubmission(
        unique_id=str(metadata.get("unique_id") or ""),
        type_code=str(metadata.get("type_code") or ""),
        title=str(metadata.get("title") or ""),
        created_at_source=created or clock.now(),
        mime_type="text/xml",
        format_code=str(metadata.get("format_code") or "") or None,
        class_code=str(metadata.get("class_code") or "") or None,
        service_start=_parse_time(metadata.get("service_start")),
        service_stop=_parse_time(metadata.get("service_stop")),
        facility_type=_code_value(metadata.get("facility_type")),
        practice_setting=_code_value(metadata.get("practice_setting")),
        language=str(metadata.get("language") or "fr-FR"),
        event_codes=[c for c in metadata.get("event_codes") or [] if isinstance(c, dict)],
        author={k: str(v) for k, v in (authors[0] or {}).items()},
        legal_authenticator={
            k: str(v) for k, v in (metadata.get("legal_authenticator") or {}).items()
        },
        confidentiality=next((c for c in confidentiality if c in _LEVELS), "N"),
        labels=frozenset(c for c in confidentiality if c in _LABELS),
        description=str(metadata.get("comments") or ""),
    )


def submission_set(metadata: dict[str, Any]) -> SubmissionSetData | None:
    found = metadata.get("submission_set") or {}
    if not found.get("unique_id"):
        return None
    return SubmissionSetData(
        unique_id=str(found["unique_id"]),
        submitted_at=_parse_time(found.get("submission_time")),
        source_id=str(found.get("source_id") or ""),
        content_type_code=str(found.get("content_type_code") or ""),
        title=str(found.get("title") or ""),
    )
