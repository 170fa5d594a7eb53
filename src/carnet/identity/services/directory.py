"""The professional directory (public, no patient data) and the professionals' web login."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from carnet.identity.models import Organisation, Professional, User

# --- Professionals' web login -------------------------------------------------------------------


def user_for_professional_login(*, rpps: str, subject: str) -> User | None:
    """The login account of a known professional (created on first login); None if unknown."""
    professional = (
        Professional.objects.filter(rpps=rpps).select_related("user").first() if rpps else None
    )
    if professional is None:
        return None
    if professional.user is None:
        user = User.objects.create_user(
            f"rpps-{professional.rpps}@pro.carnet.invalid", None, display_name=str(professional)
        )
        professional.user = user
    if subject and not professional.oidc_subject:
        professional.oidc_subject = subject
    professional.save(update_fields=["user", "oidc_subject"])
    return professional.user


def professional_login_accounts(*, rpps: str, subject: str) -> QuerySet[User]:
    """The account matching an OpenID Connect login, as the queryset mozilla-django-oidc wants."""
    user = user_for_professional_login(rpps=rpps, subject=subject)
    return User.objects.filter(pk=user.pk) if user else User.objects.none()


def demo_professionals() -> list[Professional]:
    """Professionals offered by the demo login (demo mode only)."""
    from carnet.identity.professions import profession

    rows = list(Professional.objects.select_related("organisation").order_by("family_name")[:50])
    for row in rows:
        known = profession(row.profession_code)
        row.profession_label = known.display if known else row.profession_code  # type: ignore[attr-defined]
    return rows


def professional_by_id(professional_id: str) -> Professional | None:
    try:
        return (
            Professional.objects.select_related("organisation")
            .filter(pk=str(professional_id))
            .first()
        )
    except (ValueError, ValidationError):
        return None


def professional_by_rpps(rpps: str) -> Professional | None:
    return Professional.objects.select_related("organisation").filter(rpps=rpps.strip()).first()


def search_professionals(query: str) -> QuerySet[Professional]:
    """The professional directory: by name (family or given, any word), RPPS, or profession
    (code or label), ordered by name. The directory is public (Annuaire Santé); it holds no
    patient data."""
    from django.db.models import Q

    from carnet.identity.professions import professions

    rows = Professional.objects.select_related("organisation").order_by(
        "family_name", "given_name", "rpps"
    )
    for word in query.split()[:5]:
        codes = [p.code for p in professions() if word.lower() in p.display.lower()]
        rows = rows.filter(
            Q(family_name__icontains=word)
            | Q(given_name__icontains=word)
            | Q(rpps__startswith=word)
            | Q(profession_code=word)
            | Q(profession_code__in=codes)
        )
    return rows


def pharmacist_sections() -> list[tuple[str, str]]:
    """The sections of the Ordre des pharmaciens (table G05) as (code, label), in table order."""
    from carnet.identity.professions import _pharmacist_sections

    return [(code, section.display) for code, section in _pharmacist_sections().items()]


def professional_for_mssante_address(address: str) -> Professional | None:
    """The directory's professional with this MSSanté address, when exactly one has it."""
    if not address:
        return None
    rows = list(
        Professional.objects.select_related("organisation").filter(mssante_address__iexact=address)[
            :2
        ]
    )
    return rows[0] if len(rows) == 1 else None


def organisations_by_idnst(idnsts: list[str]) -> list[Organisation]:
    return list(Organisation.objects.filter(idnst__in=idnsts))


def professionals_with_mailbox(
    organisations: list[Organisation], profession_code: str
) -> QuerySet[Professional]:
    """The professionals of these organisations with this profession and an MSSanté address,
    by name."""
    return (
        Professional.objects.select_related("organisation")
        .filter(organisation__in=organisations, profession_code=profession_code)
        .exclude(mssante_address="")
        .order_by("family_name", "given_name")
    )
