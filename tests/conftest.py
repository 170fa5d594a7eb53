"""Shared fixtures: a real SMTP server on loopback for every test, personas, API clients; and the
skips for absent reference data (`tests/paths.py`), counted at the end of the run."""

from __future__ import annotations

import email
import email.policy
import os
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests import paths

os.environ.setdefault("CARNET_MODE", "test")


def _skip_if_reference_file_missing(error: FileNotFoundError) -> None:
    """A test (or a fixture) that opens an example of the absent reference folder, even through
    a helper, is skipped with the one reason instead of failing; any other missing file fails."""
    if paths.is_reference_file(error.filename):
        skipped = pytest.skip.Exception(paths.REFERENCE_DATA_ABSENT)
        # Reported at the test's own location, not this hook's (as pytest does for fixtures).
        skipped._use_item_location = True
        raise skipped from error


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except FileNotFoundError as error:
        _skip_if_reference_file_missing(error)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    except FileNotFoundError as error:
        _skip_if_reference_file_missing(error)
        raise


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many tests the absent reference data skipped (0 where it is present, as in CI)."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and paths.REFERENCE_DATA_ABSENT in report.longrepr[2]
    ]
    setting = f"{paths.REFERENCE_DATA_VARIABLE}={paths.REFERENCE_DATA}"
    if paths.REFERENCE_DATA_PRESENT:
        line = f"{len(skipped)} tests skipped for reference data (present: {setting})"
    else:
        line = f"{len(skipped)} tests skipped: reference data absent ({setting})"
    terminalreporter.write_line(line, yellow=bool(skipped))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mailbox:
    """Messages received by the loopback SMTP server, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    def body(self, message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture(autouse=True)
def mailbox(smtp_server: tuple[Controller, Mailbox], settings: Any) -> Mailbox:
    """Every test sends mail to the real loopback SMTP server; this is what it received."""
    controller, box = smtp_server
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    box.clear()
    return box


@pytest.fixture
def personas(db: None) -> Any:
    from tests import personas as module

    return module.build()


@pytest.fixture
def logged_in_client(client: Any) -> Any:
    """A Django test client logged in as a given user, with the portal session prepared."""

    def login_as(user: Any) -> Any:
        from carnet.identity.services import actor_for_user, spaces_of
        from carnet.portal import session

        client.force_login(user)
        django_session = client.session
        django_session[session.SPACES] = [
            (str(h.pk), str(h)) for h in spaces_of(actor_for_user(user))
        ]
        django_session[session.CURRENT_SPACE] = django_session[session.SPACES][0][0]
        django_session.save()
        return client

    return login_as


@pytest.fixture(autouse=True)
def _audit_guard_restored(request: pytest.FixtureRequest, django_db_blocker: Any) -> Iterator[None]:
    """Set up first, torn down last: after a transactional test's flush, reinstall the
    append-only triggers that `transactional_db` removed so the flush could empty the table."""
    yield
    if "transactional_db" in request.fixturenames or "live_server" in request.fixturenames:
        from django.db import connection

        from carnet.audit import triggers

        with django_db_blocker.unblock():
            triggers.install(connection)


@pytest.fixture
def transactional_db(transactional_db: None, django_db_blocker: Any) -> Iterator[None]:
    yield
    from django.db import connection

    from carnet.audit import triggers

    with django_db_blocker.unblock():
        triggers.remove(connection)


@pytest.fixture(autouse=True)
def content_store(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each test stores document content in its own directory (filesystem back end)."""
    root = tmp_path_factory.mktemp("content")
    settings.CARNET_CONTENT_STORE_URL = f"file://{root}"
    return root


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    """Argon2 is deliberately slow; tests that are not about hashing use a fast hasher
    (tests/identity/test_password_hashing.py checks that production keeps Argon2)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _stray_connections_closed(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Torn down just before the test database is dropped: live servers, SMTP handlers and
    worker threads may still hold PostgreSQL connections, which would make DROP DATABASE fail."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        connection.close()
