"""Where encrypted document content lives: a local directory or an S3-compatible bucket.

A `ContentStore` holds opaque byte objects under keys such as ``<patient>/<document>``; it never
sees plaintext (`write_encrypted` / `read_decrypted` encrypt on the way in and out). Invariants
every back end keeps:

* `put` is atomic: after a crash or an error the key holds either the complete new object or
  what it held before, never a part. That lets the documents service write content first and
  metadata second, so metadata never points at missing content.
* Objects stream in and out; memory is bounded by one buffer (a chunk on disk, one multipart
  part on S3), whatever the object size.
* Keys are ``/``-separated segments of ``A-Z a-z 0-9 . _ -`` that do not start with a dot. The
  first segment is the unit of sharding on disk and should be the patient key, so that
  `delete_prefix("<patient>/")` (closing a space) touches one directory.

Nothing here reads Django settings except the `content_store_from_settings` factory.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit

from carnet.core.errors import InvalidInput
from carnet.documents.crypto import decrypt_chunks, encrypt_chunks

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

__all__ = [
    "ContentInfo",
    "ContentStore",
    "ContentTooLargeError",
    "FilesystemStore",
    "ObjectNotFoundError",
    "S3Store",
    "content_store_from_settings",
    "read_decrypted",
    "store_from_url",
    "validate_key",
    "write_encrypted",
]

logger = logging.getLogger(__name__)

_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_PARTIAL_SEGMENT = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,127})?")
MAX_KEY_LENGTH = 512
READ_SIZE = 256 * 1024
# S3 refuses parts under 5 MiB except the last one.
MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024


class ObjectNotFoundError(LookupError):
    """No object is stored under this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no stored object under key {key!r}")
        self.key = key


class ContentTooLargeError(InvalidInput):
    """The content exceeds the size allowed for it; nothing was stored."""

    code = "too-large"

    def __init__(self, max_size: int) -> None:
        super().__init__(
            f"Le document dépasse la taille maximale autorisée ({_human_size(max_size)})."
        )
        self.max_size = max_size


def _human_size(size: int) -> str:
    for unit, label in ((1024 * 1024, "Mo"), (1000 * 1000, "Mo"), (1024, "Ko")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {label}"
    return f"{size} octets"


def validate_key(key: str) -> str:
    """Return `key` if it is a valid object key, else raise `ValueError`."""
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise ValueError(
            "an object key is '/'-separated segments of A-Z a-z 0-9 . _ - "
            "not starting with '.', at most 512 characters"
        )
    return key


def _validate_prefix(prefix: str) -> tuple[list[str], str]:
    """Split a deletion prefix into its complete segments and the partial last one."""
    *complete, partial = prefix.split("/")
    if not prefix:
        raise ValueError("refusing to delete with an empty prefix")
    if complete:
        validate_key("/".join(complete))
    if len(prefix) > MAX_KEY_LENGTH or not _PARTIAL_SEGMENT.fullmatch(partial):
        raise ValueError("invalid prefix: it must be the start of a valid object key")
    return complete, partial


@runtime_checkable
class ContentStore(Protocol):
    """A flat store of opaque objects, written atomically and read as a stream."""

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store the concatenated `chunks` under `key`, replacing any object; return its size.

        If `chunks` raises, the exception propagates and the key is left as it was.
        """
        ...

    def open(self, key: str) -> Iterator[bytes]:
        """Stream the object; raises `ObjectNotFoundError` at once when it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with `prefix`; return how many were removed."""
        ...


# --- Local filesystem --------------------------------------------------------------------------

# On disk, key "p/docs/x" is <root>/<h0h1>/<h2h3>/p/docs/@x where h is the SHA-256 of "p".
# Object files start with "@" and temporary files with ".", neither of which a key segment can,
# so objects, temporaries and the directories of longer keys never collide.
_OBJECT_MARK = "@"
_TEMP_SUFFIX = ".tmp"


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemStore:
    """Objects as files under `root`, written through a temporary file and `os.replace`."""

    def __init__(self, root: Path, *, read_size: int = READ_SIZE) -> None:
        if not root.is_absolute():
            raise ValueError("the content store root must be an absolute path")
        self.root = root
        self.read_size = read_size

    def __repr__(self) -> str:
        return f"FilesystemStore({str(self.root)!r})"

    def _shard(self, first_segment: str) -> Path:
        digest = hashlib.sha256(first_segment.encode("ascii")).hexdigest()
        return self.root / digest[:2] / digest[2:4]

    def _path(self, key: str) -> Path:
        *directories, name = validate_key(key).split("/")
        base = self._shard(key.split("/", 1)[0])
        return base.joinpath(*directories, _OBJECT_MARK + name)

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        created = self._make_parents(path.parent)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}{_TEMP_SUFFIX}")
        written = 0
        try:
            # Only the service account reads the store: the names alone identify patients.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    written += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        # The rename and any directory created for it only survive a crash once their parent
        # directories are on disk.
        for directory in (path.parent, *created):
            _fsync_directory(directory)
        return written

    def _make_parents(self, directory: Path) -> list[Path]:
        """Create `directory` and its missing ancestors; return the parents to fsync."""
        missing: list[Path] = []
        current = directory
        while not current.exists() and current != self.root.parent:
            missing.append(current)
            current = current.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return [created.parent for created in missing]

    def open(self, key: str) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFoundError(key) from None
        return self._read(handle)

    def _read(self, handle: io.BufferedReader) -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(self.read_size):
                yield chunk

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_directory(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        complete, partial = _validate_prefix(prefix)
        if complete and not partial:
            base = self._shard(complete[0]).joinpath(*complete)
            if not base.is_dir():
                return 0
            removed = _count_objects(base)
            shutil.rmtree(base)
            _fsync_directory(base.parent)
            return removed
        if complete:
            bases = [self._shard(complete[0]).joinpath(*complete)]
        else:
            # A prefix inside the first segment may match any shard: walk them all (rare: the
            # service deletes "<patient>/").
            bases = [shard for top in _subdirectories(self.root) for shard in _subdirectories(top)]
        return sum(_delete_matching(base, partial) for base in bases)


def _delete_matching(base: Path, partial: str) -> int:
    """Delete what lies in `base` under key segments starting with `partial`; count objects."""
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return 0
    removed = 0
    for entry in entries:
        name = entry.name
        if name.startswith(_OBJECT_MARK):
            if name[1:].startswith(partial):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
        elif name.startswith("."):
            if name[1:].startswith(_OBJECT_MARK + partial):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        elif name.startswith(partial) and entry.is_dir(follow_symlinks=False):
            removed += _count_objects(Path(entry.path))
            shutil.rmtree(entry.path)
    _fsync_directory(base)
    return removed


def _subdirectories(path: Path) -> list[Path]:
    try:
        return [Path(entry.path) for entry in os.scandir(path) if entry.is_dir()]
    except FileNotFoundError:
        return []


def _count_objects(directory: Path) -> int:
    return sum(
        1 for _, _, files in os.walk(directory) for name in files if name.startswith(_OBJECT_MARK)
    )


# --- S3-compatible object storage --------------------------------------------------------------


class S3Store:
    """Objects in an S3 bucket under an optional key prefix.

    Small objects go up in one PutObject; larger ones as a multipart upload, which S3 makes
    visible only at CompleteMultipartUpload and which is aborted on any error. A process killed
    mid-upload leaves an invisible incomplete upload: give the bucket an
    AbortIncompleteMultipartUpload lifecycle rule to reclaim its space.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        part_size: int = DEFAULT_PART_SIZE,
        client: S3Client | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3 minimum)")
        if prefix and not _KEY.fullmatch(prefix.rstrip("/")):
            raise ValueError("the S3 key prefix must be a valid object key")
        if (access_key is None) != (secret_key is None):
            raise ValueError("give both access_key and secret_key, or neither")
        self.bucket = bucket
        self.prefix = prefix.rstrip("/") + "/" if prefix else ""
        self.part_size = part_size
        self.client = client or _make_client(
            endpoint_url=endpoint_url, region=region, access_key=access_key, secret_key=secret_key
        )

    def __repr__(self) -> str:
        return f"S3Store({self.bucket!r}, prefix={self.prefix!r})"

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        name = self._name(key)
        buffer = io.BytesIO()
        written = 0
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []
        try:
            for chunk in chunks:
                buffer.write(chunk)
                written += len(chunk)
                if buffer.tell() >= self.part_size:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=name
                        )["UploadId"]
                    parts.append(self._upload_part(name, upload_id, len(parts) + 1, buffer))
                    buffer = io.BytesIO()
            if upload_id is None:
                buffer.seek(0)
                self.client.put_object(Bucket=self.bucket, Key=name, Body=buffer)
                return written
            if buffer.tell():
                parts.append(self._upload_part(name, upload_id, len(parts) + 1, buffer))
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if upload_id is not None:
                self._abort(name, upload_id)
            raise
        return written

    def _upload_part(
        self, name: str, upload_id: str, number: int, buffer: io.BytesIO
    ) -> CompletedPartTypeDef:
        buffer.seek(0)
        response = self.client.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=buffer
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _abort(self, name: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        except Exception:
            # The original error matters more; the lifecycle rule reclaims what is left.
            logger.warning("could not abort multipart upload %s of %s", upload_id, name)

    def open(self, key: str) -> Iterator[bytes]:
        name = self._name(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=name)
        except self.client.exceptions.NoSuchKey:
            raise ObjectNotFoundError(key) from None
        return self._read(response["Body"])

    @staticmethod
    def _read(body: StreamingBody) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(READ_SIZE)
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def delete_prefix(self, prefix: str) -> int:
        _validate_prefix(prefix)
        full_prefix = self.prefix + prefix
        removed = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
            names = [item["Key"] for item in page.get("Contents", [])]
            if not names:
                continue
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": name} for name in names], "Quiet": True},
            )
            if errors := response.get("Errors"):
                raise OSError(
                    errno.EIO, f"S3 refused to delete {len(errors)} object(s) under the prefix"
                )
            removed += len(names)
        # In-flight uploads hold ciphertext too; a closed space keeps none.
        uploads = self.client.get_paginator("list_multipart_uploads")
        for upload_page in uploads.paginate(Bucket=self.bucket, Prefix=full_prefix):
            for upload in upload_page.get("Uploads", []):
                self._abort(upload["Key"], upload["UploadId"])
        return removed


def _make_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    access_key: str | None,
    secret_key: str | None,
) -> S3Client:
    import boto3
    from botocore.config import Config

    config = Config(
        # Path-style addressing is what S3-compatible servers (SeaweedFS, MinIO, Garage) expect
        # at a custom endpoint; AWS itself keeps virtual-host style.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=10,
        read_timeout=60,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


# --- Configuration -----------------------------------------------------------------------------

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_PARAMETERS = {"endpoint", "region", "part_size"}


def store_from_url(
    url: str, *, access_key: str | None = None, secret_key: str | None = None
) -> ContentStore:
    """Build a store from ``file:///abs/path`` or ``s3://[key:secret@]bucket[/prefix]?...``.

    S3 query parameters: ``endpoint`` (http or https URL of an S3-compatible server; omit for
    AWS), ``region``, ``part_size`` (bytes). Credentials come from the URL (percent-encoded) or
    from the arguments, not both; with neither, boto3's usual chain (environment, instance role)
    applies. Errors never echo the URL, which may hold a secret.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _filesystem_from_url(parts.netloc, parts.path, parts.query, parts.fragment)
    if parts.scheme == "s3":
        return _s3_from_url(
            parts.netloc,
            parts.path,
            parts.query,
            parts.fragment,
            access_key=access_key,
            secret_key=secret_key,
        )
    raise ValueError("a content store URL starts with file:// or s3://")


def _filesystem_from_url(netloc: str, path: str, query: str, fragment: str) -> FilesystemStore:
    if netloc not in {"", "localhost"}:
        raise ValueError("a file:// content store URL cannot name a remote host")
    if query or fragment:
        raise ValueError("a file:// content store URL takes no query or fragment")
    directory = unquote(path)
    if not directory.startswith("/") or directory == "/":
        raise ValueError("a file:// content store URL needs an absolute directory: file:///path")
    return FilesystemStore(Path(directory))


def _s3_from_url(
    netloc: str,
    path: str,
    query: str,
    fragment: str,
    *,
    access_key: str | None,
    secret_key: str | None,
) -> S3Store:
    userinfo, at, bucket = netloc.rpartition("@")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError("an s3:// URL needs a valid bucket name: s3://bucket/prefix")
    if at:
        user, colon, password = userinfo.partition(":")
        if not user or not colon or not password:
            raise ValueError("s3:// credentials must read access-key:secret-key@")
        if access_key is not None or secret_key is not None:
            raise ValueError("give S3 credentials in the URL or as arguments, not both")
        access_key, secret_key = unquote(user), unquote(password)
    if fragment:
        raise ValueError("an s3:// URL takes no fragment")
    try:
        parameters = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError("the s3:// URL query string is malformed") from None
    unknown = set(parameters) - _S3_PARAMETERS
    if unknown:
        raise ValueError(f"unknown s3:// URL parameter(s): {', '.join(sorted(unknown))}")
    if any(len(values) != 1 for values in parameters.values()):
        raise ValueError("each s3:// URL parameter may appear once")
    options = {name: values[0] for name, values in parameters.items()}
    endpoint = options.get("endpoint")
    if endpoint is not None:
        endpoint_parts = urlsplit(endpoint)
        if endpoint_parts.scheme not in {"http", "https"} or not endpoint_parts.hostname:
            raise ValueError("the s3:// endpoint parameter must be an http(s) URL")
    part_size = DEFAULT_PART_SIZE
    if "part_size" in options:
        if not options["part_size"].isdigit():
            raise ValueError("the s3:// part_size parameter must be a number of bytes")
        part_size = int(options["part_size"])
    prefix = unquote(path).strip("/")
    if prefix and not _KEY.fullmatch(prefix):
        raise ValueError("the s3:// key prefix must be a valid object key")
    return S3Store(
        bucket,
        endpoint_url=endpoint,
        region=options.get("region") or None,
        access_key=access_key,
        secret_key=secret_key,
        prefix=prefix,
        part_size=part_size,
    )


def content_store_from_settings() -> ContentStore:
    """The store named by ``settings.CARNET_CONTENT_STORE_URL``, else ``<VAR_DIR>/documents``."""
    from django.conf import settings

    url = getattr(settings, "CARNET_CONTENT_STORE_URL", "")
    if url:
        return store_from_url(url)
    return FilesystemStore(Path(settings.VAR_DIR).resolve() / "documents")


# --- Encrypted content -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContentInfo:
    """What `write_encrypted` learnt of the plaintext while streaming it."""

    size: int
    sha1: str
    sha256: str
    stored_size: int


def _content_aad(key: str, aad: bytes) -> bytes:
    # The storage key is always bound, so an object copied or moved to another key within one
    # patient (same data key) fails to decrypt; the caller's `aad` adds its own context.
    encoded = validate_key(key).encode("ascii")
    return len(encoded).to_bytes(2, "big") + encoded + aad


def write_encrypted(
    store: ContentStore,
    key: str,
    plain: Iterable[bytes],
    *,
    dek: bytes,
    aad: bytes = b"",
    max_size: int | None = None,
) -> ContentInfo:
    """Encrypt `plain` with the patient's data key and store it atomically under `key`.

    Raises `ContentTooLargeError` as soon as the plaintext exceeds `max_size`; then nothing is
    stored (and an object already under `key` is kept).
    """
    sha1 = hashlib.sha1(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0

    def measured() -> Iterator[bytes]:
        nonlocal size
        for piece in plain:
            size += len(piece)
            if max_size is not None and size > max_size:
                raise ContentTooLargeError(max_size)
            sha1.update(piece)
            sha256.update(piece)
            yield piece

    stored = store.put(key, encrypt_chunks(measured(), dek=dek, aad=_content_aad(key, aad)))
    return ContentInfo(
        size=size, sha1=sha1.hexdigest(), sha256=sha256.hexdigest(), stored_size=stored
    )


def read_decrypted(
    store: ContentStore, key: str, *, dek: bytes, aad: bytes = b""
) -> Iterator[bytes]:
    """Stream the plaintext of `key`; `ObjectNotFoundError` at once if it is missing.

    Raises `ContentIntegrityError` while iterating if the object was altered or cut short.
    """
    sealed = store.open(key)
    return _closing(decrypt_chunks(sealed, dek=dek, aad=_content_aad(key, aad)), sealed)


def _closing(plain: Iterator[bytes], source: Iterator[bytes]) -> Iterator[bytes]:
    # Closing the plaintext stream early (a client that disconnects) must release the file or
    # HTTP connection behind it at once, not when the garbage collector gets to it.
    try:
        yield from plain
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
