"""A live server killed with SIGKILL in the middle of a burst of deposits: every acknowledged
document is retrievable byte for byte afterwards, and no half-written document is visible."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.identity import jwt_factory as jf
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow

SETUP = """
import datetime as dt
from carnet.identity import services
from carnet.identity.models import Organisation, RegisteredIssuer
holder = services.register_holder(
    matricule="279035121518989", oid="1.2.250.1.213.1.4.10",
    traits=services.BirthTraits(
        "PAT-TROIS", "DOMINIQUE MARIE-LOUISE", dt.date(1979, 3, 28), "F", "51215"
    ),
)
issuer = RegisteredIssuer.objects.create(issuer=ISSUER, name="LPS", jwks=JWKS)
issuer.organisations.add(Organisation.objects.create(idnst=ORGANISATION, name="Cabinet"))
print(holder.pk)
"""

CHECK = """
import hashlib, json
from carnet.documents.models import DocumentEntry
from carnet.documents.services import _aad, _store, data_key
from carnet.documents.storage import read_decrypted
rows = []
for entry in DocumentEntry.objects.all():
    key = data_key(entry.patient_id)
    stream = read_decrypted(_store(), entry.content_key, dek=key, aad=_aad(entry.pk))
    digest = hashlib.sha256(b"".join(stream)).hexdigest()
    ok = digest == entry.sha256
    rows.append({"unique_id": entry.unique_id, "sha256": entry.sha256, "ok": ok})
print(json.dumps(rows))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    database = os.environ.get("DATABASE_URL", "")
    env.update(
        CARNET_MODE="test",
        CARNET_VAR_DIR=str(tmp_path / "var"),
        CARNET_CONTENT_STORE_URL=f"file://{tmp_path / 'content'}",
        DATABASE_URL=database.rsplit("/", 1)[0] + "/carnet_crash"
        if database
        else f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CARNET_JWT_AUDIENCE=jf.AUDIENCE,
        PYTHONPATH=str(REPO_ROOT / "src"),
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "carnet.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--chdir",
            str(REPO_ROOT / "src"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).read()
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    server.kill()
    pytest.fail("the server did not start")


def _document(index: int, payload: bytes) -> dict:
    return {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]},
        "category": [
            {
                "coding": [
                    {
                        "system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument",
                        "code": "10",
                    }
                ]
            }
        ],
        "subject": {"reference": "Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|279035121518989"},
        "date": "2025-04-30T09:30:00+01:00",
        "contained": [
            {
                "resourceType": "Practitioner",
                "id": "author",
                "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "8" + jf.RPPS}],
                "name": [{"family": "MÉDECIN-TEST", "given": ["Camille"]}],
            }
        ],
        "author": [{"reference": "#author"}],
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "language": "fr-FR",
                    "data": base64.b64encode(payload).decode(),
                    "size": len(payload),
                    "hash": base64.b64encode(hashlib.sha1(payload).digest()).decode(),  # noqa: S324
                    "title": f"Compte rendu {index}",
                    "creation": "2025-04-30T09:00:00+01:00",
                },
                "format": {
                    "system": "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode",
                    "code": "urn:ihe:iti:xds-sd:pdf:2008",
                },
            }
        ],
        "context": {
            "facilityType": {
                "coding": [
                    {
                        "system": "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
                        "code": "SA07",
                    }
                ]
            },
            "practiceSetting": {
                "coding": [
                    {
                        "system": "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
                        "code": "AMBULATOIRE",
                    }
                ]
            },
            "period": {"start": "2025-04-30T09:00:00+01:00"},
        },
    }


def test_sigkill_during_deposits_loses_no_acknowledged_document(tmp_path):
    env = _env(tmp_path)
    if env["DATABASE_URL"].startswith("postgres"):
        import psycopg

        admin = os.environ["DATABASE_URL"]
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS carnet_crash")
            connection.execute("CREATE DATABASE carnet_crash")
    _manage(env, "migrate", "--noinput", "-v0")
    key = jf.rsa_key()
    setup = (
        f"ISSUER={jf.ISSUER!r}\nJWKS={json.dumps(jf.jwks(key))}\nORGANISATION={'1' + jf.FINESS!r}\n"
        + SETUP
    )
    _manage(env, "shell", "-c", setup)
    port = free_port()
    server = _start_server(env, port)
    acknowledged: list[tuple[str, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        index = 0
        while not stop.is_set():
            index += 1
            payload = (
                b"%PDF-1.4\n" + f"crash test {worker}-{index} ".encode() * 500 + os.urandom(64)
            )
            body = json.dumps(_document(index, payload)).encode()
            now = int(time.time())
            token = jf.mint_token(key, jf.professional_claims(iat=now, exp=now + 300))
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/fhir/R4/DocumentReference",
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/fhir+json",
                    "Authorization": f"Bearer {token}",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    if response.status == 201:
                        unique_id = json.loads(body)["masterIdentifier"]["value"]
                        with lock:
                            acknowledged.append((unique_id, hashlib.sha256(payload).hexdigest()))
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                if stop.is_set():
                    return
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(server.pid, signal.SIGKILL)  # mid-load: requests are in flight
    server.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    assert len(acknowledged) >= 20, "the burst did not get going"

    rows = json.loads(_manage(env, "shell", "-c", CHECK).strip().splitlines()[-1])
    stored = {row["unique_id"]: row for row in rows}
    for unique_id, sha256 in acknowledged:
        assert unique_id in stored, f"acknowledged document {unique_id} lost"
        assert stored[unique_id]["sha256"] == sha256
    assert all(row["ok"] for row in stored.values()), "a visible document has unreadable content"
