"""`manage.py send_messages`: sends the holders' messages waiting in the outbox to the relay.

`manage.py db_worker` (django-tasks) sends each message as soon as it is written; this command is
the worker of its own for deployments without django-tasks workers, and the fallback that finds
what the fast path cannot (lost wake-ups, retries that fell due, messages abandoned in `sending`
by a worker that died). Several copies never send a message twice: each attempt first claims it.
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from carnet.messaging import outbound


class Command(BaseCommand):
    help = "Envoie les messages des titulaires en attente (une passe ; --loop pour continuer)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep going until SIGTERM/SIGINT")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="seconds between passes with --loop"
        )
        parser.add_argument("--limit", type=int, default=100, help="messages per pass")

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

    def _pass(self, limit: int, *, verbose: bool) -> outbound.PassReport:
        report = outbound.send_pending(limit=limit)
        if verbose or report.handled:
            self.stdout.write(
                f"envoyés : {report.sent}, à réessayer : {report.retry}, en échec : {report.failed}"
            )
        return report

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.running and time.monotonic() < deadline:
            time.sleep(min(0.2, seconds))

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        # Finish the current message (its outcome must be recorded), then exit.
        self.running = False
