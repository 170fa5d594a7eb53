"""The NinjaAPI objects: `/fhir/R4` (FHIR, OperationOutcome errors) and `/api/v1` (JSON).

Authentication is global (bearer JWT of a professional software, or the portal session): an
operation is public only if it says `auth=None`, and the route-inventory test lists those.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError

from carnet.access.errors import AccessDenied
from carnet.core.errors import CarnetError, Conflict, InvalidInput, NotFound
from carnet.core.requests import api_actor
from carnet.fhir.api import router as fhir_base_router
from carnet.fhir.auth import AuthenticationFailed, CsrfRefused, PortalSession, ProfessionalBearer
from carnet.fhir.issues import InvalidResource
from carnet.fhir.outcome import fhir_response, operation_outcome, outcome_response

logger = logging.getLogger(__name__)

AUTH = [ProfessionalBearer(), PortalSession()]

fhir_api = NinjaAPI(
    title="Carnet FHIR R4",
    version="R4",
    urls_namespace="fhir",
    auth=AUTH,
    docs_url=None,
    openapi_url=None,
)
fhir_api.add_router("", fhir_base_router)
# Before the consent router: POST /Consent serves both, see carnet.fhir.profile.
fhir_api.add_router("", "carnet.fhir.profile.router")  # medical profile and health measures
fhir_api.add_router("", "carnet.fhir.patient_search.router")
fhir_api.add_router("", "carnet.fhir.auditevent.router")
fhir_api.add_router("", "carnet.fhir.bundle.router")  # POST [base]: transaction Bundles
fhir_api.add_router("", "carnet.fhir.mhd.router")  # documents: IHE MHD / PDSm (ITI-65…68, 105)
fhir_api.add_router("", "carnet.fhir.communication.router")  # secure messaging


def _www_authenticate(description: str) -> str:
    return f'Bearer realm="carnet", error="invalid_token", error_description="{description}"'


def _auth_failed(request: HttpRequest, exc: AuthenticationFailed) -> HttpResponse:
    return outcome_response(
        401, "login", f"{exc.code}: {exc.message}", WWW_Authenticate=_www_authenticate(exc.code)
    )


def _auth_missing(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return outcome_response(
        401,
        "login",
        "missing-credentials: un jeton Bearer (professionnel) ou une session est requis.",
        WWW_Authenticate='Bearer realm="carnet"',
    )


def _not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    return outcome_response(404, "not-found", exc.message)


def _denied(request: HttpRequest, exc: AccessDenied) -> HttpResponse:
    return outcome_response(403, "forbidden", exc.message)


def _invalid(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
    return outcome_response(400, "invalid", exc.message, expression=exc.field)


def _invalid_resource(request: HttpRequest, exc: InvalidResource) -> HttpResponse:
    """One issue per faulty element, each with its FHIRPath `expression`."""
    return fhir_response(operation_outcome(exc.issues), status=exc.status)


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return outcome_response(413, "too-costly", "Requête trop volumineuse.")


def _conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
    return outcome_response(409, "conflict", exc.message)


def _domain_error(request: HttpRequest, exc: CarnetError) -> HttpResponse:
    return outcome_response(422, "processing", exc.message)


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    location = ".".join(str(part) for part in first.get("loc", []))
    return outcome_response(
        400, "invalid", f"Paramètre invalide : {first.get('msg', '')}", expression=location or None
    )


def _csrf_refused(request: HttpRequest, exc: CsrfRefused) -> HttpResponse:
    return outcome_response(403, "forbidden", exc.message)


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return outcome_response(exc.status_code, "processing", str(exc))


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unexpected error on %s", request.path)
    return outcome_response(500, "exception", "Erreur interne : l'incident a été enregistré.")


_HANDLERS = [
    (AuthenticationFailed, _auth_failed),
    (CsrfRefused, _csrf_refused),
    (AuthenticationError, _auth_missing),
    (NotFound, _not_found),
    (AccessDenied, _denied),
    (InvalidResource, _invalid_resource),
    (InvalidInput, _invalid),
    (RequestDataTooBig, _too_big),
    (Conflict, _conflict),
    (CarnetError, _domain_error),
    (ValidationError, _validation),
    (HttpError, _http_error),
    (Exception, _unexpected),
]


def _install_error_handlers(target: NinjaAPI) -> None:
    """Every error of every API is an OperationOutcome (the JSON API shares the same shape)."""
    for exception_class, handler in _HANDLERS:
        target.add_exception_handler(exception_class, handler)  # type: ignore[arg-type]


_install_error_handlers(fhir_api)


# --- /api/v1: small JSON API (health, and the no-op authenticated endpoint used by benchmarks) --

api = NinjaAPI(title="Carnet API", version="1", urls_namespace="api", auth=AUTH)
health_router = Router(tags=["Service"])


@health_router.get("/health", auth=None)
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


@health_router.get("/ping")
def ping(request: HttpRequest) -> dict[str, str]:
    """Authenticated no-op: the framework ceiling in `make bench`."""
    actor = api_actor(request)
    return {"actor": actor.kind.value}


api.add_router("", health_router)
_install_error_handlers(api)
