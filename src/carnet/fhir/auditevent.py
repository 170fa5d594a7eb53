"""`GET [base]/AuditEvent?patient=…&date=ge…&date=le…`: the holder's trace as FHIR AuditEvents
(IHE ITI-81 style search; ANS "Traçabilité des événements" `tde-auditevent` profile).

One AuditEvent per traced action by anyone but the holder, newest first, with the access mode in
`purposeOfEvent`, the actor (and their organisation) in `agent` (at most two, as the profile
says) and the patient as entity. Only the holder (or a legal representative) may search their
space's trace; anyone else gets the same 404 as for a space that does not exist.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.http import urlencode
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from ninja import Router

from carnet.access import trace
from carnet.core.errors import InvalidInput
from carnet.core.requests import api_actor
from carnet.fhir import capability, emitted
from carnet.fhir.dates import BadDate, instant, period_of
from carnet.fhir.outcome import fhir_response
from carnet.identity.professions import OID_PROFESSION_G15

router = Router(tags=["FHIR"])

TDE_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/tde/StructureDefinition/tde-auditevent"
ACCESS_MODE_SYSTEM = "urn:carnet:access-mode"
DEFAULT_COUNT = 50
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_FHIR_TYPES = frozenset({"DocumentReference", "Patient", "Consent"})
# verb → (restful-interaction code, AuditEvent.action)
_INTERACTIONS = {
    "read": ("read", "R"),
    "search": ("search-type", "E"),
    "create": ("create", "C"),
    "update": ("update", "U"),
    "delete": ("delete", "D"),
}

capability.declare(
    "AuditEvent",
    interactions=["search-type"],
    search_params=[
        ("patient", "reference", "Le patient (Patient/<id>) : obligatoire, le titulaire seul."),
        ("date", "date", "Bornes de la période (ge, gt, le, lt ; répétable)."),
        (
            "_count",
            "number",
            f"Taille de page (1 à {trace.MAX_FHIR_COUNT}, {DEFAULT_COUNT} par défaut).",
        ),
        ("page", "number", "Numéro de page (à partir de 1)."),
    ],
    profiles=[TDE_PROFILE],
)


@router.get("/AuditEvent", include_in_schema=False)
def auditevent_search(request: HttpRequest) -> HttpResponse:
    actor = api_actor(request)
    patient_id = _patient(request.GET.getlist("patient"))
    since, until = date_bounds(request.GET.getlist("date"))
    count = _number(request.GET.get("_count"), "_count", DEFAULT_COUNT, trace.MAX_FHIR_COUNT)
    page = _number(request.GET.get("page"), "page", 1, 1_000_000)
    entries, total = trace.trace_events(
        actor,
        patient_id=patient_id,
        since=since,
        until=until,
        offset=(page - 1) * count,
        count=count,
    )
    return fhir_response(_bundle(request, entries, total, page, count))


def _patient(values: list[str]) -> str:
    if len(values) != 1 or not values[0].strip():
        raise InvalidInput(
            "Le paramètre patient (Patient/<id>) est obligatoire, une seule fois.", field="patient"
        )
    return values[0].strip().removeprefix("Patient/")


def date_bounds(values: list[str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The [since, until] instants of repeated `date` parameters (ge, gt, le, lt, eq or none)."""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    for raw in values:
        prefix, value = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
        if prefix not in {"ge", "gt", "le", "lt", "eq"}:
            raise InvalidInput(
                f"Préfixe de date non pris en charge : {prefix} (ge, gt, le, lt, eq).", field="date"
            )
        try:
            start, end = period_of(value)
        except BadDate as exc:
            raise InvalidInput(str(exc), field="date") from exc
        # FHIR compares against the whole period a value names: [start, end).
        lower = {"ge": start, "eq": start, "gt": end}.get(prefix)
        upper = {"le": end, "eq": end, "lt": start}.get(prefix)
        if lower is not None:
            since = max(since, lower) if since else lower
        if upper is not None:
            upper -= dt.timedelta(microseconds=1)
            until = min(until, upper) if until else upper
    return since, until


def _number(raw: str | None, name: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidInput(f"{name} doit être un entier entre 1 et {maximum}.", field=name)
    return int(raw)


def _bundle(
    request: HttpRequest, entries: list[trace.TraceEntry], total: int, page: int, count: int
) -> dict[str, Any]:
    base = f"{settings.SITE_URL}/fhir/R4"
    params = {k: v for k, v in request.GET.lists() if k != "page"}
    links = [{"relation": "self", "url": request.build_absolute_uri()}]
    if page * count < total:
        query = urlencode({**params, "page": [str(page + 1)]}, doseq=True)
        links.append({"relation": "next", "url": f"{base}/AuditEvent?{query}"})
    if page > 1:
        query = urlencode({**params, "page": [str(page - 1)]}, doseq=True)
        links.append({"relation": "previous", "url": f"{base}/AuditEvent?{query}"})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
    }
    resources = [audit_event(entry) for entry in entries]
    if resources:
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/AuditEvent/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
    emitted.check(Bundle, bundle)
    return bundle


def audit_event(entry: trace.TraceEntry) -> dict[str, Any]:
    """One trace row as a `tde-auditevent` AuditEvent (validated with fhir.resources R4B)."""
    verb = entry.action.rsplit(":", 1)[-1]
    interaction, action = _INTERACTIONS.get(verb, ("operation", "E"))
    when = instant(entry.occurred_at)
    patient_id = entry.patient_id
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser" if entry.actor_kind == "professional" else "dataprocessor",
                }
            ]
        },
        "who": {
            "identifier": {
                "system": f"urn:carnet:actor:{entry.actor_kind}",
                "value": entry.actor_id,
            },
            "display": entry.who,
        },
        "requestor": True,
    }
    if entry.profession_code:
        agent["role"] = [
            {
                "coding": [
                    {
                        "system": f"urn:oid:{OID_PROFESSION_G15}",
                        "code": entry.profession_code,
                        "display": entry.profession_label,
                    }
                ]
            }
        ]
    agents = [agent]
    if entry.organisation:
        agents.append({"who": {"display": entry.organisation}, "requestor": False})
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{patient_id}"},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
        }
    ]
    if entry.resource_type in _FHIR_TYPES and _FHIR_ID.fullmatch(entry.resource_id):
        entities.append({"what": {"reference": f"{entry.resource_type}/{entry.resource_id}"}})
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": entry.id,
        "meta": {"profile": [TDE_PROFILE]},
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "action": action,
        "period": {"start": when, "end": when},
        "recorded": when,
        "outcome": "0" if entry.allowed else "4",
        "outcomeDesc": entry.reason or entry.outcome_label,
        "purposeOfEvent": [
            {
                "coding": [
                    {"system": ACCESS_MODE_SYSTEM, "code": entry.mode, "display": entry.mode_label}
                ],
                "text": entry.emergency_reason or entry.mode_label,
            }
        ],
        "agent": agents,
        "source": {
            "observer": {"display": "Carnet"},
            "type": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                    "code": "4",
                    "display": "Application Server",
                }
            ],
        },
        "entity": entities,
    }
    emitted.check(AuditEvent, resource)
    return resource
