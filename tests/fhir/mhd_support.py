"""Building blocks for the MHD/PDSm API tests: professional software and insurer sessions with real
signed tokens, and PDSm resources (DocumentReference, SubmissionSet List, Binary, ITI-65 Bundle)
for the ANS test patient, built the way a professional's software (LPS) builds them."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from carnet.documents.cda import CdaHeader, read_cda_header
from tests.documents.helpers import ANS_INS, PDF, cda_bytes
from tests.factories import register_issuer
from tests.identity import jwt_factory as jf
from tests.paths import FHIR_DIR

BASE = "/fhir/R4"
FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
RFC3986 = "urn:ietf:rfc:3986"
INS_TEST = "urn:oid:1.2.250.1.213.1.4.10"
SUBJECT = {"reference": f"Patient?identifier={INS_TEST}|{ANS_INS}"}
NOS = "https://mos.esante.gouv.fr/NOS/"
CLASS = NOS + "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
FACILITY = NOS + "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
PRACTICE = NOS + "TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
FORMAT = NOS + "TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
VISIBILITY = NOS + "TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument"
IS_ARCHIVED = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
INSURER_ISSUER = "urn:carnet:test:assurance-maladie"
OTHER_RPPS = jf.with_luhn("1000000002")


# --- Sessions -------------------------------------------------------------------------------------


def fast_passwords(settings: Any) -> None:
    """The holders' passwords play no part in these tests: skip Argon2's deliberate slowness."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def register_software(settings: Any) -> None:
    """The professional software (LPS) registered with its public keys, and the insurer."""
    settings.CARNET_JWT_AUDIENCE = jf.AUDIENCE
    register_issuer(issuer=jf.ISSUER, name="Logiciel test", jwks=jf.jwks(jf.rsa_key()))
    register_issuer(
        issuer=INSURER_ISSUER,
        name="Assurance Maladie",
        jwks=jf.jwks(jf.rsa_key("cnam")),
        is_insurer=True,
    )


def token(*, rpps: str = jf.RPPS, insurer: bool = False, **claims: Any) -> str:
    now = int(time.time())
    values = {"iat": now, "exp": now + 300, "rpps": rpps, "sub": "8" + rpps, **claims}
    if insurer:
        values["iss"] = INSURER_ISSUER
        return jf.mint_token(jf.rsa_key("cnam"), jf.professional_claims(**values))
    return jf.mint_token(jf.rsa_key(), jf.professional_claims(**values))


@dataclass
class Software:
    """A client calling the FHIR API with one bearer token."""

    client: Any
    bearer: str

    def _headers(self, **headers: str) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.bearer}", **headers}

    def get(self, path: str, data: Any = None, **headers: str) -> Any:
        return self.client.get(BASE + path, data, **self._headers(**headers))

    def post(self, path: str, body: Any, content_type: str = FHIR_JSON, **headers: str) -> Any:
        payload = body if isinstance(body, bytes | str) else json.dumps(body)
        return self.client.post(
            BASE + path, payload, content_type=content_type, **self._headers(**headers)
        )

    def patch(self, path: str, body: Any, content_type: str = JSON_PATCH, **headers: str) -> Any:
        payload = body if isinstance(body, bytes | str) else json.dumps(body)
        return self.client.patch(
            BASE + path, payload, content_type=content_type, **self._headers(**headers)
        )

    def provide(self, bundle: dict[str, Any]) -> Any:
        """ITI-65: the transaction Bundle posted to the base URL."""
        return self.post("/", bundle)


def professional(client: Any, rpps: str = jf.RPPS, **claims: Any) -> Software:
    return Software(client, token(rpps=rpps, **claims))


def insurer(client: Any) -> Software:
    return Software(client, token(insurer=True))


def outcome(response: Any) -> list[dict[str, Any]]:
    """The issues of an OperationOutcome answer (checked to be one)."""
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    assert response["Content-Type"].startswith(FHIR_JSON), response.content[:200]
    body = response.json()
    OperationOutcome.model_validate(body)
    return list(body["issue"])


def expressions(response: Any) -> set[str]:
    return {e for issue in outcome(response) for e in issue.get("expression", [])}


# --- Resources ------------------------------------------------------------------------------------


def sha1_b64(content: bytes) -> str:
    return base64.b64encode(hashlib.sha1(content).digest()).decode()  # noqa: S324 (XDS hash)


def author_practitioner(rpps: str = jf.RPPS) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": "auteur",
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "8" + rpps}],
        "name": [{"family": "MÉDECIN-TEST", "given": ["Camille"]}],
    }


def source_patient() -> dict[str, Any]:
    """The ANS test patient as the LPS knows her (INS + strict traits, FR Core)."""
    return {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [{"system": INS_TEST, "value": ANS_INS}],
        "name": [{"use": "official", "family": "PAT-TROIS", "given": ["DOMINIQUE"]}],
        "gender": "female",
        "birthDate": "1979-03-28",
    }


def docref(
    unique_id: str,
    *,
    content: bytes = PDF,
    binary_url: str | None = "urn:uuid:00000000-0000-4000-8000-0000000000b1",
    type_code: str = "11488-4",
    type_system: str = "http://loinc.org",
    class_code: str = "10",
    title: str = "Compte rendu de consultation",
    date: str = "2025-01-10T09:30:00+01:00",
    mime_type: str = "application/pdf",
    format_code: str = "urn:ihe:iti:xds-sd:pdf:2008",
    facility: str = "SA07",
    practice: str = "AMBULATOIRE",
    labels: tuple[str, ...] = (),
    rpps: str = jf.RPPS,
) -> dict[str, Any]:
    """A PDSm comprehensive DocumentReference for the ANS test patient."""
    attachment: dict[str, Any] = {
        "contentType": mime_type,
        "language": "fr-FR",
        "size": len(content),
        "hash": sha1_b64(content),
        "title": title,
        "creation": date,
    }
    if binary_url is None:
        attachment["data"] = base64.b64encode(content).decode()
    else:
        attachment["url"] = binary_url
    security = [{"coding": [{"system": CONFIDENTIALITY, "code": "N"}]}]
    security += [{"coding": [{"system": VISIBILITY, "code": code}]} for code in labels]
    return {
        "resourceType": "DocumentReference",
        "contained": [author_practitioner(rpps), source_patient()],
        "masterIdentifier": {
            "system": RFC3986,
            "value": unique_id if unique_id.startswith("urn:") else f"urn:oid:{unique_id}",
        },
        "status": "current",
        "type": {"coding": [{"system": type_system, "code": type_code}]},
        "category": [{"coding": [{"system": CLASS, "code": class_code}]}],
        "subject": dict(SUBJECT),
        "date": date,
        "author": [{"reference": "#auteur"}],
        "securityLabel": security,
        "content": [
            {
                "attachment": attachment,
                "format": {"system": FORMAT, "code": format_code},
            }
        ],
        "context": {
            "period": {"start": date},
            "facilityType": {"coding": [{"system": FACILITY, "code": facility}]},
            "practiceSetting": {"coding": [{"system": PRACTICE, "code": practice}]},
            "sourcePatientInfo": {"reference": "#patient"},
        },
    }


def simplified(unique_id: str, **kwargs: Any) -> dict[str, Any]:
    """An ITI-105 DocumentReference: the document inline, no Binary."""
    return docref(unique_id, binary_url=None, **kwargs)


def submission_set(items: list[str], unique_id: str = "1.2.250.1.999.9.1") -> dict[str, Any]:
    return {
        "resourceType": "List",
        "contained": [author_practitioner()],
        "extension": [
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType",
                "valueCodeableConcept": {"coding": [{"code": "07"}]},
            },
            {
                "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
                "valueIdentifier": {"value": "1.2.250.1.999.1"},
            },
        ],
        "identifier": [{"use": "usual", "system": RFC3986, "value": f"urn:oid:{unique_id}"}],
        "status": "current",
        "mode": "working",
        "code": {"coding": [{"system": MHD_LIST_TYPES, "code": "submissionset"}]},
        "subject": dict(SUBJECT),
        "date": "2025-01-10T10:00:00+01:00",
        "source": {"reference": "#auteur"},
        "entry": [{"item": {"reference": item}} for item in items],
    }


def binary(content: bytes, content_type: str = "application/pdf") -> dict[str, Any]:
    return {
        "resourceType": "Binary",
        "contentType": content_type,
        "data": base64.b64encode(content).decode(),
    }


def entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def provide_bundle(
    documents: list[tuple[dict[str, Any], bytes]], set_unique_id: str = "1.2.250.1.999.9.1"
) -> dict[str, Any]:
    """An ITI-65 Bundle: the List first, then each DocumentReference and its Binary."""
    entries = []
    items = []
    for number, (document, content) in enumerate(documents, start=1):
        document = copy.deepcopy(document)
        doc_url = f"urn:uuid:00000000-0000-4000-8000-{number:012d}"
        bin_url = f"urn:uuid:00000000-0000-4000-9000-{number:012d}"
        document["content"][0]["attachment"]["url"] = bin_url
        items.append(doc_url)
        mime_type = document["content"][0]["attachment"]["contentType"]
        entries += [entry(doc_url, document), entry(bin_url, binary(content, mime_type))]
    listed = submission_set(items, set_unique_id)
    listed["subject"] = dict(documents[0][0]["subject"])  # the set is for the same patient
    list_entry = entry("urn:uuid:00000000-0000-4000-8000-ffffffffffff", listed)
    return {"resourceType": "Bundle", "type": "transaction", "entry": [list_entry, *entries]}


def pdf(number: int) -> bytes:
    """A distinct small PDF per number (content duplicates are recognised by the service)."""
    return PDF + f"%{number}\n".encode()


def cda_docref(name: str) -> tuple[dict[str, Any], bytes, CdaHeader]:
    """The DocumentReference an LPS builds from a CDA's header, with the CDA bytes."""
    data = cda_bytes(name)
    header = read_cda_header(data)
    document = docref(
        header.unique_id,
        content=data,
        type_code=header.type_code,
        type_system="urn:oid:" + (header.code.system or ""),
        class_code=_class_of(header.type_code),
        title=header.title,
        date=header.effective_time.isoformat(),
        mime_type="text/xml",
        format_code=header.format_code or "",
        facility=header.healthcare_facility_type.code if header.healthcare_facility_type else "",
        practice=header.practice_setting.code if header.practice_setting else "",
    )
    patient = header.patient
    assert patient.ins is not None
    subject = f"Patient?identifier=urn:oid:{patient.ins.root}|{patient.ins.extension}"
    document["subject"] = {"reference": subject}
    document["contained"][1] = {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [{"system": f"urn:oid:{patient.ins.root}", "value": patient.ins.extension}],
        "name": [
            {
                "use": "official",
                "family": patient.birth_family_name,
                "given": [patient.first_birth_given_name],
            }
        ],
        "gender": {"F": "female", "M": "male"}.get(patient.gender or "", "unknown"),
        "birthDate": patient.birth_date.isoformat() if patient.birth_date else None,
    }
    if header.service_start:
        document["context"]["period"] = {"start": header.service_start.isoformat()}
        if header.service_stop:
            document["context"]["period"]["end"] = header.service_stop.isoformat()
    author = header.authors[0]
    if author.id is not None and author.id.root == "1.2.250.1.71.4.2.1":
        document["contained"][0]["identifier"][0]["value"] = author.id.extension
    return document, data, header


def _class_of(type_code: str) -> str:
    from carnet.documents.classification import document_type

    known = document_type(type_code)
    assert known is not None
    return known.class_code or ""


def example(relative: str) -> dict[str, Any]:
    """One of the ANS FHIR examples (reference data, `FHIR_DIR/<relative>`), as loaded JSON."""
    return json.loads((FHIR_DIR / relative).read_text(encoding="utf-8"))
