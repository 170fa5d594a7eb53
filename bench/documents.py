"""`make bench`: the documents API under load, on PostgreSQL, with the production server setup.

    tools/with-postgres .venv/bin/python bench/documents.py --patients 100000 --documents 2000000

Generates the data set (bench/generate.py), serves Carnet with gunicorn (several sync workers,
persistent database connections), then measures with wrk (16 connections by default):
ITI-65 deposits of a 100 KB CDA N1 and of a 10 KB PDF (documents/s), the holder's document list
(page of 20), ITI-67 by patient (_count=20), a DocumentReference read by id, and an authenticated
no-op endpoint of the same stack (the framework ceiling); requests/s, p50 and p99; resident
memory per worker. Prints one table.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[1]
CDA_N1 = ROOT.parent / "shared" / "data" / "cda" / "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
CLASS_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
FORMAT_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(cmd: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def token(work: Path, audience: str) -> str:
    author = json.loads((work / "author.json").read_text())
    now = int(time.time())
    claims = {
        "iss": "urn:carnet:bench:lps", "sub": "8" + author["rpps"], "aud": audience,
        "iat": now, "exp": now + 900, "jti": str(uuid.uuid4()), "rpps": author["rpps"], "profession": "10",
        "specialty": "G15_10/SM54", "organisation": author["organisation"], "purpose_of_use": "normal",
        "given_name": "Dr", "family_name": "BENCH",
    }
    return jwt.encode(claims, (work / "key.pem").read_bytes(), algorithm="RS256", headers={"kid": "bench-1"})


NOS = "https://mos.esante.gouv.fr/NOS/"
FACILITY_SYSTEM = NOS + "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
PRACTICE_SYSTEM = NOS + "TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
INS_TEST = "urn:oid:1.2.250.1.213.1.4.10"


def _django() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carnet.settings")
    import django

    django.setup()


def _document_reference(*, unique_id: str, type_code: str, type_system: str, class_code: str, title: str,
                        date: str, content: bytes, mime: str, fmt: str, rpps: str, patient: dict,
                        facility: str = "SA07", practice: str = "AMBULATOIRE") -> dict:
    """A PDSm comprehensive DocumentReference (the shape tests/fhir/mhd_support.py builds)."""
    return {
        "resourceType": "DocumentReference",
        "contained": [
            {"resourceType": "Practitioner", "id": "auteur",
             "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "8" + rpps}],
             "name": [{"family": "BENCH", "given": ["Dr"]}]},
            {"resourceType": "Patient", "id": "patient", **patient},
        ],
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": unique_id},
        "status": "current",
        "type": {"coding": [{"system": type_system, "code": type_code}]},
        "category": [{"coding": [{"system": CLASS_SYSTEM, "code": class_code}]}],
        "subject": {"reference": "Patient?identifier=" + patient["identifier"][0]["system"] + "|"
                    + patient["identifier"][0]["value"]},
        "date": date,
        "author": [{"reference": "#auteur"}],
        "securityLabel": [{"coding": [{"system": CONFIDENTIALITY, "code": "N"}]}],
        "content": [{
            "attachment": {"contentType": mime, "language": "fr-FR", "url": "", "size": len(content),
                           "hash": base64.b64encode(hashlib.sha1(content).digest()).decode(),  # noqa: S324
                           "title": title, "creation": date},
            "format": {"system": FORMAT_SYSTEM, "code": fmt},
        }],
        "context": {
            "period": {"start": date},
            "facilityType": {"coding": [{"system": FACILITY_SYSTEM, "code": facility}]},
            "practiceSetting": {"coding": [{"system": PRACTICE_SYSTEM, "code": practice}]},
            "sourcePatientInfo": {"reference": "#patient"},
        },
    }


def _patient(matricule: str, family: str, given: str, gender: str, birth_date: str) -> dict:
    return {"identifier": [{"system": INS_TEST, "value": matricule}],
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": gender, "birthDate": birth_date}


def bundle(document: dict, content: bytes, rpps: str) -> dict:
    doc_url, bin_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    document["content"][0]["attachment"]["url"] = bin_url
    author = document["contained"][0]
    submission_set = {
        "resourceType": "List", "contained": [author], "status": "current", "mode": "working",
        "extension": [
            {"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType",
             "valueCodeableConcept": {"coding": [{"code": "07"}]}},
            {"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
             "valueIdentifier": {"value": "1.2.250.1.999.1"}},
        ],
        "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986",
                        "value": f"urn:oid:1.2.250.1.999.{uuid.uuid4().int % 10**12}"}],
        "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
        "subject": dict(document["subject"]), "date": document["date"], "source": {"reference": "#auteur"},
        "entry": [{"item": {"reference": doc_url}}],
    }
    return {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": submission_set, "request": {"method": "POST", "url": "List"}},
            {"fullUrl": doc_url, "resource": document, "request": {"method": "POST", "url": "DocumentReference"}},
            {"fullUrl": bin_url, "resource": {"resourceType": "Binary", "contentType": document["content"][0]["attachment"]["contentType"],
                                              "data": base64.b64encode(content).decode()},
             "request": {"method": "POST", "url": "Binary"}},
        ],
    }


def cda_bodies(directory: Path, count: int, rpps: str) -> None:
    """ITI-65 bundles of ~100 KB CDA R2 N1 documents: the ANS example with a ~70 KB PDF body and a
    fresh unique id each, described from their own header as an LPS does."""
    _django()
    from carnet.documents.cda import read_cda_header
    from carnet.documents.classification import document_type

    template = CDA_N1.read_text(encoding="utf-8")
    root_id = re.search(r'<id root="([^"]+)"(?: extension="([^"]*)")?/>', template)
    assert root_id is not None
    pdf_pad = os.urandom(70_000)
    for index in range(1, count + 1):
        unique = f"1.2.250.1.999.{index}.{uuid.uuid4().int % 10**9}"
        pdf = b"%PDF-1.4\n" + base64.b64encode(pdf_pad + index.to_bytes(4, "big")) + b"\n%%EOF\n"
        body = re.sub(r"(<nonXMLBody>\s*<text[^>]*>)[^<]*(</text>)", lambda m: m.group(1) + base64.b64encode(pdf).decode() + m.group(2), template, count=1)
        body = body.replace(root_id.group(0), f'<id root="{unique}"/>', 1)
        data = body.encode("utf-8")
        header = read_cda_header(data)
        known = document_type(header.type_code)
        person = header.patient
        assert person.ins is not None and known is not None
        patient = _patient(person.ins.extension, person.birth_family_name, person.first_birth_given_name,
                           {"F": "female", "M": "male"}.get(person.gender or "", "unknown"),
                           person.birth_date.isoformat() if person.birth_date else "")
        patient["identifier"][0]["system"] = f"urn:oid:{person.ins.root}"
        document = _document_reference(
            unique_id=f"urn:oid:{header.unique_id}", type_code=header.type_code, type_system="urn:oid:" + (header.code.system or ""),
            class_code=known.class_code or "", title=header.title, date=header.effective_time.isoformat(), content=data,
            mime="text/xml", fmt=header.format_code or "", rpps=rpps, patient=patient,
            facility=header.healthcare_facility_type.code if header.healthcare_facility_type else "SA07",
            practice=header.practice_setting.code if header.practice_setting else "AMBULATOIRE",
        )
        author = header.authors[0]
        if author.id is not None and author.id.root == "1.2.250.1.71.4.2.1":
            document["contained"][0]["identifier"][0]["value"] = author.id.extension
        (directory / f"{index}.json").write_text(json.dumps(bundle(document, data, rpps)))


def pdf_bodies(directory: Path, count: int, rpps: str, patients: int) -> None:
    """ITI-65 bundles of 10 KB PDFs, spread over the generated holders (bench/generate.py)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from identities import holder_traits

    for index in range(1, count + 1):
        data = b"%PDF-1.4\n" + os.urandom(10_240 - 16) + b"\n%%EOF\n"
        traits = holder_traits(index % min(patients, 5000))
        patient = _patient(traits["matricule"], traits["family"], traits["given"], "male", traits["birth_date"])
        document = _document_reference(
            unique_id=f"urn:uuid:{uuid.uuid4()}", type_code="11488-4", type_system="http://loinc.org", class_code="10",
            title="Compte rendu (bench)", date="2025-04-30T09:30:00+01:00", content=data, mime="application/pdf",
            fmt="urn:ihe:iti:xds-sd:pdf:2008", rpps=rpps, patient=patient,
        )
        (directory / f"{index}.json").write_text(json.dumps(bundle(document, data, rpps)))


def probe(url: str, headers_file: Path, body: bytes | None = None) -> None:
    """One request before the load: a scenario that fails is reported, not measured."""
    headers = dict(line.split(": ", 1) for line in headers_file.read_text().splitlines() if ": " in line)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as error:
        sys.exit(f"bench scenario fails: {request.method} {url} -> {error.code}\n{error.read()[:2000].decode(errors='replace')}")


WARM_PATIENTS = 500


def warm_up(base: str, headers_file: Path, paths: list[str]) -> None:
    """Each path once (8 at a time): the professional's first access to each space."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda path: probe(base + path, headers_file), paths))


def wrk(url: str, *, duration: int, connections: int, threads: int, env: dict[str, str], script: str) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(ROOT / "bench" / "wrk" / script), url],
        env=env, capture_output=True, text=True, check=True, timeout=duration + 120,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "p50": _ms(lat.get("50", "0ms")), "p99": _ms(lat.get("99", "0ms")), "errors": int(bad.group(1)) if bad else 0}


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def rss_per_worker(master: int) -> list[int]:
    children = subprocess.run(["ps", "--ppid", str(master), "-o", "rss="], capture_output=True, text=True, check=False).stdout
    return [int(x) // 1024 for x in children.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--documents", type=int, default=40000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("bench needs PostgreSQL: run it through tools/with-postgres (make bench does)")
    work = Path(tempfile.mkdtemp(prefix="carnet-bench-"))
    port = free_port()
    env = {**os.environ, "CARNET_MODE": "test", "CARNET_VAR_DIR": str(work / "var"), "DB_CONN_MAX_AGE": "600",
           "CARNET_CONTENT_STORE_URL": f"file://{work / 'content'}", "SITE_URL": f"http://127.0.0.1:{port}",
           "CARNET_JWT_AUDIENCE": f"http://127.0.0.1:{port}/fhir/R4", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(ROOT / "src"), "CARNET_FHIR_CHECK_OUTPUT": "0"}
    py = sys.executable
    run([py, str(ROOT / "manage.py"), "migrate", "--noinput", "-v0"], env)
    print(run([py, str(ROOT / "bench" / "generate.py"), "--patients", str(args.patients), "--documents", str(args.documents), "--out", str(work)], env).strip())
    server = subprocess.Popen(
        [py, "-m", "gunicorn", "carnet.wsgi:application", "--chdir", str(ROOT / "src"), "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--worker-class", "sync", "--backlog", "2048"],
        env=env, stdout=subprocess.DEVNULL, stderr=(work / "server.log").open("w"), start_new_session=True,
    )
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).read()  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        results = scenarios(args, work, port, env)
        memory = rss_per_worker(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print_table(args, results, memory)
    shutil.rmtree(work, ignore_errors=True)


def scenarios(args: argparse.Namespace, work: Path, port: int, env: dict[str, str]) -> dict[str, dict[str, float]]:
    base = f"http://127.0.0.1:{port}"
    headers = work / "headers.txt"
    headers.write_text(f"Authorization: Bearer {token(work, f'http://127.0.0.1:{port}/fhir/R4')}\nContent-Type: application/fhir+json\n")
    patients = (work / "patients.txt").read_text().split()
    documents = (work / "documents.txt").read_text().split()
    common = {**env, "HEADERS_FILE": str(headers), "WRK_THREADS": "2"}
    results: dict[str, dict[str, float]] = {}

    def gets(name: str, paths: list[str], extra_headers: str | None = None) -> None:
        paths_file = work / f"{name}.paths"
        paths_file.write_text("\n".join(paths) + "\n")
        scenario_env = {**common, "PATHS_FILE": str(paths_file)}
        if extra_headers:
            other = work / f"{name}.headers"
            other.write_text(extra_headers)
            scenario_env["HEADERS_FILE"] = str(other)
        probe(base + paths[0], Path(scenario_env["HEADERS_FILE"]))
        # a short unmeasured run first: lazy imports, connections, caches
        wrk(base, duration=3, connections=args.connections, threads=2, env=scenario_env, script="get_paths.lua")
        results[name] = wrk(base, duration=args.duration, connections=args.connections, threads=2, env=scenario_env, script="get_paths.lua")

    # Steady state: the professional has already consulted the spaces read (a first access adds a
    # notification to the holder, once per professional and space), and every worker is warm.
    warm = patients[:WARM_PATIENTS]
    warm_documents = [d for i, d in enumerate(documents) if i % len(patients) < WARM_PATIENTS]
    searches = [f"/fhir/R4/DocumentReference?patient={p}&status=current&_count=20" for p in warm]
    warm_up(base, headers, searches)
    gets("no-op (authenticated)", ["/api/v1/ping"])
    gets("DocumentReference read", [f"/fhir/R4/DocumentReference/{d}" for d in warm_documents])
    gets("ITI-67 by patient", searches)
    session = (work / "session.txt").read_text()
    rpps = json.loads((work / "author.json").read_text())["rpps"]
    gets("holder document list", ["/documents/"], extra_headers=f"Cookie: sessionid={session}\n")
    for name, builder, count in (
        ("ITI-65 deposit, 100 KB CDA N1", lambda d, n: cda_bodies(d, n, rpps), args.duration * 400),
        ("ITI-65 deposit, 10 KB PDF", lambda d, n: pdf_bodies(d, n, rpps, len(patients)), args.duration * 600),
    ):
        directory = work / f"bodies-{len(results)}"
        directory.mkdir()
        builder(directory, count)
        probe(base + "/fhir/R4", headers, (directory / f"{count}.json").read_bytes())
        scenario_env = {**common, "BODIES_DIR": str(directory), "BODIES_COUNT": str(count), "POST_PATH": "/fhir/R4"}
        results[name] = wrk(base, duration=args.duration, connections=args.connections, threads=2, env=scenario_env, script="post_bodies.lua")
        shutil.rmtree(directory, ignore_errors=True)
    return results


TARGETS = {
    "ITI-65 deposit, 100 KB CDA N1": "≥ 200/s",
    "ITI-65 deposit, 10 KB PDF": "≥ 290/s",
    "ITI-67 by patient": "≥ 690/s",
    "DocumentReference read": "≥ 1 750/s",
    "holder document list": "p99 ≤ 50 ms, ≥ 50 % of no-op",
    "no-op (authenticated)": "(ceiling)",
}


def print_table(args: argparse.Namespace, results: dict[str, dict[str, float]], memory: list[int]) -> None:
    print(f"\nCarnet documents benchmark — {args.patients} patients, {args.documents} documents, "
          f"{args.workers} gunicorn workers, {args.connections} connections, {args.duration} s per scenario")
    print(f"{'scenario':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  target")
    for name, row in results.items():
        print(f"{name:34} {row['rate']:9.1f} {row['p50']:8.1f} {row['p99']:8.1f} {int(row['errors']):7d}  {TARGETS.get(name, '')}")
    ceiling = results.get("no-op (authenticated)", {}).get("rate", 0)
    listing = results.get("holder document list", {}).get("rate", 0)
    if ceiling:
        print(f"holder list / no-op: {100 * listing / ceiling:.0f} %")
    print(f"resident memory per worker (MB): {memory}  (target ≤ 200)")


if __name__ == "__main__":
    main()
