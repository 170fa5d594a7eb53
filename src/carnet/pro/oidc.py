"""Professional web login through OpenID Connect (placeholder until wired)."""

from __future__ import annotations

from mozilla_django_oidc.auth import OIDCAuthenticationBackend


class ProfessionalOIDCBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    pass
