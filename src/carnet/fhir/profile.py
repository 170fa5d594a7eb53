"""FHIR R4 routes of the medical profile: one set of interactions per resource type.

Thin adapter: it parses the request, calls `carnet.profile.services` (which go through the
access gate) and writes FHIR JSON; every error is an OperationOutcome (handlers in `api.py`).
Each route is declared to the CapabilityStatement next to its registration, so the statement
lists exactly what is served.

- read `GET [type]/[id]`, search `GET [type]?patient=&category=&code=&date=` (searchset Bundle),
  create `POST [type]`, update `PUT [type]/[id]` for every profile resource type;
- the insurer's care history (ExplanationOfBenefit) is read, searched and created (idempotent on
  the claim identifier), never updated through this API;
- Observations are measures (vital signs, the ANS "Mesures de santé" guide) or profile items
  (lifestyle: social-history; blood group: laboratory); both live behind the same routes;
- the guide's feeding Bundle is posted to the base URL and reaches
  `profile.services.accept_feeding_bundle` through `fhir.bundle`;
- `POST Consent` also receives professionals' declarations of consent (scope patient-privacy),
  handed over to `fhir.consent`: this router is mounted first so that both flows share the path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router

from carnet.access.actors import Actor
from carnet.core.errors import InvalidInput
from carnet.core.requests import api_actor
from carnet.fhir import bundle, capability
from carnet.fhir.outcome import fhir_response
from carnet.profile import items as item_rules
from carnet.profile import measures as measure_rules
from carnet.profile import services
from carnet.profile.services import SearchParams

router = Router(tags=["FHIR profil médical"])

ITEM_TYPES = (
    "AllergyIntolerance",
    "CareTeam",
    "Condition",
    "Consent",
    "Coverage",
    "FamilyMemberHistory",
    "Immunization",
    "MedicationStatement",
    "Procedure",
    "RelatedPerson",
)
CARE_HISTORY = "ExplanationOfBenefit"
DATE_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")
SEARCH_PARAMETERS = frozenset({"patient", "category", "code", "date"})


def _actor(request: HttpRequest) -> Actor:
    actor = api_actor(request)
    return actor


def _values(request: HttpRequest, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for raw in request.GET.getlist(name):
        found += [part.strip() for part in raw.split(",") if part.strip()]
    return tuple(found)


def _date_condition(raw: str) -> tuple[str, dt.date]:
    prefix, text = (raw[:2], raw[2:]) if raw[:2] in DATE_PREFIXES else ("eq", raw)
    value = item_rules.parse_partial_date(text) if len(text) <= 10 else None
    day = item_rules.first_day(value) if value else None
    if day is None:
        raise InvalidInput(
            f"Paramètre date invalide : « {raw[:30]} » (ex. ge2024-01-01).", field="date"
        )
    return prefix, day


def search_params(request: HttpRequest) -> SearchParams:
    """The supported search parameters; an unknown one is refused (rather than silently
    ignored, which would return more than the client asked for)."""
    unknown = sorted(set(request.GET) - SEARCH_PARAMETERS)
    if unknown:
        raise InvalidInput(
            f"Paramètre de recherche non pris en charge : {unknown[0][:40]}.", field=unknown[0][:40]
        )
    patients = _values(request, "patient")
    if len(patients) > 1:
        raise InvalidInput("Un seul patient par recherche.", field="patient")
    return SearchParams(
        patient=patients[0].removeprefix("Patient/") if patients else None,
        category=_values(request, "category"),
        code=_values(request, "code"),
        date=tuple(_date_condition(raw) for raw in request.GET.getlist("date")),
    )


def _base() -> str:
    return settings.SITE_URL + "/fhir/R4"


def searchset(request: HttpRequest, resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": f"{_base()}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in resources
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": [{"relation": "self", "url": _base() + request.get_full_path()[len("/fhir/R4") :]}],
        "entry": entries,
    }


def _written(resource: dict[str, Any], version: int, *, created: bool) -> HttpResponse:
    location = f"{_base()}/{resource['resourceType']}/{resource['id']}/_history/{version}"
    return fhir_response(
        resource, status=201 if created else 200, Location=location, ETag=f'W/"{version}"'
    )


def _read_response(resource: dict[str, Any]) -> HttpResponse:
    return fhir_response(resource, ETag=f'W/"{resource["meta"]["versionId"]}"')


# --- Profile item types ----------------------------------------------------------------------


def _declared_consent(request: HttpRequest) -> HttpResponse:
    """`POST Consent` carries two flows: the profile's wishes (advance directives, organ
    donation) and a professional's declaration of the holder's consent to access (scope
    patient-privacy, `carnet.fhir.consent`). One path has one handler, so this one hands the
    declaration over to its own."""
    from carnet.fhir import consent

    response: HttpResponse = consent.consent_create(request)
    return response


def _search_declaration(resource_type: str) -> list[tuple[str, str, str]]:
    declared = [
        ("patient", "reference", "Le patient (Patient/<id> Carnet)."),
        ("code", "token", "Code du concept principal (système|code, ou code)."),
        (
            "date",
            "date",
            "Date de l'élément (début, survenue, vaccination…), préfixes eq/lt/gt/le/ge.",
        ),
    ]
    if resource_type in item_rules.CATEGORY_PATHS:
        declared.insert(1, ("category", "token", "Catégorie (système|code, ou code)."))
    return declared


def _register_item_type(resource_type: str, *, update: bool) -> None:
    def read(request: HttpRequest, item_id: str) -> HttpResponse:
        return _read_response(services.read_item_resource(_actor(request), resource_type, item_id))

    def search(request: HttpRequest) -> HttpResponse:
        found = services.search_items(
            _actor(request), resource_type=resource_type, params=search_params(request)
        )
        return fhir_response(searchset(request, (services.item_to_fhir(i) for i in found)))

    def create(request: HttpRequest) -> HttpResponse:
        body = bundle.read_json(request)
        if resource_type == "Consent" and not services.is_profile_resource(body):
            return _declared_consent(request)
        if resource_type == CARE_HISTORY:  # idempotent: a claim sent again updates its entry
            item, created = services.record_care_history(_actor(request), body)
            return _written(services.item_to_fhir(item), item.version, created=created)
        item = services.create_item_from_fhir(_actor(request), body, expected_type=resource_type)
        return _written(services.item_to_fhir(item), item.version, created=True)

    def put(request: HttpRequest, item_id: str) -> HttpResponse:
        item = services.update_item_from_fhir(
            _actor(request), item_id, bundle.read_json(request), expected_type=resource_type
        )
        return _written(services.item_to_fhir(item), item.version, created=False)

    handlers: list[tuple[str, str, Callable[..., HttpResponse]]] = [
        ("GET", f"/{resource_type}/{{item_id}}", read),
        ("GET", f"/{resource_type}", search),
        ("POST", f"/{resource_type}", create),
    ]
    interactions = ["read", "search-type", "create"]
    if update:
        handlers.append(("PUT", f"/{resource_type}/{{item_id}}", put))
        interactions.append("update")
    for method, path, view in handlers:
        view.__name__ = f"{resource_type.lower()}_{view.__name__}"
        router.add_api_operation(path, [method], view, include_in_schema=False)
    capability.declare(
        resource_type,
        interactions=interactions,
        search_params=_search_declaration(resource_type),
    )


for _type in ITEM_TYPES:
    _register_item_type(_type, update=True)
_register_item_type(CARE_HISTORY, update=False)


# --- Observations (measures and lifestyle / blood-group items) -------------------------------


@router.get("/Observation/{observation_id}", include_in_schema=False)
def observation_read(request: HttpRequest, observation_id: str) -> HttpResponse:
    return _read_response(services.read_observation(_actor(request), observation_id))


@router.get("/Observation", include_in_schema=False)
def observation_search(request: HttpRequest) -> HttpResponse:
    found = services.search_observations(_actor(request), params=search_params(request))
    return fhir_response(searchset(request, found))


@router.post("/Observation", include_in_schema=False)
def observation_create(request: HttpRequest) -> HttpResponse:
    resource, version, created = services.create_observation(
        _actor(request), bundle.read_json(request)
    )
    return _written(resource, version, created=created)


@router.put("/Observation/{observation_id}", include_in_schema=False)
def observation_update(request: HttpRequest, observation_id: str) -> HttpResponse:
    resource, version = services.update_observation(
        _actor(request), observation_id, bundle.read_json(request)
    )
    return _written(resource, version, created=False)


capability.declare(
    "Observation",
    interactions=["read", "search-type", "create", "update"],
    search_params=[
        ("patient", "reference", "Le patient (Patient/<id> Carnet)."),
        ("category", "token", "vital-signs (mesures), social-history, laboratory."),
        ("code", "token", "Code LOINC (http://loinc.org|29463-7)."),
        ("date", "date", "Date de la mesure, préfixes eq/lt/gt/le/ge."),
    ],
    profiles=sorted({d.profile for d in measure_rules.catalogue().values() if d.writable}),
)

bundle.register(
    "mesures-de-sante",
    matches=services.is_feeding_bundle,
    handle=services.accept_feeding_bundle,
)
