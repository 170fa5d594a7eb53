"""Login throttling that slows an attacker without locking the holder out.

A failure (wrong password, wrong code, unknown identifier) counts against two keys: the account
from that client address, and the client address whatever the account. Past
`CARNET_LOGIN_MAX_FAILURES` (account and address) or `CARNET_LOGIN_ADDRESS_MAX_FAILURES`
(address alone) within `CARNET_LOGIN_LOCK_SECONDS`, that key is blocked for the same duration:
someone who knows a holder's e-mail or INS can lock only their own address out of the account,
while the holder logs in from their own. Codes are sent at most `CARNET_LOGIN_MAX_CODES` times
per window and account, and none while the requester is blocked. Addresses are kept as keyed
hashes (HMAC with the secret key): the table never holds an IP address in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from django.conf import settings
from django.db import transaction

from carnet.core import clock
from carnet.identity.models import LoginThrottle, OneTimeCode, User


def _address_digest(address: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"address:{address}".encode(), hashlib.sha256).hexdigest()[:40]


def _keys(user: User | None, address: str) -> list[tuple[str, int]]:
    """(key, threshold) for each counter a failure of this user from this address touches."""
    digest = _address_digest(address)
    keys = [(f"a:{digest}", settings.CARNET_LOGIN_ADDRESS_MAX_FAILURES)]
    if user is not None:
        keys.append((f"u:{user.pk.hex}:{digest}", settings.CARNET_LOGIN_MAX_FAILURES))
    return keys


def _window() -> dt.timedelta:
    return dt.timedelta(seconds=settings.CARNET_LOGIN_LOCK_SECONDS)


def is_blocked(user: User | None, address: str) -> bool:
    """Whether logins for this account from this address (or from this address at all) are
    currently refused."""
    now = clock.now()
    return LoginThrottle.objects.filter(
        key__in=[key for key, _limit in _keys(user, address)], blocked_until__gt=now
    ).exists()


def record_failure(user: User | None, address: str) -> None:
    now = clock.now()
    with transaction.atomic():
        for key, limit in _keys(user, address):
            row, _created = LoginThrottle.objects.select_for_update().get_or_create(
                key=key, defaults={"window_started_at": now}
            )
            if row.window_started_at + _window() <= now:
                row.failures, row.window_started_at = 0, now
            row.failures += 1
            if row.failures >= limit:
                row.blocked_until, row.failures, row.window_started_at = now + _window(), 0, now
            row.save(update_fields=["failures", "window_started_at", "blocked_until"])


def record_success(user: User, address: str) -> None:
    """A completed login clears this account's counter for this address (not the address's own:
    one success does not excuse an address that tried many accounts)."""
    keys = [key for key, _limit in _keys(user, address)][1:]
    LoginThrottle.objects.filter(key__in=keys).delete()


def may_send_code(user: User, address: str) -> bool:
    """Whether a new one-time code may be sent now to this account, asked from this address."""
    if is_blocked(user, address):
        return False
    since = clock.now() - _window()
    sent = OneTimeCode.objects.filter(user=user, created_at__gt=since).count()
    return sent < settings.CARNET_LOGIN_MAX_CODES


def purge_expired() -> int:
    """Forget counters whose window and block are both over (called by the login itself)."""
    now = clock.now()
    done, _by_model = (
        LoginThrottle.objects.filter(window_started_at__lte=now - _window())
        .exclude(blocked_until__gt=now)
        .delete()
    )
    return done
