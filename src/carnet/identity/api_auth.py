"""From a verified professional token to an Actor (the registered issuers are the trust anchor)."""

from __future__ import annotations

import functools
import json
from dataclasses import replace

from django.conf import settings

from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.identity.models import Professional, RegisteredIssuer
from carnet.identity.services import actor_for_professional
from carnet.identity.tokens import (
    IssuerKeys,
    ProfessionalClaims,
    TokenRejected,
    verify_professional_token,
)


@functools.lru_cache(maxsize=256)
def _issuer_keys(issuer: str, jwks_json: str) -> IssuerKeys:
    """The parsed keys of a registration, kept while its JWKS is unchanged: the registration is
    read on every call (a deactivated issuer is refused at once), parsing its keys is not redone."""
    return IssuerKeys(issuer=issuer, jwks=json.loads(jwks_json))


def actor_for_token(token: str, *, audience: str, now: int) -> Actor:
    """Verify the token (raises TokenRejected) and return the professional actor it describes."""
    resolved: dict[str, RegisteredIssuer] = {}

    def resolve_issuer(issuer: str) -> IssuerKeys | None:
        row = RegisteredIssuer.objects.filter(issuer=issuer, is_active=True).first()
        if row is None:
            return None
        resolved[row.issuer] = row
        return _issuer_keys(row.issuer, json.dumps(row.jwks, sort_keys=True))

    claims = verify_professional_token(
        token,
        resolve_issuer=resolve_issuer,
        audience=audience,
        now=now,
        max_lifetime=settings.CARNET_JWT_MAX_LIFETIME_SECONDS,
        leeway=settings.CARNET_JWT_LEEWAY_SECONDS,
    )
    issuer = resolved.get(claims.issuer) or RegisteredIssuer.objects.get(issuer=claims.issuer)
    if issuer.is_insurer:
        return Actor(
            kind=ActorKind.SYSTEM, id=f"issuer:{issuer.pk}", label=issuer.name, channel="api"
        )
    professional = _professional(claims)
    actor = actor_for_professional(
        professional,
        channel="api",
        purpose=PurposeOfUse(claims.purpose_of_use.value),
        emergency_reason=claims.emergency_reason or "",
    )
    organisation = _vouched_organisation(issuer, professional, claims)
    return replace(
        actor,
        organisation=organisation,
        organisation_name=(claims.organisation_name or actor.organisation_name)
        if organisation
        else "",
    )


def _professional(claims: ProfessionalClaims) -> Professional:
    """The directory's professional for the token's RPPS (created, marked `from_token`, when the
    directory does not know it). The directory's profession wins: a token claiming another one
    is refused rather than believed."""
    professional = (
        Professional.objects.select_related("organisation").filter(rpps=claims.rpps).first()
    )
    if professional is None:
        professional, _created = Professional.objects.get_or_create(
            rpps=claims.rpps,
            defaults={
                "family_name": claims.family_name,
                "given_name": claims.given_name,
                "profession_code": claims.profession,
                "specialty_code": claims.specialty or "",
                "pharmacist_section": claims.pharmacist_section or "",
                "from_token": True,
            },
        )
    if professional.profession_code != claims.profession:
        raise TokenRejected(
            "profession-mismatch",
            f"La profession indiquée par le jeton ({claims.profession}) n'est pas celle que "
            f"l'annuaire connaît pour ce RPPS ({professional.profession_code}).",
        )
    return professional


def _vouched_organisation(
    issuer: RegisteredIssuer, professional: Professional, claims: ProfessionalClaims
) -> str:
    """The organisation the professional acts for in this call, as far as someone trusted vouches
    for it: the directory (the professional's own organisation) or an issuer registered for that
    organisation. A professional the directory does not know acts for none (no right that rests
    on an organisation, such as reading its masked documents)."""
    claimed = claims.organisation.value
    if professional.from_token:
        return ""
    if professional.organisation is not None and professional.organisation.idnst == claimed:
        return claimed
    if issuer.organisations.filter(idnst=claimed).exists():
        return claimed
    raise TokenRejected(
        "organisation-not-vouched",
        f"L'émetteur du jeton n'est pas habilité pour la structure {claimed}, et l'annuaire ne "
        "rattache pas ce professionnel à cette structure.",
    )
