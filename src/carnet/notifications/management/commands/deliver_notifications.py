"""`manage.py deliver_notifications`: the outbox's fallback scheduler.

`manage.py db_worker` (django-tasks) sends each notification as soon as its event commits. This
command finds what that fast path cannot: deliveries whose wake-up task was lost, retries that
fell due, and deliveries abandoned in `sending` by a worker that died (once their lease expires).
Running it alongside the workers, or several copies of it, never sends a delivery twice: each
attempt first claims the delivery with a conditional UPDATE.
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from carnet.notifications import delivery


class Command(BaseCommand):
    help = (
        "Envoie les notifications en attente (une passe ; --loop pour continuer), "
        "y compris les nouvelles tentatives et les envois interrompus."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep going until SIGTERM/SIGINT")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="seconds between passes with --loop"
        )
        parser.add_argument("--limit", type=int, default=100, help="deliveries per pass")
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="put failed deliveries back in the queue first (e.g. after an SMTP outage)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.running = True
        if options["retry_failed"]:
            count = delivery.retry_failed()
            self.stdout.write(f"{count} envoi(s) en échec remis en file d'attente")
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

    def _pass(self, limit: int, *, verbose: bool) -> delivery.PassReport:
        report = delivery.deliver_pending(limit=limit)
        if verbose or report.handled:
            self.stdout.write(
                f"envoyées : {report.sent}, à réessayer : {report.retry}, "
                f"en échec : {report.failed}"
            )
        return report

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.running and time.monotonic() < deadline:
            time.sleep(min(0.2, seconds))

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        # Finish the current delivery (its outcome must be recorded), then exit.
        self.running = False
