"""Professional web access: login (OpenID Connect, or the demo login in demo mode) and home."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from carnet.core.requests import PortalRequest
from carnet.identity import services as identity


@login_not_required
@require_http_methods(["GET"])
def login_view(request: PortalRequest) -> HttpResponse:
    context = {
        "oidc_enabled": settings.CARNET_OIDC_ENABLED,
        "demo_enabled": settings.CARNET_DEMO_PRO_LOGIN,
        "demo_professionals": identity.demo_professionals()
        if settings.CARNET_DEMO_PRO_LOGIN
        else [],
    }
    return render(request, "pro/login.html", context)


@login_not_required
@require_POST
def demo_login(request: PortalRequest) -> HttpResponse:
    if not settings.CARNET_DEMO_PRO_LOGIN:
        raise Http404
    user = identity.user_for_professional_login(rpps=request.POST.get("rpps", ""), subject="")
    if user is None:
        raise Http404
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect("pro:home")


def home(request: PortalRequest) -> HttpResponse:
    actor = request.actor
    return render(request, "pro/home.html", {"actor": actor})
