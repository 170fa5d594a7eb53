"""The one clock of Carnet.

Every rule that depends on time (code expiry, lockouts, deadlines, token lifetimes) reads `now()`
from here, so tests move time with `time_machine` instead of sleeping.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def now() -> dt.datetime:
    """Current aware datetime (UTC)."""
    return timezone.now()


def today() -> dt.date:
    """Current date in the configured time zone (Europe/Paris)."""
    return timezone.localdate(now())


def epoch_seconds() -> int:
    return int(now().timestamp())
