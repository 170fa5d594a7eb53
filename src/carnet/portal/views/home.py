"""Home page ("Accueil") and the sections not built yet. Views: parse, call a service, render."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from carnet.core.requests import PortalRequest
from carnet.identity import services as identity
from carnet.notifications import services as notifications
from carnet.portal import session
from carnet.portal.sections import BY_SLUG


def current_space(request: PortalRequest) -> Any:
    """The holder whose space is displayed, read through the access gate."""
    space_id = session.current_space(request)
    if space_id is None:
        raise Http404
    return identity.read_patient(request.actor, space_id)


def home(request: PortalRequest) -> HttpResponse:
    if not session.spaces(request):
        return render(request, "portal/no_space.html")
    space = current_space(request)
    latest = notifications.latest(request.actor, str(space.pk))
    context = {"portal_space": space, "actor": request.actor, "notifications": latest}
    return render(request, "portal/home.html", context)


def section(request: PortalRequest, slug: str) -> HttpResponse:
    entry = BY_SLUG.get(slug)
    if entry is None:
        raise Http404
    if entry.url_name:  # the section exists now: its old placeholder address leads there
        return redirect(entry.url_name)
    return render(
        request,
        "portal/sections/coming_soon.html",
        {"section": entry, "portal_space": current_space(request)},
    )
