"""Where the time of one request goes: cProfile over N requests of each bench scenario.

    tools/with-postgres .venv/bin/python bench/profile_requests.py [--requests 200]

Generates a small data set (bench/generate.py) on the PostgreSQL of DATABASE_URL, then calls the
same URLs as bench/documents.py through Django's WSGI handler in this process (no network, no
wrk), and prints, per scenario, the mean time per request and the functions where it goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="cumulative", help="cumulative or tottime")
    parser.add_argument("--only", default="")
    parser.add_argument("--queries", action="store_true", help="print the SQL of one request")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="carnet-profile-"))
    env = {"CARNET_MODE": "test", "CARNET_VAR_DIR": str(work / "var"), "DB_CONN_MAX_AGE": "600",
           "CARNET_CONTENT_STORE_URL": f"file://{work / 'content'}", "SITE_URL": "http://testserver",
           "CARNET_JWT_AUDIENCE": "http://testserver/fhir/R4", "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "carnet.settings", "CARNET_FHIR_CHECK_OUTPUT": "0"}
    os.environ.update(env)
    py = sys.executable
    subprocess.run([py, str(ROOT / "manage.py"), "migrate", "--noinput", "-v0"], check=True)
    subprocess.run([py, str(ROOT / "bench" / "generate.py"), "--patients", "2000", "--documents", "40000",
                    "--out", str(work)], check=True)
    import django

    django.setup()
    from django.test import Client

    import documents as bench

    client = Client(HTTP_HOST="testserver")  # the software: a bearer token, no cookie
    portal = Client(HTTP_HOST="testserver")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {bench.token(work, 'http://testserver/fhir/R4')}"}
    rpps = json.loads((work / "author.json").read_text())["rpps"]
    patients = (work / "patients.txt").read_text().split()
    documents = (work / "documents.txt").read_text().split()
    portal.cookies["sessionid"] = (work / "session.txt").read_text()
    bodies = work / "bodies"
    bodies.mkdir()
    bench.pdf_bodies(bodies, args.requests + 2, rpps, len(patients))
    cda = work / "cda"
    cda.mkdir()
    bench.cda_bodies(cda, args.requests + 2, rpps)

    def post(directory: Path):
        counter = iter(range(1, args.requests + 10**6))
        return lambda: client.post("/fhir/R4", (directory / f"{next(counter)}.json").read_bytes(),
                                   content_type="application/fhir+json", **bearer)

    # Steady state: the professional has already consulted these spaces (a first access adds a
    # notification, once per professional and space), so the calls cycle over a warmed set.
    numbers = iter(range(10**9))
    documents = documents[: args.requests]
    patients = patients[: args.requests]
    scenarios = {
        "no-op": lambda: client.get("/api/v1/ping", **bearer),
        "read": lambda: client.get(f"/fhir/R4/DocumentReference/{documents[next(numbers) % len(documents)]}", **bearer),
        "iti67": lambda: client.get("/fhir/R4/DocumentReference", {"patient": patients[next(numbers) % len(patients)],
                                                                   "status": "current", "_count": "20"}, **bearer),
        "list": lambda: portal.get("/documents/"),
        "pdf-deposit": post(bodies),
        "cda-deposit": post(cda),
    }
    for name, call in scenarios.items():
        if args.only and name not in args.only.split(","):
            continue
        status = call().status_code
        if status >= 300:
            sys.exit(f"{name}: HTTP {status}")
        if name in {"read", "iti67"}:
            for _ in range(args.requests):
                call()
        if args.queries:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                call()
            print(f"\n===== {name}: {len(queries.captured_queries)} queries")
            for query in queries.captured_queries:
                print(f"  {query['time']}s  {query['sql'][:300]}")
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(args.requests - 1):
            call()
        profiler.disable()
        elapsed = (time.perf_counter() - started) / (args.requests - 1)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(f"\n===== {name}: {elapsed * 1000:.2f} ms per request (in process, profiled)")
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


if __name__ == "__main__":
    main()
