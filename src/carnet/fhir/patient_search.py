"""`GET [base]/Patient?identifier=urn:oid:<INS OID>|<matricule>`: does this person have a space,
and may I use it? (DMP TD0.2, "test d'existence et autorisation".)

The answer says only what the policy allows the caller to know:
- a searchset with the Patient (FR Core) and an OperationOutcome entry (search mode `outcome`)
  naming the decision and the access mode, when the caller may read the space;
- an empty searchset when there is no open space or the caller has no right to it (the two are
  indistinguishable);
- 403 with the reason when the refusal is one the caller may be told (a blocked professional,
  an opposed emergency access, an expired authorisation).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from fhir.resources.R4B.bundle import Bundle
from ninja import Router

from carnet.access import services as access
from carnet.core.errors import InvalidInput
from carnet.core.requests import api_actor
from carnet.fhir import capability, emitted
from carnet.fhir.outcome import fhir_response
from carnet.fhir.patient import patient_resource

router = Router(tags=["FHIR"])

ACCESS_DECISION_SYSTEM = "urn:carnet:access-decision"
ACCESS_MODE_SYSTEM = "urn:carnet:access-mode"

capability.declare(
    "Patient",
    interactions=["search-type"],
    search_params=[
        (
            "identifier",
            "token",
            "INS du patient (urn:oid:1.2.250.1.213.1.4.8|<matricule>) : existence de l'espace et "
            "droit d'accès de l'appelant (TD0.2). Paramètre obligatoire.",
        )
    ],
)


@router.get("/Patient", include_in_schema=False)
def patient_search(request: HttpRequest) -> HttpResponse:
    actor = api_actor(request)
    system, value = parse_identifier(request.GET.getlist("identifier"))
    found = access.patient_access(actor, matricule=value, oid=system.removeprefix("urn:oid:"))
    return fhir_response(search_bundle(request, found))


def parse_identifier(values: list[str]) -> tuple[str, str]:
    """`system|value` of the one `identifier` parameter. Raises InvalidInput."""
    if len(values) != 1:
        raise InvalidInput(
            "Le paramètre identifier (INS : urn:oid:…|matricule) est obligatoire, une seule fois.",
            field="identifier",
        )
    system, separator, value = values[0].partition("|")
    if not separator or not system.startswith("urn:oid:") or not value.strip():
        raise InvalidInput(
            "identifier doit être de la forme urn:oid:<OID de l'INS>|<matricule>.",
            field="identifier",
        )
    return system, value.strip()


def search_bundle(request: HttpRequest, found: access.PatientAccess | None) -> dict[str, Any]:
    base = f"{settings.SITE_URL}/fhir/R4"
    entries: list[dict[str, Any]] = []
    if found is not None:
        patient = patient_resource(found.holder)
        decision = found.decision
        entries = [
            {
                "fullUrl": f"{base}/Patient/{patient['id']}",
                "resource": patient,
                "search": {"mode": "match"},
            },
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {
                            "severity": "information",
                            "code": "informational",
                            "details": {
                                "coding": [
                                    {"system": ACCESS_DECISION_SYSTEM, "code": decision.code},
                                    {"system": ACCESS_MODE_SYSTEM, "code": decision.mode},
                                ],
                                "text": decision.reason,
                            },
                        }
                    ],
                },
                "search": {"mode": "outcome"},
            },
        ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": 1 if found is not None else 0,
        "link": [{"relation": "self", "url": request.build_absolute_uri()}],
        "entry": entries,
    }
    if not entries:
        del bundle["entry"]
    emitted.check(Bundle, bundle)
    return bundle
