"""Professional web login through OpenID Connect (Pro Santé Connect style), configured by
environment (OIDC_* settings). The identity provider's claims must carry the RPPS; only
professionals already known to Carnet may log in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from carnet.identity import services as identity


class ProfessionalOIDCBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(rpps_from_claims(claims))

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return identity.professional_login_accounts(
            rpps=rpps_from_claims(claims), subject=str(claims.get("sub", ""))
        )


def rpps_from_claims(claims: dict[str, Any]) -> str:
    """The RPPS from the claim named by CARNET_OIDC_RPPS_CLAIM (IDNPS "8"+RPPS is accepted)."""
    value = str(claims.get(getattr(settings, "CARNET_OIDC_RPPS_CLAIM", "rpps"), "") or "")
    if len(value) == 12 and value.startswith("8"):
        value = value[1:]
    return value if len(value) == 11 and value.isdigit() else ""
