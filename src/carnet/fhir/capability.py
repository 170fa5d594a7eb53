"""The CapabilityStatement is assembled from what the routers declare next to their routes, so it
cannot claim an interaction that is not implemented (a test checks each declared interaction)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings


@dataclass
class ResourceCapability:
    type: str
    interactions: list[str] = field(default_factory=list)
    search_params: list[tuple[str, str, str]] = field(default_factory=list)  # name, type, doc
    profiles: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)


_REGISTRY: dict[str, ResourceCapability] = {}
_SYSTEM_INTERACTIONS: set[str] = set()


def declare(
    resource_type: str,
    *,
    interactions: list[str],
    search_params: list[tuple[str, str, str]] | None = None,
    profiles: list[str] | None = None,
) -> None:
    entry = _REGISTRY.setdefault(resource_type, ResourceCapability(resource_type))
    entry.interactions = sorted(set(entry.interactions) | set(interactions))
    for param in search_params or []:
        if param not in entry.search_params:
            entry.search_params.append(param)
    for profile in profiles or []:
        if profile not in entry.profiles:
            entry.profiles.append(profile)


def declare_system(interaction: str) -> None:
    _SYSTEM_INTERACTIONS.add(interaction)


def declared() -> dict[str, ResourceCapability]:
    return dict(_REGISTRY)


def capability_statement() -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for name in sorted(_REGISTRY):
        entry = _REGISTRY[name]
        resource: dict[str, Any] = {
            "type": name,
            "interaction": [{"code": code} for code in entry.interactions],
        }
        if entry.profiles:
            resource["supportedProfile"] = entry.profiles
        if entry.search_params:
            resource["searchParam"] = [
                {"name": n, "type": t, "documentation": d} for n, t, d in entry.search_params
            ]
        resources.append(resource)
    rest: dict[str, Any] = {
        "mode": "server",
        "security": {
            "description": (
                "Professionnels : jeton Bearer JWT signé par un logiciel enregistré (JWKS). "
                "Titulaires : session du portail."
            ),
        },
        "resource": resources,
    }
    if _SYSTEM_INTERACTIONS:
        rest["interaction"] = [{"code": code} for code in sorted(_SYSTEM_INTERACTIONS)]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
        "software": {"name": "Carnet", "version": "0.1.0"},
        "implementation": {
            "description": "Carnet — espace santé personnel",
            "url": settings.SITE_URL + "/fhir/R4",
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [rest],
    }
