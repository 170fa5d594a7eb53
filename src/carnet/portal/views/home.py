"""Home page ("Accueil") and the sections not built yet. Views: parse, call a service, render."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from carnet.identity import services as identity
from carnet.portal import session
from carnet.portal.sections import BY_SLUG


def current_space(request: HttpRequest) -> Any:
    """The holder whose space is displayed, read through the access gate."""
    space_id = session.current_space(request)
    if space_id is None:
        raise Http404
    return identity.read_patient(request.actor, space_id)  # type: ignore[attr-defined]


def home(request: HttpRequest) -> HttpResponse:
    if not session.spaces(request):
        return render(request, "portal/no_space.html")
    context = {"portal_space": current_space(request), "actor": request.actor, "notifications": []}  # type: ignore[attr-defined]
    return render(request, "portal/home.html", context)


def section(request: HttpRequest, slug: str) -> HttpResponse:
    entry = BY_SLUG.get(slug)
    if entry is None:
        raise Http404
    return render(
        request,
        "portal/sections/coming_soon.html",
        {"section": entry, "portal_space": current_space(request)},
    )
