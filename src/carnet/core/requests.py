"""The requests the adapters see, typed once: who is calling is set by the middleware or by the
API's authentication, and read through these names instead of untyped attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from carnet.access.actors import Actor


class PortalRequest(HttpRequest):
    """A portal or professional-web request, after `PortalActorMiddleware` (the actor, anonymous
    when nobody is logged in) and django-htmx's middleware (`htmx`, falsy outside htmx)."""

    actor: Actor
    htmx: HtmxDetails


def api_actor(request: HttpRequest) -> Actor:
    """The actor the API's authentication classes resolved (django-ninja keeps it in `auth`)."""
    return cast("Actor", getattr(request, "auth"))  # noqa: B009 - ninja sets it at run time


def client_address(request: HttpRequest) -> str:
    """The caller's IP address: REMOTE_ADDR, or behind `CARNET_TRUSTED_PROXIES` reverse proxies
    the address the outermost trusted proxy saw (the entry of X-Forwarded-For it appended;
    entries further left are written by the client and cannot be trusted)."""
    proxies = settings.CARNET_TRUSTED_PROXIES
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
    forwarded = [part for part in forwarded if part]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote
