"""Benchmark: messages accepted per second by the MSSanté SMTP gateway, with 1 MB attachments.

Starts the gateway (the same server as `manage.py smtp_gateway`) on a loopback port with a
throwaway database, as the tests do: SQLite in a temporary directory, or an empty database named
by MESSAGING_BENCH_DATABASE_URL (e.g. `tools/with-postgres sh -c 'MESSAGING_BENCH_DATABASE_URL=
$DATABASE_URL .venv/bin/python bench/messaging_gateway.py'` for a fresh PostgreSQL cluster).
Then sends N messages, each with a 1 MB PDF, from a few client processes with smtplib (one SMTP
session each, as a sending MTA reuses its connection; processes, so that the clients' CPU is not
counted against the gateway), checks that all N are stored, and prints one line:

    gateway: X messages/s (1 MB attachment, N messages)

Usage: .venv/bin/python bench/messaging_gateway.py [--messages 200] [--threads 4] [--size-mb 1]
(`--threads`: client processes, and the gateway's worker threads.)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import smtplib
import socket
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

PATIENT_INS = "279035121518989"
SENDER = "marcel.camparini@labo-charmes.mssante.fr"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--size-mb", type=float, default=1.0)
    return parser.parse_args()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(folder: Path) -> None:
    os.environ["CARNET_MODE"] = "test"  # the ANS test INS of the examples is accepted
    os.environ["CARNET_VAR_DIR"] = str(folder / "var")
    os.environ["CARNET_CONTENT_STORE_URL"] = f"file://{folder / 'content'}"
    # Never the DATABASE_URL of other benchmarks: this one creates its own space and messages.
    os.environ["DATABASE_URL"] = os.environ.get(
        "MESSAGING_BENCH_DATABASE_URL", f"sqlite:///{folder / 'bench.sqlite3'}"
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "carnet.settings"


def _setup_space() -> str:
    import datetime as dt

    from django.conf import settings
    from django.core.management import call_command

    from carnet.identity import services as identity
    from carnet.identity.ins import OID_NIR_TEST

    call_command("migrate", verbosity=0)
    settings.CARNET_MSS_PATIENT_DOMAIN = "mssante.fr"
    settings.CARNET_MSS_TRUSTED_DOMAINS = ("mssante.fr",)
    holder = identity.register_holder(
        matricule=PATIENT_INS,
        oid=OID_NIR_TEST,
        traits=identity.BirthTraits(
            "PAT-TROIS", "DOMINIQUE MARIE-LOUISE", dt.date(1979, 3, 28), "F", "51215"
        ),
    )
    return str(holder.pk)


def _messages(count: int, size: int, tag: str) -> list[bytes]:
    from tests.messaging.builders import build_mss_message

    pdf = b"%PDF-1.7\n" + secrets.token_bytes(size)
    return [
        build_mss_message(pdf=pdf, message_id=f"<bench-{tag}-{index}@labo-charmes.mssante.fr>")
        .replace(b"\r\n", b"\n")
        .replace(b"\n", b"\r\n")
        for index in range(count)
    ]


_BARRIER: Any = None


def _init_client(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier


def _client(port: int, count: int, size: int, tag: str) -> float:
    """One sending MTA, in a process of its own (its CPU is not the gateway's): builds its
    messages, waits for the others, sends them over one SMTP session; when it finished."""
    messages = _messages(count, size, tag)
    _BARRIER.wait()
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
        client.ehlo("lps.labo-charmes.mssante.fr")
        for raw in messages:
            refused = client.sendmail(SENDER, [f"{PATIENT_INS}@patient.mssante.fr"], raw)
            if refused:
                raise RuntimeError(f"refused: {refused}")
    return time.time()


def main() -> None:
    arguments = _arguments()
    with tempfile.TemporaryDirectory(prefix="carnet-bench-mss-") as folder:
        _environment(Path(folder))
        import django

        django.setup()
        from carnet.messaging.gateway import make_controller
        from carnet.messaging.models import Message

        patient_id = _setup_space()
        size = int(arguments.size_mb * 1024 * 1024)
        counts = [
            len(range(i, arguments.messages, arguments.threads)) for i in range(arguments.threads)
        ]
        port = _free_port()
        controller = make_controller(host="127.0.0.1", port=port, workers=arguments.threads)
        controller.start()
        try:
            context = multiprocessing.get_context("spawn")
            barrier = context.Barrier(arguments.threads + 1)
            with ProcessPoolExecutor(
                arguments.threads, mp_context=context, initializer=_init_client, initargs=(barrier,)
            ) as pool:
                runs = [
                    pool.submit(_client, port, count, size, str(index))
                    for index, count in enumerate(counts)
                ]
                barrier.wait()  # every client has built its messages
                started = time.time()
                elapsed = max(run.result() for run in runs) - started
        finally:
            controller.stop()
        stored = Message.objects.filter(patient_id=patient_id).count()
        if stored != arguments.messages:
            raise SystemExit(f"gateway: {stored} messages stored, {arguments.messages} sent")
        label = f"{arguments.size_mb:g} MB attachment, {arguments.messages} messages"
        print(f"gateway: {arguments.messages / elapsed:.1f} messages/s ({label})")


if __name__ == "__main__":
    main()
