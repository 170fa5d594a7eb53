"""Done-when of the notifications: real workers (`manage.py db_worker`, `manage.py
deliver_notifications --loop`) in subprocesses, a real SMTP server on loopback that takes its time,
a worker killed with SIGKILL in the middle of a delivery and started again: every notification
arrives, once.

Each test gets its own database, migrated once per module and copied: a SQLite file in tmp_path,
or on PostgreSQL a database created from a migrated template on the test server. The test process
never touches it (the subprocesses seed and report), so pytest-django's test database and its
transactional flush stay out of the way.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow

COUNT = 5
KILL_DURING = 3  # the worker dies while the third e-mail is being delivered
ADDRESS = "titulaire@exemple.test"
TIMEOUT = 60


class SlowMailbox:
    """An SMTP server that takes `delay` seconds to answer each DATA.

    `store_then_stall=False` (a normal MTA): the message is kept only when the 250 reply is sent,
    so a client that dies while waiting has delivered nothing (aiosmtpd cancels the handler when
    the connection drops). `store_then_stall=True`: the message is kept first and the reply comes
    later, which opens the one window where the server has the message but the worker was never
    told: the at-least-once window the delivery module documents.
    """

    def __init__(self, delay: float, *, store_then_stall: bool = False, watch: int = 0) -> None:
        self.delay = delay
        self.store_then_stall = store_then_stall
        self.accepted: list[Any] = []
        self.started = 0
        self.watch = watch
        self.watched_started = threading.Event()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.started += 1
            if self.started == self.watch:
                self.watched_started.set()
            if self.store_then_stall:
                self.accepted.append(message)
        await asyncio.sleep(self.delay)
        if not self.store_then_stall:
            with self.lock:
                self.accepted.append(message)
        return "250 OK"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]).strip() for m in self.accepted]


def _is_postgres() -> bool:
    from django.conf import settings

    return bool(settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql")


def _postgres_url(name: str) -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{name}"


def _postgres_admin(statement: str, *names: str) -> None:
    import psycopg
    from django.conf import settings
    from psycopg import sql

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as connection:
        connection.execute(sql.SQL(statement).format(*(sql.Identifier(n) for n in names)))


@pytest.fixture(scope="module")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], str]]:
    """Migrate a template once, then hand each test a copy of it (as a DATABASE_URL)."""
    tag = uuid.uuid4().hex[:8]
    template_dir = tmp_path_factory.mktemp("worker-db")
    if _is_postgres():
        template = f"carnet_workers_{tag}"
        _postgres_admin("CREATE DATABASE {}", template)
        template_url = _postgres_url(template)
    else:
        template = str(template_dir / "template.sqlite3")
        template_url = f"sqlite:///{template}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO_ROOT,
        env=_env(template_url, smtp_port=1, var_dir=template_dir),
        check=True,
        timeout=TIMEOUT,
    )
    copies: list[str] = []

    def copy(tmp_path: Path) -> str:
        if not _is_postgres():
            shutil.copy(template, tmp_path / "worker.sqlite3")
            return f"sqlite:///{tmp_path / 'worker.sqlite3'}"
        import psycopg

        name = f"{template}_{len(copies)}"
        for _attempt in range(50):
            try:
                _postgres_admin("CREATE DATABASE {} TEMPLATE {}", name, template)
                break
            except psycopg.errors.ObjectInUse:
                # the migrate process has exited, its server session takes a moment more
                time.sleep(0.1)
        copies.append(name)
        return _postgres_url(name)

    yield copy
    if _is_postgres():
        import psycopg

        for name in [*copies, template]:
            for attempt in range(50):
                try:
                    _postgres_admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
                    break
                except (psycopg.errors.ObjectInUse, psycopg.errors.InsufficientPrivilege):
                    # an autovacuum worker may still be in it (a server without
                    # tools/with-postgres's pg_signal_backend grant cannot end it): it finishes
                    if attempt == 49:
                        raise
                    time.sleep(0.1)


def _env(database_url: str, *, smtp_port: int, var_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CARNET_MODE": "test",
        "DJANGO_SETTINGS_MODULE": "tests.notifications.worker_settings",
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)]),
        "DATABASE_URL": database_url,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "CARNET_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
    }


class Scenario:
    """Starts the SMTP server and the subprocesses; stops whatever is left at the end."""

    def __init__(self, tmp_path: Path, database_url: str, mailbox: SlowMailbox) -> None:
        self.tmp_path = tmp_path
        self.mailbox = mailbox
        self.controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.env = _env(database_url, smtp_port=self.controller.port, var_dir=tmp_path)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tests.notifications.worker_scenario", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "manage.py", *command],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def task_worker(self) -> subprocess.Popen[bytes]:
        return self.start("db_worker", "--no-startup-delay", "--no-reload", "--interval", "0.1")

    def fallback_scheduler(self) -> subprocess.Popen[bytes]:
        return self.start("deliver_notifications", "--loop", "--interval", "0.2")

    def report(self) -> list[dict[str, Any]]:
        return list(json.loads(self.run("report")))

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}\n{self.output()}")
            time.sleep(0.05)

    def stop_all(self) -> None:
        # SIGTERM: each worker finishes the delivery in hand (and records it), then exits.
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for log in self.logs)

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.controller.stop()


@pytest.fixture
def scenario(
    tmp_path: Path, fresh_database: Callable[[Path], str]
) -> Iterator[Callable[[SlowMailbox], Scenario]]:
    database_url = fresh_database(tmp_path)
    made: list[Scenario] = []

    def make(mailbox: SlowMailbox) -> Scenario:
        made.append(Scenario(tmp_path, database_url, mailbox))
        return made[-1]

    yield make
    for each in made:
        each.close()


def _kill_mid_delivery(run: Scenario) -> None:
    """Seed COUNT committed events, start a task worker, SIGKILL it during the KILL_DURING-th
    SMTP exchange, then restart: a task worker and two fallback schedulers side by side."""
    run.run("seed", str(COUNT), ADDRESS)
    first = run.task_worker()
    if not run.mailbox.watched_started.wait(TIMEOUT):
        pytest.fail(f"the worker never reached the e-mail to interrupt\n{run.output()}")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=TIMEOUT)
    assert first.returncode == -signal.SIGKILL
    run.task_worker()
    run.fallback_scheduler()
    run.fallback_scheduler()


def test_every_notification_arrives_once_after_a_worker_is_killed_mid_delivery(scenario):
    run = scenario(SlowMailbox(delay=0.3, watch=KILL_DURING))
    _kill_mid_delivery(run)
    assert len(run.mailbox.accepted) == KILL_DURING - 1  # the interrupted one was not accepted

    run.wait_until(lambda: len(run.mailbox.accepted) >= COUNT, "every e-mail")
    run.stop_all()

    outbox = run.report()
    received = Counter(run.mailbox.message_ids())
    assert sorted(received) == sorted(row["message_id"] for row in outbox), run.output()
    assert set(received.values()) == {1}, f"duplicates: {received}"
    assert {row["status"] for row in outbox} == {"sent"}
    # the delivery the killed worker held was taken over after its lease: a second attempt
    assert sorted(row["attempts"] for row in outbox) == [1] * (COUNT - 1) + [2]


def test_a_crash_after_the_server_accepted_resends_under_the_same_message_id(scenario):
    # given a server that keeps each message before it answers
    run = scenario(SlowMailbox(delay=0.3, watch=KILL_DURING, store_then_stall=True))
    _kill_mid_delivery(run)
    interrupted = run.mailbox.message_ids()[KILL_DURING - 1]

    # (the interrupted one is taken over when its lease expires, and sent again)
    run.wait_until(lambda: len(run.mailbox.accepted) >= COUNT + 1, "every e-mail and the resend")
    run.stop_all()

    # then every notification arrived; the only copy twice is the one whose acceptance the
    # killed worker never saw, and it carries the same Message-ID, so it is recognisable
    outbox = run.report()
    received = Counter(run.mailbox.message_ids())
    assert sorted(received) == sorted(row["message_id"] for row in outbox), run.output()
    assert received.pop(interrupted) == 2
    assert set(received.values()) == {1}
    assert {row["status"] for row in outbox} == {"sent"}
    retried = [row for row in outbox if row["attempts"] == 2]
    assert [row["message_id"] for row in retried] == [interrupted]
