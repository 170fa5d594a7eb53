"""`manage.py deliver_notifications`: the outbox's fallback scheduler.

`manage.py db_worker` (django-tasks) sends each notification as soon as its event commits. This
command finds what that fast path cannot: deliveries whose wake-up task was lost, retries that
fell due, and deliveries abandoned in `sending` by a worker that died (once their lease expires).
Running it alongside the workers, or several copies of it, never sends a delivery twice: each
attempt first claims the delivery with a conditional UPDATE.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from carnet.core.outgoing import PollingCommand
from carnet.notifications import delivery


class Command(PollingCommand):
    help = (
        "Envoie les notifications en attente (une passe ; --loop pour continuer), "
        "y compris les nouvelles tentatives et les envois interrompus."
    )
    item_label = "deliveries"

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="put failed deliveries back in the queue first (e.g. after an SMTP outage)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retry_failed"]:
            count = delivery.retry_failed()
            self.stdout.write(f"{count} envoi(s) en échec remis en file d'attente")
        super().handle(*args, **options)

    def send_pass(self, limit: int) -> delivery.PassReport:
        return delivery.deliver_pending(limit=limit)

    def summary(self, report: Any) -> str:
        return f"envoyées : {report.sent}, à réessayer : {report.retry}, en échec : {report.failed}"
