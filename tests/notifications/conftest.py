"""Helpers for the notification tests: run the queued django-tasks as the real worker does, and
start extra loopback SMTP servers that refuse or stall on purpose."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port


def run_queued_tasks() -> int:
    """Run every ready django-tasks task through the db_worker's own `run_task` (in process, so
    it works inside the test transaction); returns how many ran."""
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="pytest",
        excluded_queue_names=[],
    )
    ran = 0
    while (row := DBTaskResult.objects.ready().first()) is not None:
        row.claim(worker.worker_id)
        worker.run_task(row)
        ran += 1
    return ran


class ScriptedMailbox:
    """An SMTP handler answering DATA with scripted replies ("451 …" then "250 OK"…)."""

    def __init__(self, replies: list[str] | None = None, default: str = "250 OK") -> None:
        self.replies = list(replies or [])
        self.default = default
        self.accepted: list[EmailMessage] = []
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.attempts += 1
            reply = self.replies.pop(0) if self.replies else self.default
            if reply.startswith("250"):
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                self.accepted.append(message)  # type: ignore[arg-type]
        return reply


@pytest.fixture
def smtp_server_factory(settings: Any) -> Iterator[Callable[[Any], Controller]]:
    """Start a loopback SMTP server with the given handler and point Django's EMAIL_PORT at it."""
    started: list[Controller] = []

    def start(handler: Any) -> Controller:
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        started.append(controller)
        settings.EMAIL_PORT = controller.port
        return controller

    yield start
    for controller in started:
        controller.stop()
