"""`POST [base]`: FHIR transaction (and batch) Bundles, dispatched to the domain that owns them.

Several flows post a transaction Bundle to the base URL: the health-measures feeding Bundle of
the ANS guide (one Observation and its Device, `carnet.profile`), IHE MHD ITI-65 "Provide
Document Bundle" (documents). The dispatcher does not decide or store anything: it reads the
Bundle, asks each registered handler in turn whether the Bundle is its own, and hands it to the
first one that says yes.

Extension point: a domain's router registers its handler at import time,

    bundle.register("iti-65", matches=is_provide_document_bundle, handle=provide_document_bundle)

where `matches(bundle) -> bool` looks at the Bundle only (no I/O) and
`handle(actor, bundle) -> dict` returns the response Bundle (transaction-response) or raises a
domain error, mapped to an OperationOutcome like everywhere on /fhir. Handlers are tried in the
order they were registered; the first match wins, so `matches` must be specific (the measures
handler matches Bundles that carry an Observation).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router

from carnet.access.actors import Actor
from carnet.core.errors import InvalidInput
from carnet.core.requests import api_actor
from carnet.fhir import capability
from carnet.fhir.outcome import fhir_response

router = Router(tags=["FHIR"])

BUNDLE_TYPES = ("transaction", "batch")
ACCEPTED_CONTENT_TYPES = ("application/fhir+json", "application/json")

Matcher = Callable[[Mapping[str, Any]], bool]
Handler = Callable[[Actor, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class BundleHandler:
    name: str
    matches: Matcher
    handle: Handler


_HANDLERS: list[BundleHandler] = []


def register(name: str, *, matches: Matcher, handle: Handler) -> None:
    """Add (or replace, by name) a handler of transaction Bundles posted to the base URL."""
    for index, existing in enumerate(_HANDLERS):
        if existing.name == name:
            _HANDLERS[index] = BundleHandler(name, matches, handle)
            return
    _HANDLERS.append(BundleHandler(name, matches, handle))
    capability.declare_system("transaction")


def handlers() -> tuple[BundleHandler, ...]:
    return tuple(_HANDLERS)


class UnsupportedContent(InvalidInput):
    code = "not-supported"


def read_json(request: HttpRequest) -> dict[str, Any]:
    """The JSON object in the request body, or InvalidInput with a French message."""
    content_type = request.content_type or ""
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise UnsupportedContent(
            "Type de contenu non pris en charge : envoyez application/fhir+json.",
            field="Content-Type",
        )
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise InvalidInput("Le corps de la requête n'est pas du JSON valide.") from None
    if not isinstance(body, dict):
        raise InvalidInput("Le corps de la requête doit être une ressource FHIR (objet JSON).")
    return body


def dispatch(actor: Actor, bundle: Mapping[str, Any]) -> dict[str, Any]:
    """Hand a posted Bundle to the handler that owns it. Raises InvalidInput when it is not a
    transaction/batch Bundle, or when no registered flow takes it."""
    if bundle.get("resourceType") != "Bundle":
        raise InvalidInput(
            "Seul un Bundle (transaction) peut être envoyé à l'adresse de base.",
            field="Bundle.resourceType",
        )
    if bundle.get("type") not in BUNDLE_TYPES:
        raise InvalidInput(
            "Le Bundle envoyé à l'adresse de base doit être de type « transaction ».",
            field="Bundle.type",
        )
    if not isinstance(bundle.get("entry", []), list):
        raise InvalidInput("Bundle.entry doit être une liste d'entrées.", field="Bundle.entry")
    for handler in _HANDLERS:
        if handler.matches(bundle):
            return handler.handle(actor, bundle)
    raise UnsupportedContent(
        "Aucun flux ne prend en charge ce Bundle (mesures de santé : une Observation et au plus "
        "un Device ; documents : ITI-65).",
        field="Bundle.entry",
    )


@router.post("", include_in_schema=False)
def transaction(request: HttpRequest) -> HttpResponse:
    actor = api_actor(request)
    return fhir_response(dispatch(actor, read_json(request)))
