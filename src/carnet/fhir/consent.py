"""`POST [base]/Consent`: a professional declares that the holder consented, during care, to their
access to the holder's space (CSP L1111-17; the DMP's "autorisation d'accès" set by the LPS).

The minimal Consent accepted (validated with fhir.resources R4B, then checked field by field):

    {"resourceType": "Consent", "status": "active",
     "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                           "code": "patient-privacy"}]},
     "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
     "patient": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "<INS>"}},
     "provision": {"type": "permit", "period": {"start": "…", "end": "…"}}}

`provision.period` is optional (default: from now, for a year; at most three years). The answer
is 201 with the stored Consent (its id is the declaration's), or an OperationOutcome.

`POST Consent` also carries the holder's wishes of the medical profile (advance directives, organ
donation): the profile's router owns the route and hands a Consent that is not a profile item to
`consent_create` here, so this module registers no route of its own. Declarations are read and
removed by the holder in the portal ("Partage"), not through this API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from fhir.resources.R4B.consent import Consent
from pydantic import ValidationError

from carnet.access import services as access
from carnet.access.actors import Actor
from carnet.core.errors import InvalidInput
from carnet.core.requests import api_actor
from carnet.fhir import capability, emitted
from carnet.fhir.bundle import read_json
from carnet.fhir.dates import BadDate, instant, period_of
from carnet.fhir.outcome import fhir_response

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
PATIENT_PRIVACY = "patient-privacy"
LOINC = "http://loinc.org"
PRIVACY_CONSENT = "59284-0"  # Patient Consent
RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"  # IDNPS: "8" + RPPS

capability.declare("Consent", interactions=["create"])


def consent_create(request: HttpRequest) -> HttpResponse:
    """`POST Consent` of a professional's declaration (called by the route's owner)."""
    actor = api_actor(request)
    body = read_json(request)
    matricule, oid, start, end = parse_consent(body)
    declared = access.declare_consent(
        actor, matricule=matricule, oid=oid, period_start=start, period_end=end, source=body
    )
    resource = consent_resource(declared, actor)
    location = f"{settings.SITE_URL}/fhir/R4/Consent/{declared.id}"
    return fhir_response(resource, status=201, Location=location)


def parse_consent(body: dict[str, Any]) -> tuple[str, str, dt.datetime | None, dt.datetime | None]:
    """INS matricule, OID and period of a posted Consent. Raises InvalidInput naming the field."""
    if body.get("resourceType") != "Consent":
        raise InvalidInput("Une ressource Consent est attendue.", field="resourceType")
    try:
        Consent.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise InvalidInput(f"Consent invalide : {first.get('msg', '')}", field=where) from exc
    if body.get("status") != "active":
        raise InvalidInput(
            "Le consentement déclaré doit avoir le statut « active ».", field="status"
        )
    if not _has_coding(body.get("scope"), CONSENT_SCOPE, PATIENT_PRIVACY):
        raise InvalidInput(
            f"Le champ scope doit porter le code {PATIENT_PRIVACY} ({CONSENT_SCOPE}).",
            field="scope",
        )
    identifier = (body.get("patient") or {}).get("identifier") or {}
    system, value = str(identifier.get("system", "")), str(identifier.get("value", ""))
    if not system.startswith("urn:oid:") or not value:
        raise InvalidInput(
            "Le patient est désigné par son INS : patient.identifier.system (urn:oid:…) et value.",
            field="patient.identifier",
        )
    provision = body.get("provision") or {}
    if provision.get("type", "permit") != "permit":
        raise InvalidInput(
            "Seul un consentement (provision.type = permit) se déclare.", field="provision.type"
        )
    period = provision.get("period") or {}
    try:
        start = period_of(period["start"])[0] if period.get("start") else None
        end = period_of(period["end"])[1] if period.get("end") else None
    except BadDate as exc:
        raise InvalidInput(str(exc), field="provision.period") from exc
    return value, system.removeprefix("urn:oid:"), start, end


def _has_coding(concept: Any, system: str, code: str) -> bool:
    codings = (concept or {}).get("coding") or [] if isinstance(concept, dict) else []
    return any(c.get("system") == system and c.get("code") == code for c in codings)


def consent_resource(declared: access.DeclaredConsent, actor: Actor) -> dict[str, Any]:
    """The stored declaration as a FHIR Consent (validated)."""
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": declared.id,
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": PATIENT_PRIVACY}]},
        "category": [{"coding": [{"system": LOINC, "code": PRIVACY_CONSENT}]}],
        "patient": {
            "identifier": {"system": f"urn:oid:{declared.oid}", "value": declared.matricule}
        },
        "dateTime": instant(declared.declared_at),
        "organization": [{"display": actor.organisation_name}] if actor.organisation_name else [],
        "provision": {
            "type": "permit",
            "period": {
                "start": instant(declared.period_start),
                "end": instant(declared.period_end),
            },
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                                "display": "information recipient",
                            }
                        ]
                    },
                    "reference": {
                        "identifier": {"system": RPPS_SYSTEM, "value": f"8{actor.rpps}"},
                        "display": actor.label,
                    },
                }
            ],
        },
    }
    if not resource["organization"]:
        del resource["organization"]
    emitted.check(Consent, resource)
    return resource
