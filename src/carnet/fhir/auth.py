"""Authentication of FHIR/API calls: a professional's bearer JWT, or a portal session.

Both produce an `Actor` in `request.auth`; every operation is authenticated unless it says
`auth=None` (and is then on the public allow-list of the route-inventory test).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from carnet.access.actors import Actor
from carnet.core import clock
from carnet.core.errors import CarnetError


class AuthenticationFailed(CarnetError):
    """The credentials were present but refused; `message` says which check failed."""

    code = "login"


class CsrfRefused(CarnetError):
    """A write authenticated by the portal session without its CSRF token."""

    code = "forbidden"


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ProfessionalBearer(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        from carnet.identity import api_auth
        from carnet.identity.tokens import TokenRejected

        try:
            return api_auth.actor_for_token(
                token,
                audience=settings.CARNET_JWT_AUDIENCE,
                now=clock.epoch_seconds(),
            )
        except TokenRejected as exc:
            raise AuthenticationFailed(exc.message_fr, code=exc.reason) from exc


class PortalSession(APIKeyCookie):
    """The holder's portal session; unsafe methods also need the CSRF token (header
    `X-CSRFToken`, as htmx sends it), or a cross-site form could write with the holder's cookie."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> Any:
        key = request.COOKIES.get(self.param_name)
        if key and request.method not in SAFE_METHODS and check_csrf(request) is not None:
            raise CsrfRefused(
                "Requête refusée : le jeton CSRF de la session est absent ou invalide."
            )
        return key

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        from carnet.identity.services import actor_for_user

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return actor_for_user(user)
