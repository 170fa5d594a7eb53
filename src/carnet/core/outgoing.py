"""What every outbox of Carnet shares (notification e-mails, the holders' secure messages): the
retry schedule, which rows are due, how an SMTP failure is judged and told, and the polling
command that sends what is due. An outbox model has `status` (pending, sending, sent, failed),
`attempts`, `next_attempt_at`, `lease_until` and `last_error`; each outbox keeps its own claim and
send, which carry its content.
"""

from __future__ import annotations

import datetime as dt
import signal
import smtplib
import time
from types import FrameType
from typing import Any, Protocol

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, models
from django.db.models import Q

MAX_ATTEMPTS = 10
BASE_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=1)
MAX_ERROR_LENGTH = 1000
# The statuses every outbox model uses (its TextChoices have these values).
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
ABANDONED_ERROR = "Tentatives épuisées : la dernière a été interrompue (arrêt du worker)."


def claimable(now: dt.datetime) -> Q:
    """Rows a worker may claim: due for an attempt, or left in `sending` by a worker whose lease
    expired, and not out of attempts."""
    due = Q(status=PENDING, next_attempt_at__lte=now)
    abandoned = Q(status=SENDING, lease_until__lte=now)
    return (due | abandoned) & Q(attempts__lt=MAX_ATTEMPTS)


def due_ids(model: type[models.Model], *, now: dt.datetime, limit: int) -> list[int]:
    """The ids of the rows to attempt now, oldest due first."""
    rows = model._default_manager.filter(claimable(now)).order_by("next_attempt_at", "pk")
    return list(rows.values_list("pk", flat=True)[:limit])


def give_up_abandoned(model: type[models.Model], *, now: dt.datetime) -> int:
    """Rows whose last allowed attempt died with its worker end `failed`, saying so."""
    return model._default_manager.filter(
        status=SENDING, lease_until__lte=now, attempts__gte=MAX_ATTEMPTS
    ).update(status=FAILED, lease_until=None, last_error=ABANDONED_ERROR)


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next attempt after `attempts` failed ones (1 → BASE_DELAY), doubling up to
    MAX_DELAY."""
    exponent = max(attempts - 1, 0)
    if exponent > 16:  # 30 s * 2**16 is far beyond the cap already
        return MAX_DELAY
    return min(BASE_DELAY * (1 << exponent), MAX_DELAY)


def is_permanent(exc: Exception) -> bool:
    """A 5xx reply is final (RFC 5321 §4.2.1); anything else may succeed later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def describe(exc: Exception) -> str:
    """The failure as stored and shown ("SMTP 550 …"), bounded."""
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error
        shown = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        text = f"SMTP {exc.smtp_code} {shown}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "SMTP " + "; ".join(
            f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values()
        )
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_LENGTH]


class Report(Protocol):
    @property
    def handled(self) -> int: ...


class PollingCommand(BaseCommand):
    """One pass over an outbox, or `--loop` until SIGTERM/SIGINT (the item in hand is finished
    and its outcome recorded before exiting). Subclasses give `send_pass` and `summary`."""

    item_label = "items"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep going until SIGTERM/SIGINT")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="seconds between passes with --loop"
        )
        parser.add_argument("--limit", type=int, default=100, help=f"{self.item_label} per pass")

    def send_pass(self, limit: int) -> Report:
        raise NotImplementedError

    def summary(self, report: Any) -> str:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        self.running = True
        if not options["loop"]:
            self._pass(options["limit"], verbose=True)
            return
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while self.running:
            close_old_connections()
            report = self._pass(options["limit"], verbose=options["verbosity"] > 1)
            close_old_connections()
            if report.handled < options["limit"]:
                self._sleep(options["interval"])

    def _pass(self, limit: int, *, verbose: bool) -> Report:
        report = self.send_pass(limit)
        if verbose or report.handled:
            self.stdout.write(self.summary(report))
        return report

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.running and time.monotonic() < deadline:
            time.sleep(min(0.2, seconds))

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.running = False
