"""Route inventory: every URL and API operation requires authentication unless it is on the
explicit public allow-list below. A new public route must be added here, deliberately."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from carnet.api import api, fhir_api

PUBLIC_VIEWS = {
    "portal:login",
    "portal:login_code",
    "portal:login_code_resend",
    "operator_login",
    "pro:login",
    "pro:demo_login",
    "pro:oidc_authenticate",
    "pro:oidc_callback",
}
PUBLIC_OPERATIONS = {
    ("fhir", "/metadata"),
    ("api", "/health"),
}
# Django admin pages enforce staff login themselves (admin_view); the static files are not data.
SELF_PROTECTED_PREFIXES = ("admin:",)


def _walk(patterns: list[Any], namespace: str = "", prefix: str = "") -> list[tuple[str, str, Any]]:
    found = []
    for item in patterns:
        if isinstance(item, URLResolver):
            inner_ns = f"{namespace}{item.namespace}:" if item.namespace else namespace
            found += _walk(item.url_patterns, inner_ns, prefix + str(item.pattern))
        elif isinstance(item, URLPattern):
            found.append(
                (f"{namespace}{item.name or ''}", prefix + str(item.pattern), item.callback)
            )
    return found


def _ninja_operations(target, name):
    # ninja has no public listing of operations: its bound routers hold them
    for bound in target._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            for operation in path_view.operations:
                yield name, "/" + path.strip("/"), operation


def test_every_view_requires_login_or_is_deliberately_public():
    unexpected = []
    for name, route, view in _walk(get_resolver().url_patterns):
        # the FHIR base URL is the same ninja operation as `fhir:` "" (authenticated by ninja)
        if name.startswith(("fhir:", "api:", "fhir-base")) or name.startswith(
            SELF_PROTECTED_PREFIXES
        ):
            continue
        if getattr(view, "login_required", True) is False and name not in PUBLIC_VIEWS:
            unexpected.append((name, route))
    assert unexpected == []


def test_public_views_are_really_marked_public():
    names = {
        name
        for name, _route, view in _walk(get_resolver().url_patterns)
        if getattr(view, "login_required", True) is False
    }
    assert names >= PUBLIC_VIEWS


def test_every_api_operation_is_authenticated_or_deliberately_public():
    unexpected = []
    seen_public = set()
    for name, target in (("fhir", fhir_api), ("api", api)):
        for api_name, route, operation in _ninja_operations(target, name):
            if not operation.auth_callbacks:
                seen_public.add((api_name, route))
                if (api_name, route) not in PUBLIC_OPERATIONS:
                    unexpected.append((api_name, route))
    assert unexpected == []
    assert seen_public == PUBLIC_OPERATIONS


def test_admin_requires_staff(client, db):
    response = client.get("/gestion/")
    assert response.status_code == 302
    assert "/gestion/login/" in response["Location"]
