"""FHIR date, dateTime and instant values as aware datetimes, with their precision.

A value without a time zone is read in the server's zone (Europe/Paris), as FHIR search says; a
partial value (`2025`, `2025-06`, `2025-06-01`) stands for the whole period it names, which is what
search prefixes (`ge`, `lt`…) compare against.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from django.utils import timezone

_DATETIME = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,9})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class BadDate(ValueError):
    """Not a FHIR date/dateTime/instant (the message is French)."""


def period_of(value: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the period a FHIR date/dateTime designates. Raises BadDate."""
    match = _DATETIME.match(value.strip())
    if match is None:
        raise BadDate(
            f"« {value} » n'est pas une date FHIR (AAAA, AAAA-MM, AAAA-MM-JJ ou instant)."
        )
    parts = match.groupdict()
    try:
        year = int(parts["year"])
        month = int(parts["month"] or 1)
        day = int(parts["day"] or 1)
        hour, minute = int(parts["hour"] or 0), int(parts["minute"] or 0)
        second = int(parts["second"] or 0)
        micro = int((parts["fraction"] or ".0")[1:7].ljust(6, "0"))
        zone = _zone(parts["zone"]) if parts["zone"] else timezone.get_default_timezone()
        start = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except (ValueError, OverflowError) as error:
        raise BadDate(f"« {value} » n'est pas une date valide.") from error
    if parts["hour"] is not None and parts["zone"] is None:
        raise BadDate(f"« {value} » : une heure doit être accompagnée d'un fuseau (Z ou ±hh:mm).")
    try:
        if parts["month"] is None:
            end = start.replace(year=year + 1)
        elif parts["day"] is None:
            end = start + dt.timedelta(days=calendar.monthrange(year, month)[1])
        elif parts["hour"] is None:
            end = start + dt.timedelta(days=1)
        elif parts["second"] is None:
            end = start + dt.timedelta(minutes=1)
        elif parts["fraction"] is None:
            end = start + dt.timedelta(seconds=1)
        else:
            end = start + dt.timedelta(microseconds=1)
        # Both ends must exist in UTC too (the database compares in UTC), a microsecond apart.
        (start - _MICROSECOND).astimezone(dt.UTC)
        end.astimezone(dt.UTC)
    except (ValueError, OverflowError) as error:
        raise BadDate(f"« {value} » est hors des dates prises en charge.") from error
    return start, end


_MICROSECOND = dt.timedelta(microseconds=1)


def parse_instant(value: str) -> dt.datetime:
    """A FHIR instant (date, time to the second, zone). Raises BadDate."""
    match = _DATETIME.match(value.strip())
    if match is None or match["second"] is None or match["zone"] is None:
        raise BadDate(
            f"« {value} » n'est pas un instant FHIR (AAAA-MM-JJThh:mm:ss avec fuseau, "
            "par exemple 2025-06-01T12:00:00+01:00)."
        )
    return period_of(value)[0]


def parse_datetime(value: str) -> dt.datetime:
    """The start of a FHIR dateTime (partial dates allowed). Raises BadDate."""
    return period_of(value)[0]


def _zone(text: str) -> dt.tzinfo:
    if text == "Z":
        return dt.UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(text)
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def instant(value: dt.datetime | None) -> str | None:
    """An aware datetime as a FHIR instant, in the server's zone."""
    if value is None:
        return None
    return timezone.localtime(value).isoformat(timespec="seconds")
