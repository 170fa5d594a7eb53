"""URL map. Every view requires login (LoginRequiredMiddleware) unless marked
`login_not_required`; every API operation is authenticated unless it says `auth=None`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from carnet.api import api, fhir_api
from carnet.portal.views import account


def _api_urls(urls: tuple[Any, str, str]) -> tuple[Any, str, str]:
    """Ninja authenticates its own operations: exempt its views from the login redirect."""
    patterns, app_name, namespace = urls

    def exempt(items: list[URLPattern | URLResolver]) -> None:
        for item in items:
            if isinstance(item, URLPattern):
                item.callback = login_not_required(item.callback)
            else:
                exempt(item.url_patterns)

    exempt(patterns)
    return patterns, app_name, namespace


def _fhir_base_view() -> Any:
    """The view of `[base]` itself (`POST [base]` transactions): clients post to `/fhir/R4`
    without a trailing slash, and a redirect would lose the body."""
    for item in fhir_api.urls[0]:
        if isinstance(item, URLPattern) and str(item.pattern) == "":
            return login_not_required(item.callback)
    raise LookupError("the FHIR API has no base route")


urlpatterns = [
    path("fhir/R4", _fhir_base_view(), name="fhir-base"),
    path("", include("carnet.portal.urls")),
    path("pro/", include("carnet.pro.urls")),
    path("fhir/R4/", _api_urls(fhir_api.urls)),
    path("api/v1/", _api_urls(api.urls)),
    # Operators log in through the portal (one-time code, throttling), never with a password alone.
    path("gestion/login/", account.operator_login, name="operator_login"),
    path("gestion/", admin.site.urls),
]

handler400 = "carnet.core.views.bad_request"
handler403 = "carnet.core.views.permission_denied"
handler404 = "carnet.core.views.page_not_found"
handler500 = "carnet.core.views.server_error"
