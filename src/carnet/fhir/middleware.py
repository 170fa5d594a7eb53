"""Turns every non-FHIR error response under /fhir/ (404 of the resolver, 405, CSRF 403, 500)
into an OperationOutcome, so clients always get the same error shape."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from carnet.fhir.outcome import outcome_response

_MESSAGES = {
    400: ("invalid", "Requête invalide."),
    401: ("login", "Authentification requise."),
    403: ("security", "Accès refusé."),
    404: ("not-found", "Ressource ou opération inconnue."),
    405: ("not-supported", "Méthode HTTP non prise en charge pour cette ressource."),
    406: (
        "not-supported",
        "Format de réponse non pris en charge : utilisez application/fhir+json.",
    ),
    413: ("too-costly", "Requête trop volumineuse."),
    415: ("not-supported", "Type de contenu non pris en charge : utilisez application/fhir+json."),
}


class FhirErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/fhir/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/fhir+json"):
            return response
        code, message = _MESSAGES.get(
            response.status_code, ("exception", "Erreur interne : l'incident a été enregistré.")
        )
        replaced = outcome_response(response.status_code, code, message)
        for header in ("Allow", "WWW-Authenticate"):
            if header in response:
                replaced[header] = response[header]
        return replaced
