"""`manage.py send_messages`: sends the holders' messages waiting in the outbox to the relay.

`manage.py db_worker` (django-tasks) sends each message as soon as it is written; this command is
the worker of its own for deployments without django-tasks workers, and the fallback that finds
what the fast path cannot (lost wake-ups, retries that fell due, messages abandoned in `sending`
by a worker that died). Several copies never send a message twice: each attempt first claims it.
"""

from __future__ import annotations

from typing import Any

from carnet.core.outgoing import PollingCommand
from carnet.messaging import outbound


class Command(PollingCommand):
    help = "Envoie les messages des titulaires en attente (une passe ; --loop pour continuer)."
    item_label = "messages"

    def send_pass(self, limit: int) -> outbound.PassReport:
        return outbound.send_pending(limit=limit)

    def summary(self, report: Any) -> str:
        return f"envoyés : {report.sent}, à réessayer : {report.retry}, en échec : {report.failed}"
