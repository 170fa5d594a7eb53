"""Fixtures of the messaging tests: the ANS test patient's space (the patient of the ANS CDA
examples), the MSSanté settings, a self-signed certificate, and the gateway on a loopback port."""

from __future__ import annotations

import datetime as dt
import functools
import queue
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port
from tests.documents.helpers import ans_test_patient
from tests.messaging.builders import PATIENT_DOMAIN, TRUSTED_DOMAINS

HOLDER_EMAIL = "dominique.pat-trois@exemple.test"


@pytest.fixture(autouse=True)
def mss_settings(settings: Any) -> Any:
    settings.CARNET_MSS_PATIENT_DOMAIN = PATIENT_DOMAIN
    settings.CARNET_MSS_TRUSTED_DOMAINS = TRUSTED_DOMAINS
    # Accounts are made in most tests: Argon2 is slow on purpose, and logins are tested elsewhere.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


@pytest.fixture
def holder(db: None) -> Any:
    return ans_test_patient(email=HOLDER_EMAIL)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (the test client does not verify it)."""
    folder: Path = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carnet-mss-gateway.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("carnet-mss-gateway.test")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "gateway.crt", folder / "gateway.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


class MainThreadExecutor(Executor):
    """Runs the gateway's database work on the test's own thread (and so inside its transaction)
    while an SMTP client thread talks to the server: `serve_while(client.is_alive)`."""

    def __init__(self) -> None:
        self.tasks: queue.Queue[tuple[Future[Any], Any]] = queue.Queue()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.tasks.put((future, functools.partial(fn, *args, **kwargs)))
        return future

    def serve_while(self, running: Any) -> None:
        while running() or not self.tasks.empty():
            try:
                future, call = self.tasks.get(timeout=0.02)
            except queue.Empty:
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # handed to the server, which answers 451
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


@pytest.fixture
def gateway(db: None, tls_files: tuple[str, str]) -> Iterator[Any]:
    """The gateway server on a free loopback port, STARTTLS offered, as `smtp_gateway` runs it;
    its database work runs on the test's thread (see `MainThreadExecutor`)."""
    from carnet.messaging.gateway import make_controller

    cert, key = tls_files
    controller = make_controller(
        host="127.0.0.1",
        port=free_port(),
        tls_cert=cert,
        tls_key=key,
        executor=MainThreadExecutor(),
    )
    controller.start()
    yield controller
    controller.stop()
