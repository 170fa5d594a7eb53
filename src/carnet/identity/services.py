"""Identity: holders, representatives, professionals, and the holder's login.

Invariants:
- A holder is identified by a valid INS (NIR or NIA; test/demo OIDs only outside production) and
  the five strict traits, stored as given and never rewritten.
- Login is password (Argon2) then a 6-digit one-time code; consecutive failures of either lock
  the account for CARNET_LOGIN_LOCK_SECONDS. Unknown identifiers, wrong passwords and locked
  accounts get the same message and take the same time, so identifiers cannot be enumerated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.access.policy import Target
from carnet.core import clock
from carnet.core.errors import Conflict, InvalidInput
from carnet.identity import ins as ins_rules
from carnet.identity.errors import CodeExpired, LoginFailed
from carnet.identity.models import (
    Holder,
    LegalRepresentation,
    OneTimeCode,
    Organisation,
    Professional,
    Sex,
    SpaceStatus,
    User,
)
from carnet.notifications.email import send_templated

LOGIN_FAILED_MESSAGE = (
    "Identifiant, mot de passe ou code incorrect, ou compte temporairement verrouillé."
)
# A valid Argon2 hash to check against when the identifier is unknown, so timing stays the same.
_DUMMY_PASSWORD_HASH = make_password("carnet-timing-equaliser")


@dataclass(frozen=True)
class BirthTraits:
    """The five strict INS traits."""

    birth_family_name: str
    birth_given_names: str
    birth_date: dt.date
    sex: str
    birth_place_code: str


def register_holder(
    *,
    matricule: str,
    oid: str,
    traits: BirthTraits,
    contact_email: str = "",
    used_family_name: str = "",
    used_given_name: str = "",
    status: str = SpaceStatus.CREATED,
) -> Holder:
    """Create a holder's space from the insurer's register. Raises InvalidIns, InvalidInput."""
    ins = ins_rules.parse_ins(matricule, oid, accept_fictitious=ins_rules.accept_fictitious_ins())
    _check_traits(traits)
    if Holder.objects.filter(ins_matricule=ins.matricule, ins_oid=ins.oid).exists():
        raise Conflict(_("Un espace existe déjà pour cet INS."), code="duplicate-ins")
    return Holder.objects.create(
        ins_matricule=ins.matricule,
        ins_oid=ins.oid,
        birth_family_name=traits.birth_family_name.strip().upper(),
        birth_given_names=" ".join(traits.birth_given_names.split()),
        birth_date=traits.birth_date,
        sex=traits.sex,
        birth_place_code=traits.birth_place_code,
        contact_email=contact_email,
        used_family_name=used_family_name,
        used_given_name=used_given_name,
        space_status=status,
    )


def _check_traits(traits: BirthTraits) -> None:
    if not traits.birth_family_name.strip():
        raise InvalidInput(_("Le nom de naissance est obligatoire."), field="birth_family_name")
    if not traits.birth_given_names.strip():
        raise InvalidInput(
            _("Les prénoms de naissance sont obligatoires."), field="birth_given_names"
        )
    if traits.sex not in Sex.values:
        raise InvalidInput(_("Le sexe doit être M ou F."), field="sex")
    if traits.birth_date > clock.today():
        raise InvalidInput(_("La date de naissance est dans le futur."), field="birth_date")
    code = traits.birth_place_code
    if len(code) != 5 or not (code.isdigit() or (code[:2] in {"2A", "2B"} and code[2:].isdigit())):
        raise InvalidInput(
            _(
                "Le lieu de naissance doit être un code INSEE à 5 caractères "
                "(ex. 75056, 2A004, 99134)."
            ),
            field="birth_place_code",
        )


@transaction.atomic
def activate_space(holder: Holder, *, email: str, password: str) -> User:
    """Give the holder a login account and mark the space active."""
    if holder.space_status in {SpaceStatus.OPPOSED, SpaceStatus.CLOSED}:
        raise Conflict(_("Cet espace a été fermé ou refusé : il ne peut pas être activé."))
    user = User.objects.create_user(email, password, display_name=str(holder))
    holder.user = user
    holder.space_status = SpaceStatus.ACTIVE
    holder.save(update_fields=["user", "space_status"])
    return user


def add_legal_representative(
    *, minor: Holder, representative: User, kind: str = LegalRepresentation.Kind.PARENT
) -> LegalRepresentation:
    return LegalRepresentation.objects.create(
        patient=minor, representative=representative, kind=kind, since=clock.today()
    )


def register_professional(
    *,
    rpps: str,
    family_name: str,
    given_name: str,
    profession_code: str,
    specialty_code: str = "",
    pharmacist_section: str = "",
    organisation: Organisation | None = None,
    mssante_address: str = "",
) -> Professional:
    """Register a professional. Raises InvalidInput when the RPPS or the profession is wrong."""
    from carnet.identity.identifiers import validate_rpps
    from carnet.identity.professions import profession

    number = validate_rpps(rpps)
    if profession(profession_code) is None:
        raise InvalidInput(
            _("Code profession inconnu : %(code)s (table G15).") % {"code": profession_code},
            field="profession_code",
        )
    return Professional.objects.create(
        rpps=number,
        family_name=family_name,
        given_name=given_name,
        profession_code=profession_code,
        specialty_code=specialty_code,
        pharmacist_section=pharmacist_section,
        organisation=organisation,
        mssante_address=mssante_address,
    )


def register_organisation(*, finess: str, name: str, facility_type: str = "") -> Organisation:
    from carnet.identity.identifiers import validate_finess

    number = validate_finess(finess)
    return Organisation.objects.create(idnst="1" + number, name=name, facility_type=facility_type)


# --- Holder login -------------------------------------------------------------------------------


def _find_login_user(identifier: str) -> User | None:
    identifier = identifier.strip()
    if "@" in identifier:
        return User.objects.filter(email__iexact=identifier, is_active=True).first()
    compact = identifier.replace(" ", "").upper()
    holder = Holder.objects.filter(ins_matricule=compact, user__is_active=True).first()
    return holder.user if holder else None


def _is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > clock.now()


def _register_failure(user: User) -> None:
    user.failed_logins += 1
    if user.failed_logins >= settings.CARNET_LOGIN_MAX_FAILURES:
        user.locked_until = clock.now() + dt.timedelta(seconds=settings.CARNET_LOGIN_LOCK_SECONDS)
        user.failed_logins = 0
    user.save(update_fields=["failed_logins", "locked_until"])


def _code_digest(user: User, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{user.pk}:{code}".encode(), hashlib.sha256).hexdigest()


def start_login(identifier: str, password: str, *, channel: str = "email") -> User:
    """Check identifier and password, then send a one-time code. Raises LoginFailed."""
    user = _find_login_user(identifier)
    if user is None:
        # Same work as a real check, so that response time does not reveal unknown identifiers.
        check_password(password, _DUMMY_PASSWORD_HASH)
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    password_ok = user.check_password(password)
    if _is_locked(user):
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    if not password_ok:
        _register_failure(user)
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    send_login_code(user, channel=channel)
    return user


def send_login_code(user: User, *, channel: str = "email") -> None:
    """Issue a fresh code (older ones stop working) and send it by e-mail or SMS."""
    now = clock.now()
    code = f"{secrets.randbelow(1_000_000):06d}"
    ttl = settings.CARNET_OTP_TTL_SECONDS
    with transaction.atomic():
        OneTimeCode.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
        OneTimeCode.objects.create(
            user=user,
            code_hash=_code_digest(user, code),
            channel=channel,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl),
        )
    if channel == "sms" and user.phone:
        from carnet.identity.sms import gateway

        gateway().send(user.phone, _("Votre code Carnet : %(code)s") % {"code": code})
    else:
        send_templated("login_code", user.email, {"code": code, "minutes": ttl // 60})


def verify_login_code(user: User, code: str) -> None:
    """Accept the pending one-time code or raise LoginFailed / CodeExpired."""
    if _is_locked(user):
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    pending = (
        OneTimeCode.objects.filter(user=user, used_at__isnull=True).order_by("-created_at").first()
    )
    now = clock.now()
    if pending is None or pending.expires_at <= now:
        raise CodeExpired(_("Ce code a expiré. Reconnectez-vous pour en recevoir un nouveau."))
    candidate = code.strip().replace(" ", "")
    if not hmac.compare_digest(pending.code_hash, _code_digest(user, candidate)):
        pending.attempts += 1
        if pending.attempts >= settings.CARNET_OTP_MAX_ATTEMPTS:
            pending.used_at = now
        pending.save(update_fields=["attempts", "used_at"])
        _register_failure(user)
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    pending.used_at = now
    pending.save(update_fields=["used_at"])
    user.failed_logins = 0
    user.locked_until = None
    user.save(update_fields=["failed_logins", "locked_until"])


def pending_login_user(user_id: object) -> User | None:
    """The account waiting for its one-time code (from the session), if still valid."""
    if not user_id:
        return None
    try:
        return User.objects.filter(pk=str(user_id), is_active=True).first()
    except (ValueError, ValidationError):
        return None


# --- Actors -------------------------------------------------------------------------------------


def actor_for_user(user: User) -> Actor:
    """The actor of a logged-in portal user: their own space and the spaces they represent."""
    today = clock.today()
    own = Holder.objects.filter(user=user).values_list("id", flat=True)
    represented = LegalRepresentation.objects.filter(representative=user, since__lte=today).exclude(
        until__lt=today
    )
    if hasattr(user, "professional"):
        return actor_for_professional(user.professional, channel="pro-web")
    return Actor(
        kind=ActorKind.HOLDER,
        id=str(user.pk),
        label=user.display_name or user.email,
        own_patient_ids=frozenset(str(pk) for pk in own),
        represented_patient_ids=frozenset(str(r.patient_id) for r in represented),
        channel="portal",
    )


def actor_for_professional(
    professional: Professional,
    *,
    channel: str,
    purpose: PurposeOfUse = PurposeOfUse.NORMAL,
    emergency_reason: str = "",
) -> Actor:
    organisation = professional.organisation
    return Actor(
        kind=ActorKind.PROFESSIONAL,
        id=str(professional.pk),
        label=str(professional),
        rpps=professional.rpps,
        profession=professional.profession_code,
        specialty=professional.specialty_code,
        pharmacist_section=professional.pharmacist_section,
        organisation=organisation.idnst if organisation else "",
        organisation_name=organisation.name if organisation else "",
        purpose_of_use=purpose,
        emergency_reason=emergency_reason,
        channel=channel,
    )


# --- Reading a holder's identity through the gate -----------------------------------------------


def _holder_or_none(patient_id: str) -> Holder | None:
    try:
        return Holder.objects.filter(pk=patient_id).first()
    except (ValueError, ValidationError):
        return None


def read_patient(actor: Actor, patient_id: str) -> Holder:
    """The holder's identity, for the holder or their representative. Raises NotFound."""
    holder = _holder_or_none(patient_id)
    if holder is None:
        gate.refuse_missing(actor, Action.IDENTITY_PATIENT_READ, "Patient", patient_id)
    gate.authorize(
        actor,
        Action.IDENTITY_PATIENT_READ,
        Target("Patient", str(holder.pk), patient_id=str(holder.pk)),
    )
    return holder


def spaces_of(actor: Actor) -> list[Holder]:
    """The spaces an actor may switch between in the portal (own first, then represented)."""
    rows = gate.visible(
        actor, Action.IDENTITY_PATIENT_SEARCH, Holder.objects.all(), patient_field="id"
    )
    return sorted(rows, key=lambda h: (str(h.pk) not in actor.own_patient_ids, h.birth_date))


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


# --- Lookups for the access rules (no patient data is released by these) -----------------------

OPEN_SPACE_STATUSES = frozenset({SpaceStatus.CREATED, SpaceStatus.ACTIVE})


def holder_rows(patient_id: str) -> QuerySet[Holder]:
    """The holder with this id as a queryset (none for a malformed id), for a caller that adds the
    facts it needs to the same query (access.facts). Hand nothing out without the gate."""
    try:
        return Holder.objects.filter(pk=uuid.UUID(str(patient_id)))
    except ValueError:
        return Holder.objects.none()


def is_open_status(space_status: str) -> bool:
    return space_status in OPEN_SPACE_STATUSES


def space_is_open(patient_id: str) -> bool | None:
    """Whether professionals may use this space (created or activated; not opposed, closed or
    still in its opposition period). None when there is no such holder."""
    holder = _holder_or_none(patient_id)
    if holder is None:
        return None
    return holder.space_status in OPEN_SPACE_STATUSES


def holder_for_ins(matricule: str, oid: str) -> Holder | None:
    """The holder with this INS, for services that then decide through the gate what the caller
    may know of it. Never hand the result out without an `authorize` on it."""
    return Holder.objects.filter(ins_matricule=matricule.strip().upper(), ins_oid=oid).first()


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
