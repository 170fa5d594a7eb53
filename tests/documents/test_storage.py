"""The content store: the same behaviour on the local filesystem and on a real S3 server."""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import sys
import tracemalloc
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import quote

import pytest

from carnet.documents.crypto import HEADER_SIZE, TAG_SIZE, ContentIntegrityError, generate_data_key
from carnet.documents.storage import (
    MIN_PART_SIZE,
    ContentStore,
    ContentTooLargeError,
    FilesystemStore,
    ObjectNotFoundError,
    S3Store,
    content_store_from_settings,
    read_decrypted,
    store_from_url,
    write_encrypted,
)
from tests.paths import REPO_ROOT

if TYPE_CHECKING:
    from tests.documents.conftest import S3Server

MIB = 1024 * 1024


class InterruptedUploadError(Exception):
    """Raised by a content generator to simulate a failure mid-upload."""


def read(store: ContentStore, key: str) -> bytes:
    return b"".join(store.open(key))


def failing_after(data: Iterable[bytes]) -> Iterator[bytes]:
    yield from data
    raise InterruptedUploadError


def raw_objects(store: ContentStore) -> dict[str, bytes]:
    """Every byte the back end holds for this store, temporary and incomplete data included."""
    if isinstance(store, FilesystemStore):
        if not store.root.exists():
            return {}
        return {
            str(path.relative_to(store.root)): path.read_bytes()
            for path in store.root.rglob("*")
            if path.is_file()
        }
    assert isinstance(store, S3Store)
    client = store.client
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=store.prefix
    ):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=store.bucket, Key=item["Key"])[
                "Body"
            ].read()
    return found


def pending_uploads(store: ContentStore) -> list[str]:
    """Incomplete multipart uploads (S3) or temporary files (filesystem) left by the store."""
    if isinstance(store, FilesystemStore):
        return [name for name in raw_objects(store) if Path(name).name.startswith(".")]
    assert isinstance(store, S3Store)
    response = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    return [upload["Key"] for upload in response.get("Uploads", [])]


def files_containing(root: Path, needles: list[bytes]) -> dict[bytes, list[Path]]:
    """Which files under `root` contain each needle, read in bounded blocks with overlap."""
    found: dict[bytes, list[Path]] = {needle: [] for needle in needles}
    overlap = max(len(needle) for needle in needles) - 1
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        seen: set[bytes] = set()
        with path.open("rb") as handle:
            tail = b""
            while block := handle.read(4 * MIB):
                window = tail + block
                seen.update(needle for needle in needles if needle in window)
                tail = window[-overlap:]
        for needle in seen:
            found[needle].append(path)
    return found


def store_url(store: ContentStore, server: S3Server | None) -> str:
    if isinstance(store, FilesystemStore):
        return store.root.as_uri()
    assert isinstance(store, S3Store)
    assert server is not None
    credentials = f"{quote(server.access_key, safe='')}:{quote(server.secret_key, safe='')}"
    return (
        f"s3://{credentials}@{store.bucket}/{store.prefix}"
        f"?endpoint={server.endpoint_url}&region={server.region}&part_size={store.part_size}"
    )


def server_for(store: ContentStore, request: pytest.FixtureRequest) -> S3Server | None:
    if isinstance(store, S3Store):
        server: S3Server = request.getfixturevalue("s3_server")
        return server
    return None


def sample_pdf(phrase: bytes, size: int) -> bytes:
    """An uncompressed PDF whose page text repeats `phrase` until the file reaches `size`."""
    text = b"BT /F1 10 Tf 20 800 Td (" + phrase + b") Tj ET\n"
    body = text * max(1, size // len(text))
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n"
        b"4 0 obj << /Length " + str(len(body)).encode() + b" >> stream\n" + body + b"endstream\n"
        b"endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )


# --- The store contract -----------------------------------------------------------------------


def test_stores_implement_the_protocol(store):
    assert isinstance(store, ContentStore)


@pytest.mark.parametrize("size", [0, 1, 1000, MIN_PART_SIZE, MIN_PART_SIZE + 1, 12 * MIB + 3])
def test_put_then_open_returns_the_same_bytes(store, size):
    data = os.urandom(size)
    pieces = [data[i : i + 300_000] for i in range(0, len(data), 300_000)] or [b""]

    written = store.put("patient-1/doc-a", pieces)

    assert written == size
    assert store.exists("patient-1/doc-a")
    assert read(store, "patient-1/doc-a") == data


def test_put_replaces_an_existing_object(store):
    store.put("patient-1/doc-a", [b"version 1"])

    store.put("patient-1/doc-a", [b"version 2, longer"])

    assert read(store, "patient-1/doc-a") == b"version 2, longer"


def test_missing_object(store):
    assert not store.exists("patient-1/none")
    with pytest.raises(ObjectNotFoundError) as raised:
        store.open("patient-1/none")
    assert raised.value.key == "patient-1/none"


def test_delete_removes_the_object_and_is_idempotent(store):
    store.put("patient-1/doc-a", [b"content"])
    store.put("patient-1/doc-b", [b"other"])

    store.delete("patient-1/doc-a")
    store.delete("patient-1/doc-a")

    assert not store.exists("patient-1/doc-a")
    assert read(store, "patient-1/doc-b") == b"other"


def test_key_may_be_both_an_object_and_the_start_of_longer_keys(store):
    store.put("patient-1", [b"short"])
    store.put("patient-1/doc", [b"long"])

    assert read(store, "patient-1") == b"short"
    assert read(store, "patient-1/doc") == b"long"


def test_delete_prefix_removes_exactly_the_matching_keys(store):
    for key in ["p1/a", "p1/b/c", "p1/b/d.pdf", "p1", "p10/a", "p2/a", "q/p1/a"]:
        store.put(key, [key.encode()])

    assert store.delete_prefix("p1/") == 3
    assert {key for key in ["p1", "p10/a", "p2/a", "q/p1/a"] if store.exists(key)} == {
        "p1",
        "p10/a",
        "p2/a",
        "q/p1/a",
    }

    # A prefix that ends inside a segment matches like a string prefix, as S3 does.
    assert store.delete_prefix("p1") == 2
    assert not store.exists("p1")
    assert not store.exists("p10/a")
    assert store.delete_prefix("p2/a") == 1
    assert store.delete_prefix("p2/") == 0
    assert store.exists("q/p1/a")
    assert store.delete_prefix("q/p") == 1
    assert raw_objects(store) == {}


def test_delete_prefix_refuses_an_empty_prefix(store):
    store.put("p1/a", [b"x"])

    with pytest.raises(ValueError, match="empty prefix"):
        store.delete_prefix("")
    assert store.exists("p1/a")


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs",
        "../escape",
        "a/../../escape",
        "a/./b",
        "a//b",
        "a/",
        ".hidden",
        "a/.tmp",
        "dossier médical",
        "a\\b",
        "a\x00b",
        "x" * 513,
        "a/" + "y" * 129,
    ],
)
def test_invalid_keys_are_refused_everywhere(store, tmp_path, key):
    operations: list[Callable[[], object]] = [
        lambda: store.put(key, [b"x"]),
        lambda: store.open(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ]
    for operation in operations:
        with pytest.raises(ValueError, match="object key"):
            operation()
    assert raw_objects(store) == {}
    assert not (tmp_path.parent / "escape").exists()


def test_failed_put_leaves_nothing(store):
    # Small (single request) and large (multipart, parts already uploaded) failures.
    for key, before_failure in (("p/small", [b"a" * 1000]), ("p/large", [b"b" * MIB] * 7)):
        with pytest.raises(InterruptedUploadError):
            store.put(key, failing_after(before_failure))

        assert not store.exists(key)
        with pytest.raises(ObjectNotFoundError):
            store.open(key)
    assert raw_objects(store) == {}
    assert pending_uploads(store) == []


def test_failed_put_keeps_the_previous_version(store):
    store.put("p/doc", [b"complete first version"])

    with pytest.raises(InterruptedUploadError):
        store.put("p/doc", failing_after([b"c" * MIB] * 6))

    assert read(store, "p/doc") == b"complete first version"
    assert pending_uploads(store) == []


_CRASHING_WRITER = """
import sys
from carnet.documents.storage import store_from_url

def content():
    yield b"k" * (6 * 1024 * 1024)
    yield b"k" * 1024
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    sys.stdin.read()  # blocks until the parent kills this process
    yield b"never"

store_from_url(sys.argv[1]).put("p/crashed", content())
"""


@pytest.mark.slow
def test_process_killed_mid_write_leaves_no_object(store, request):
    # Given a writer process that has sent part of an object (a whole part, on S3)…
    url = store_url(store, server_for(store, request))
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    writer = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    assert writer.stdin is not None
    assert writer.stdout is not None
    assert writer.stderr is not None
    try:
        ready, _, _ = select.select([writer.stdout], [], [], 60)
        assert ready, "the writer never reached the middle of its upload"
        line = writer.stdout.readline()
        assert line == b"ready\n", writer.stderr.read().decode()
        # …when it is killed without a chance to clean up…
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
        writer.stdin.close()
        writer.stdout.close()
        writer.stderr.close()

    # …then no object is visible, only an incomplete upload that closing the space removes.
    assert not store.exists("p/crashed")
    assert [name for name in raw_objects(store) if not Path(name).name.startswith(".")] == []
    assert len(pending_uploads(store)) == 1
    assert store.delete_prefix("p/") == 0
    assert pending_uploads(store) == []
    assert raw_objects(store) == {}


def test_store_from_url_round_trip(store, request):
    # The S3 fixture's secret holds "/+@:", so this also proves percent-decoded credentials.
    url = store_url(store, server_for(store, request))

    rebuilt = store_from_url(url)
    rebuilt.put("p/from-url", [b"through the URL"])

    assert type(rebuilt) is type(store)
    assert read(store, "p/from-url") == b"through the URL"


def test_open_streams_in_bounded_pieces(store):
    store.put("p/big", [os.urandom(3 * MIB)])

    sizes = [len(piece) for piece in store.open("p/big")]

    assert sum(sizes) == 3 * MIB
    assert max(sizes) <= MIB


# --- Encrypted content ------------------------------------------------------------------------


def test_write_encrypted_reports_plaintext_size_and_digests(store):
    dek = generate_data_key()
    data = os.urandom(200_000)

    info = write_encrypted(store, "p/doc", [data[:1], data[1:150_000], data[150_000:]], dek=dek)

    assert info.size == len(data)
    assert info.sha1 == hashlib.sha1(data, usedforsecurity=False).hexdigest()
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.stored_size == HEADER_SIZE + len(data) + 4 * TAG_SIZE
    assert len(read(store, "p/doc")) == info.stored_size
    assert b"".join(read_decrypted(store, "p/doc", dek=dek)) == data


@pytest.mark.parametrize("size", [0, 65536, 3 * 65536, 7 * MIB + 11])
def test_encrypted_round_trip(store, size):
    dek = generate_data_key()
    data = os.urandom(size)

    write_encrypted(store, "p/doc", [data], dek=dek, aad=b"document-1")

    assert b"".join(read_decrypted(store, "p/doc", dek=dek, aad=b"document-1")) == data


def test_stored_files_contain_no_plaintext(store, request):
    # Given a PDF of several chunks and parts whose text repeats a known phrase…
    secret = f"Compte rendu opératoire de Mme Dupont {uuid.uuid4()}".encode()
    control = f"Control phrase stored in clear {uuid.uuid4()}".encode()
    pdf = sample_pdf(secret, 6 * MIB)
    dek = generate_data_key()

    info = write_encrypted(store, "patient-1/report.pdf", [pdf], dek=dek)
    # …and, as a control that the search can find something, a phrase stored without encryption
    # (amid random bytes, which SeaweedFS does not compress).
    store.put("patient-1/control", [os.urandom(4096), control, os.urandom(4096)])

    # Then the phrase is nowhere in what the store holds…
    stored = raw_objects(store)
    assert any(control in data for data in stored.values())
    assert not any(secret in data for data in stored.values())
    assert info.sha256 == hashlib.sha256(pdf).hexdigest()
    # …nor anywhere on the disk behind it: the store root, or the S3 server's whole directory.
    if isinstance(store, FilesystemStore):
        root = store.root
    else:
        server = server_for(store, request)
        assert server is not None
        root = server.data_dir.parent
    found = files_containing(root, [secret, control])
    assert found[control], "the scan should find the phrase stored in clear"
    assert found[secret] == []
    assert b"".join(read_decrypted(store, "patient-1/report.pdf", dek=dek)) == pdf


def test_tampered_stored_object_is_detected(store):
    dek = generate_data_key()
    write_encrypted(store, "p/doc", [os.urandom(300_000)], dek=dek)
    raw = bytearray(read(store, "p/doc"))
    raw[len(raw) // 2] ^= 0x01
    store.put("p/doc", [bytes(raw)])

    with pytest.raises(ContentIntegrityError):
        b"".join(read_decrypted(store, "p/doc", dek=dek))


def test_truncated_stored_object_is_detected(store):
    dek = generate_data_key()
    write_encrypted(store, "p/doc", [os.urandom(4 * 65536)], dek=dek)
    raw = read(store, "p/doc")
    store.put("p/doc", [raw[: -(65536 + TAG_SIZE)]])

    with pytest.raises(ContentIntegrityError):
        b"".join(read_decrypted(store, "p/doc", dek=dek))


def test_object_copied_to_another_key_does_not_decrypt(store):
    # Same patient, same data key: the storage key itself is bound to the content.
    dek = generate_data_key()
    write_encrypted(store, "p/doc-a", [b"resultat de biologie"], dek=dek)
    store.put("p/doc-b", [read(store, "p/doc-a")])

    with pytest.raises(ContentIntegrityError):
        b"".join(read_decrypted(store, "p/doc-b", dek=dek))


def test_wrong_key_or_aad_does_not_decrypt(store):
    dek = generate_data_key()
    write_encrypted(store, "p/doc", [b"ordonnance"], dek=dek, aad=b"document-1")

    with pytest.raises(ContentIntegrityError):
        b"".join(read_decrypted(store, "p/doc", dek=generate_data_key(), aad=b"document-1"))
    with pytest.raises(ContentIntegrityError):
        b"".join(read_decrypted(store, "p/doc", dek=dek, aad=b"document-2"))


def test_read_decrypted_of_a_missing_object_fails_at_once(store):
    with pytest.raises(ObjectNotFoundError):
        read_decrypted(store, "p/none", dek=generate_data_key())


def test_closing_a_space_leaves_nothing_readable(store):
    # Given two documents of a closed space and one of another patient…
    dek, other_dek = generate_data_key(), generate_data_key()
    write_encrypted(store, "patient-1/a", [b"a" * 100_000], dek=dek)
    write_encrypted(store, "patient-1/b", [b"b" * 10], dek=dek)
    write_encrypted(store, "patient-2/a", [b"c" * 10], dek=other_dek)
    copy = read(store, "patient-1/a")

    # …when the space is closed: its objects deleted and its data key destroyed…
    assert store.delete_prefix("patient-1/") == 2
    del dek

    # …then nothing of it remains in the store and a copy taken before is unreadable.
    assert not store.exists("patient-1/a")
    assert not store.exists("patient-1/b")
    store.put("patient-1/a", [copy])
    with pytest.raises(ContentIntegrityError):
        b"".join(read_decrypted(store, "patient-1/a", dek=generate_data_key()))
    assert b"".join(read_decrypted(store, "patient-2/a", dek=other_dek)) == b"c" * 10


def test_max_size_aborts_the_write_and_keeps_nothing(store):
    dek = generate_data_key()
    write_encrypted(store, "p/existing", [b"kept"], dek=dek)

    with pytest.raises(ContentTooLargeError) as raised:
        write_encrypted(store, "p/too-big", [b"x" * MIB] * 21, dek=dek, max_size=20 * MIB)
    with pytest.raises(ContentTooLargeError):
        write_encrypted(store, "p/existing", [b"x" * 11], dek=dek, max_size=10)

    assert str(raised.value) == "Le document dépasse la taille maximale autorisée (20 Mo)."
    assert raised.value.code == "too-large"
    assert not store.exists("p/too-big")
    assert pending_uploads(store) == []
    assert b"".join(read_decrypted(store, "p/existing", dek=dek)) == b"kept"
    # Exactly the limit is accepted.
    assert write_encrypted(store, "p/limit", [b"y" * 10], dek=dek, max_size=10).size == 10


def measure_round_trip(store: ContentStore, total: int) -> tuple[int, int]:
    """Write then read `total` bytes from a generator; return the traced peaks of each."""
    dek = generate_data_key()
    # Distinct 1 MiB pieces that are views on one random pool, so that the generator itself
    # allocates nothing and the peaks are the store's alone.
    pool = memoryview(os.urandom(2 * MIB))

    def content() -> Iterator[bytes]:
        for index in range(total // MIB):
            offset = index * 16 * 1024
            yield cast(bytes, pool[offset : offset + MIB])

    expected = hashlib.sha256()
    for piece in content():
        expected.update(piece)

    tracemalloc.start()
    try:
        info = write_encrypted(store, "p/large", content(), dek=dek)
        write_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        digest, size = hashlib.sha256(), 0
        for piece in read_decrypted(store, "p/large", dek=dek):
            digest.update(piece)
            size += len(piece)
        read_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert info.size == size == total
    assert info.sha256 == digest.hexdigest() == expected.hexdigest()
    return write_peak, read_peak


@pytest.mark.slow
def test_streaming_keeps_memory_bounded(store):
    # The peak of traced allocations must not grow with the object: about one S3 part (5 MiB
    # here) plus botocore's 1 MiB read buffers on S3, a few 64 KiB chunks on disk.
    small_write, small_read = measure_round_trip(store, 16 * MIB)
    write_peak, read_peak = measure_round_trip(store, 64 * MIB)

    part = store.part_size if isinstance(store, S3Store) else 0
    assert write_peak < part + 4 * MIB, f"writing 64 MiB peaked at {write_peak / MIB:.1f} MiB"
    assert read_peak < 4 * MIB, f"reading 64 MiB peaked at {read_peak / MIB:.1f} MiB"
    assert write_peak < small_write + MIB, "memory grows with the object size when writing"
    assert read_peak < small_read + MIB, "memory grows with the object size when reading"


# --- Back-end specifics -----------------------------------------------------------------------


def test_filesystem_store_shards_by_first_segment(tmp_path):
    store = FilesystemStore(tmp_path)
    store.put("patient-1/doc", [b"x"])
    store.put("patient-2/doc", [b"y"])

    files = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("@*"))

    digest_1 = hashlib.sha256(b"patient-1").hexdigest()
    digest_2 = hashlib.sha256(b"patient-2").hexdigest()
    assert files == sorted(
        [
            f"{digest_1[:2]}/{digest_1[2:4]}/patient-1/@doc",
            f"{digest_2[:2]}/{digest_2[2:4]}/patient-2/@doc",
        ]
    )


def test_filesystem_store_needs_an_absolute_root():
    with pytest.raises(ValueError, match="absolute"):
        FilesystemStore(Path("relative/content"))


def test_filesystem_reader_keeps_its_snapshot_when_the_object_is_replaced(tmp_path):
    store = FilesystemStore(tmp_path, read_size=1024)
    store.put("p/doc", [b"a" * 10_000])
    reader = store.open("p/doc")
    first = next(reader)

    store.put("p/doc", [b"b" * 10_000])

    assert first + b"".join(reader) == b"a" * 10_000
    assert read(store, "p/doc") == b"b" * 10_000


def test_s3_store_needs_parts_of_at_least_five_mib():
    with pytest.raises(ValueError, match="part_size"):
        S3Store("bucket", endpoint_url="http://127.0.0.1:1", part_size=MIB)


# --- Configuration ----------------------------------------------------------------------------


def test_store_from_file_url(tmp_path):
    store = store_from_url(f"file://{tmp_path}/content")

    assert isinstance(store, FilesystemStore)
    assert store.root == tmp_path / "content"


def test_store_from_s3_url_reads_every_part():
    store = store_from_url(
        "s3://AKIA%2Fkey:s3cr%40t@carnet-docs/prod/content/"
        "?endpoint=http://127.0.0.1:8333&region=eu-west-3&part_size=6291456"
    )

    assert isinstance(store, S3Store)
    assert store.bucket == "carnet-docs"
    assert store.prefix == "prod/content/"
    assert store.part_size == 6 * MIB
    assert store.client.meta.endpoint_url == "http://127.0.0.1:8333"
    assert store.client.meta.region_name == "eu-west-3"


def test_store_from_s3_url_takes_credentials_as_arguments():
    store = store_from_url(
        "s3://carnet-docs?endpoint=https://s3.example.org", access_key="id", secret_key="secret"
    )

    assert isinstance(store, S3Store)
    assert store.prefix == ""
    assert store.client.meta.endpoint_url == "https://s3.example.org"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/path", "file:// or s3://"),
        ("content", "file:// or s3://"),
        ("file://server/share", "remote host"),
        ("file://relative", "remote host"),
        ("file:///", "absolute directory"),
        ("file:///data?x=1", "no query"),
        ("s3://", "bucket"),
        ("s3://Bad_Bucket/x", "bucket"),
        ("s3://key@bucket", "access-key:secret-key"),
        ("s3://bucket?endpont=http://127.0.0.1:8333", "unknown s3:// URL parameter"),
        ("s3://bucket?endpoint=ftp://127.0.0.1", "http\\(s\\) URL"),
        ("s3://bucket?region=a&region=b", "once"),
        ("s3://bucket?part_size=big", "number of bytes"),
        ("s3://bucket?part_size=1024", "part_size must be at least"),
        ("s3://bucket/../x", "prefix"),
        ("s3://bucket#frag", "fragment"),
    ],
)
def test_store_from_url_rejects_bad_urls(url, message):
    with pytest.raises(ValueError, match=message):
        store_from_url(url)


def test_store_from_url_does_not_echo_secrets():
    with pytest.raises(ValueError, match="endpoint") as raised:
        store_from_url("s3://id:TopSecret@bucket?endpoint=nowhere")

    assert "TopSecret" not in str(raised.value)
    with pytest.raises(ValueError, match="not both"):
        store_from_url("s3://id:TopSecret@bucket", access_key="a", secret_key="b")


def test_content_store_from_settings(settings, tmp_path):
    settings.CARNET_CONTENT_STORE_URL = f"file://{tmp_path}"

    store = content_store_from_settings()
    assert isinstance(store, FilesystemStore)
    assert store.root == tmp_path

    settings.CARNET_CONTENT_STORE_URL = ""
    settings.VAR_DIR = tmp_path / "var"
    default = content_store_from_settings()
    assert isinstance(default, FilesystemStore)
    assert default.root == tmp_path / "var" / "documents"
