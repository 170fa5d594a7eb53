"""The holder's login (password then one-time code, throttling, equal timing) and the actor a login
or a professional's token becomes."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.core import clock
from carnet.identity import throttle
from carnet.identity.errors import CodeExpired, LoginFailed
from carnet.identity.models import (
    Holder,
    LegalRepresentation,
    OneTimeCode,
    Professional,
    User,
)
from carnet.notifications.email import send_templated

LOGIN_FAILED_MESSAGE = (
    "Identifiant, mot de passe ou code incorrect, ou compte temporairement verrouillé."
)
# A valid Argon2 hash to check against when the identifier is unknown, so timing stays the same.
_DUMMY_PASSWORD_HASH = make_password("carnet-timing-equaliser")


def _find_login_user(identifier: str) -> User | None:
    identifier = identifier.strip()
    if "@" in identifier:
        return User.objects.filter(email__iexact=identifier, is_active=True).first()
    compact = identifier.replace(" ", "").upper()
    holder = Holder.objects.filter(ins_matricule=compact, user__is_active=True).first()
    return holder.user if holder else None


def _code_digest(user: User, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{user.pk}:{code}".encode(), hashlib.sha256).hexdigest()


def start_login(
    identifier: str, password: str, *, channel: str = "email", client_address: str = ""
) -> User:
    """Check identifier and password, then send a one-time code (unless enough were sent in the
    throttling window: the last one still works). Raises LoginFailed."""
    throttle.purge_expired()
    user = _find_login_user(identifier)
    if user is None:
        # Same work as a real check, so that response time does not reveal unknown identifiers.
        check_password(password, _DUMMY_PASSWORD_HASH)
        throttle.record_failure(None, client_address)
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    password_ok = user.check_password(password)
    if throttle.is_blocked(user, client_address):
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    if not password_ok:
        throttle.record_failure(user, client_address)
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    if throttle.may_send_code(user, client_address):
        send_login_code(user, channel=channel)
    return user


def resend_login_code(user: User, *, client_address: str = "") -> bool:
    """Send a fresh code on request, within the throttling limits; False when none was sent."""
    if not throttle.may_send_code(user, client_address):
        return False
    send_login_code(user)
    return True


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


def verify_login_code(user: User, code: str, *, client_address: str = "") -> None:
    """Accept the pending one-time code or raise LoginFailed / CodeExpired."""
    if throttle.is_blocked(user, client_address):
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
        throttle.record_failure(user, client_address)
        raise LoginFailed(_(LOGIN_FAILED_MESSAGE))
    pending.used_at = now
    pending.save(update_fields=["used_at"])
    throttle.record_success(user, client_address)


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
