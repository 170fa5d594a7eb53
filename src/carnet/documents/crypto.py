"""Encryption of document content at rest.

Two layers, both AES-256-GCM:

* **Data keys.** Each patient has a 32-byte data key (DEK). It is stored only wrapped by a
  key-encryption key (KEK) from the configuration. The wrapped blob names its KEK, so KEKs can be
  rotated: old blobs keep unwrapping while any KEK they name is configured, and `rewrap_data_key`
  moves them to the current one. The patient id is bound as associated data, so a wrapped key
  copied onto another patient does not unwrap. Destroying the wrapped blob (closing a space)
  makes every object encrypted under that DEK unreadable, whatever copies of the objects remain.

* **Content.** An object is a 32-byte header followed by chunks sealed one by one, after the STREAM
  construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015) as Tink's AES-GCM-HKDF streaming AEAD
  uses it: a per-object key is derived from the DEK and a random salt, each chunk's nonce is
  ``nonce_prefix (7) || counter (4) || last flag (1)``, and every chunk authenticates the header and
  the caller's associated data. Truncation, reordering, chunks moved between objects, a changed
  header and any flipped bit all fail authentication. Memory stays at about two chunks whatever
  the object size.

  A reader receives each chunk's plaintext only once that chunk is authenticated, but a truncated
  stream is detected only at its end: a consumer that streams to a client must treat an error
  raised mid-stream as a failed transfer.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DATA_KEY_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "HEADER_SIZE",
    "TAG_SIZE",
    "ContentIntegrityError",
    "KeyRing",
    "UnknownKeyEncryptionKeyError",
    "decrypt_chunks",
    "encrypt_chunks",
    "generate_data_key",
    "parse_key_encryption_keys",
    "rewrap_data_key",
    "unwrap_data_key",
    "wrap_data_key",
    "wrapped_key_id",
]

DATA_KEY_SIZE = 32
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 64 * 1024
# Bounds on the chunk size a header may announce: a hostile header must not make the reader
# buffer an arbitrary amount before the first authentication check.
MIN_CHUNK_SIZE = 64
MAX_CHUNK_SIZE = 4 * 1024 * 1024

_CONTENT_MAGIC = b"CRNT"
_CONTENT_VERSION = 1
_SALT_SIZE = 16
_NONCE_PREFIX_SIZE = 7
_HEADER = struct.Struct(f">4sBI{_SALT_SIZE}s{_NONCE_PREFIX_SIZE}s")
HEADER_SIZE = _HEADER.size
_MAX_CHUNKS = 2**32
_HKDF_INFO = b"carnet/content/v1"

_WRAP_MAGIC = b"CDEK"
_WRAP_VERSION = 1
_WRAP_NONCE_SIZE = 12
_WRAP_AAD_LABEL = b"carnet/data-key/v1\x00"
_KEK_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class ContentIntegrityError(Exception):
    """Encrypted data failed authentication: altered, truncated, reordered or the wrong key.

    `str()` is the French message a user may see; `reason` is the technical detail for logs.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(
            "Le contenu du document est illisible : il a été altéré ou sa clé a changé."
        )
        self.reason = reason


class UnknownKeyEncryptionKeyError(LookupError):
    """A wrapped data key names a KEK that the configuration does not hold."""

    def __init__(self, kek_id: str) -> None:
        super().__init__(
            f"key-encryption key {kek_id!r} is not configured; "
            "keep retired KEKs configured until every data key has been rewrapped"
        )
        self.kek_id = kek_id


def generate_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return os.urandom(DATA_KEY_SIZE)


def _check_key(key: bytes, what: str) -> None:
    if not isinstance(key, bytes) or len(key) != DATA_KEY_SIZE:
        raise ValueError(f"{what} must be {DATA_KEY_SIZE} bytes")


def _check_kek_id(kek_id: str) -> None:
    if not _KEK_ID.fullmatch(kek_id):
        raise ValueError("a KEK id is 1 to 64 characters among A-Z a-z 0-9 . _ -")


def _wrap_header(kek_id: str) -> bytes:
    encoded = kek_id.encode("ascii")
    return _WRAP_MAGIC + bytes([_WRAP_VERSION, len(encoded)]) + encoded


def _wrap_aad(header: bytes, patient_id: str) -> bytes:
    return _WRAP_AAD_LABEL + header + b"\x00" + patient_id.encode("utf-8")


def wrap_data_key(dek: bytes, *, kek: bytes, kek_id: str, patient_id: str) -> bytes:
    """Seal `dek` under `kek` for `patient_id`; the result names `kek_id` and is safe to store."""
    _check_key(dek, "a data key")
    _check_key(kek, "a key-encryption key")
    _check_kek_id(kek_id)
    header = _wrap_header(kek_id)
    nonce = os.urandom(_WRAP_NONCE_SIZE)
    sealed = AESGCM(kek).encrypt(nonce, dek, _wrap_aad(header, patient_id))
    return header + nonce + sealed


def _parse_wrapped(blob: bytes) -> tuple[str, bytes, bytes, bytes]:
    """Split a wrapped key into (kek id, header, nonce, sealed key), checking its framing."""
    fixed = len(_WRAP_MAGIC) + 2
    if len(blob) < fixed or blob[: len(_WRAP_MAGIC)] != _WRAP_MAGIC:
        raise ContentIntegrityError("not a wrapped data key")
    version, id_length = blob[len(_WRAP_MAGIC)], blob[len(_WRAP_MAGIC) + 1]
    if version != _WRAP_VERSION:
        raise ContentIntegrityError(f"unsupported wrapped key version {version}")
    header = blob[: fixed + id_length]
    expected = len(header) + _WRAP_NONCE_SIZE + DATA_KEY_SIZE + TAG_SIZE
    if len(blob) != expected:
        raise ContentIntegrityError("wrapped data key has the wrong length")
    try:
        kek_id = header[fixed:].decode("ascii")
    except UnicodeDecodeError:
        raise ContentIntegrityError("wrapped data key names an invalid KEK id") from None
    if not _KEK_ID.fullmatch(kek_id):
        raise ContentIntegrityError("wrapped data key names an invalid KEK id")
    nonce = blob[len(header) : len(header) + _WRAP_NONCE_SIZE]
    return kek_id, header, nonce, blob[len(header) + _WRAP_NONCE_SIZE :]


def wrapped_key_id(blob: bytes) -> str:
    """The id of the KEK a wrapped key was sealed with (to find keys left to rotate)."""
    return _parse_wrapped(blob)[0]


def unwrap_data_key(blob: bytes, *, keks: Mapping[str, bytes], patient_id: str) -> bytes:
    """Recover a data key sealed by `wrap_data_key` with any of the configured `keks`.

    Raises `UnknownKeyEncryptionKeyError` when the blob names a KEK absent from `keks`, and
    `ContentIntegrityError` when the blob is damaged or belongs to another patient.
    """
    kek_id, header, nonce, sealed = _parse_wrapped(blob)
    kek = keks.get(kek_id)
    if kek is None:
        raise UnknownKeyEncryptionKeyError(kek_id)
    _check_key(kek, f"key-encryption key {kek_id!r}")
    try:
        return AESGCM(kek).decrypt(nonce, sealed, _wrap_aad(header, patient_id))
    except InvalidTag:
        raise ContentIntegrityError("wrapped data key failed authentication") from None


def rewrap_data_key(
    blob: bytes, *, keks: Mapping[str, bytes], kek_id: str, patient_id: str
) -> bytes:
    """Re-seal a wrapped data key under the KEK `kek_id` (KEK rotation); content is untouched."""
    dek = unwrap_data_key(blob, keks=keks, patient_id=patient_id)
    if kek_id not in keks:
        raise UnknownKeyEncryptionKeyError(kek_id)
    return wrap_data_key(dek, kek=keks[kek_id], kek_id=kek_id, patient_id=patient_id)


def parse_key_encryption_keys(text: str) -> dict[str, bytes]:
    """Parse the configuration form ``id1:base64key,id2:base64key`` into a KEK mapping.

    Meant for settings (`CARNET_CONTENT_KEKS`); errors name the entry but never echo a key.
    """
    keks: dict[str, bytes] = {}
    for position, entry in enumerate(filter(None, (part.strip() for part in text.split(",")))):
        kek_id, separator, encoded = entry.partition(":")
        kek_id = kek_id.strip()
        if not separator or not _KEK_ID.fullmatch(kek_id):
            raise ValueError(f"KEK entry {position + 1} must read '<id>:<base64 key>'")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise ValueError(f"KEK {kek_id!r} is not valid base64") from None
        if len(key) != DATA_KEY_SIZE:
            raise ValueError(f"KEK {kek_id!r} must decode to {DATA_KEY_SIZE} bytes")
        if kek_id in keks:
            raise ValueError(f"KEK {kek_id!r} is listed twice")
        keks[kek_id] = key
    if not keks:
        raise ValueError("at least one KEK must be configured")
    return keks


@dataclass(frozen=True)
class KeyRing:
    """The configured KEKs and the id of the one new data keys are wrapped with."""

    current_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current_id not in self.keys:
            raise ValueError(
                f"the current KEK {self.current_id!r} is not among the configured KEKs"
            )

    def __repr__(self) -> str:
        return f"KeyRing(current_id={self.current_id!r}, ids={sorted(self.keys)!r})"

    def wrap(self, dek: bytes, *, patient_id: str) -> bytes:
        kek = self.keys[self.current_id]
        return wrap_data_key(dek, kek=kek, kek_id=self.current_id, patient_id=patient_id)

    def unwrap(self, blob: bytes, *, patient_id: str) -> bytes:
        return unwrap_data_key(blob, keks=self.keys, patient_id=patient_id)

    def needs_rewrap(self, blob: bytes) -> bool:
        return wrapped_key_id(blob) != self.current_id

    def rewrap(self, blob: bytes, *, patient_id: str) -> bytes:
        return rewrap_data_key(blob, keks=self.keys, kek_id=self.current_id, patient_id=patient_id)

    @classmethod
    def from_settings(cls) -> KeyRing:
        """Read ``CARNET_CONTENT_KEKS`` (``id:base64,...``) and ``CARNET_CONTENT_KEK_ID``.

        The current id defaults to the first KEK listed.
        """
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        text = getattr(settings, "CARNET_CONTENT_KEKS", "")
        if not text:
            raise ImproperlyConfigured("CARNET_CONTENT_KEKS must list the content KEKs")
        try:
            keys = parse_key_encryption_keys(text)
            return cls(getattr(settings, "CARNET_CONTENT_KEK_ID", "") or next(iter(keys)), keys)
        except ValueError as error:
            raise ImproperlyConfigured(f"CARNET_CONTENT_KEKS: {error}") from None


def _object_cipher(dek: bytes, salt: bytes) -> AESGCM:
    # A key per object keeps the number of GCM invocations per key small and makes nonce reuse
    # across objects of one patient impossible, whatever the nonce prefix draws.
    _check_key(dek, "a data key")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=DATA_KEY_SIZE, salt=salt, info=_HKDF_INFO)
    return AESGCM(hkdf.derive(dek))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= _MAX_CHUNKS:
        raise ValueError("object too large for this chunk size")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def encrypt_chunks(
    plain: Iterable[bytes], *, dek: bytes, aad: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[bytes]:
    """Encrypt a stream of plaintext pieces of any size into header + sealed chunks.

    Yields the header, then one sealed chunk (`chunk_size` + 16 bytes, the last one shorter) per
    plaintext chunk. Holds at most two chunks plus the current input piece.
    """
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE}")
    salt = os.urandom(_SALT_SIZE)
    prefix = os.urandom(_NONCE_PREFIX_SIZE)
    header = _HEADER.pack(_CONTENT_MAGIC, _CONTENT_VERSION, chunk_size, salt, prefix)
    cipher = _object_cipher(dek, salt)
    chunk_aad = header + aad
    yield header

    counter = 0
    buffer = bytearray()
    # A full chunk waits here until more input proves it is not the last one.
    pending: bytes | None = None
    for piece in plain:
        view = memoryview(piece).cast("B")
        while view:
            if pending is not None:
                yield cipher.encrypt(_nonce(prefix, counter, False), pending, chunk_aad)
                counter += 1
                pending = None
            take = chunk_size - len(buffer)
            buffer += view[:take]
            view = view[take:]
            if len(buffer) == chunk_size:
                pending = bytes(buffer)
                buffer.clear()
    if pending is not None:
        if buffer:
            yield cipher.encrypt(_nonce(prefix, counter, False), pending, chunk_aad)
            counter += 1
            pending = bytes(buffer)
        yield cipher.encrypt(_nonce(prefix, counter, True), pending, chunk_aad)
    else:
        yield cipher.encrypt(_nonce(prefix, counter, True), bytes(buffer), chunk_aad)


def _open_chunk(
    cipher: AESGCM, data: bytes, *, prefix: bytes, counter: int, last: bool, aad: bytes
) -> bytes:
    try:
        return cipher.decrypt(_nonce(prefix, counter, last), data, aad)
    except InvalidTag:
        what = "last chunk" if last else f"chunk {counter}"
        raise ContentIntegrityError(f"{what} failed authentication") from None


def decrypt_chunks(sealed: Iterable[bytes], *, dek: bytes, aad: bytes) -> Iterator[bytes]:
    """Authenticate and decrypt a stream written by `encrypt_chunks`, in pieces of any size.

    Yields each chunk's plaintext once it is authenticated. Raises `ContentIntegrityError` on any
    alteration, on a stream cut short (even at a chunk boundary) and on trailing data.
    """
    _check_key(dek, "a data key")
    buffer = bytearray()
    cipher: AESGCM | None = None
    prefix = chunk_aad = b""
    sealed_size = counter = 0
    pending: bytes | None = None

    for piece in sealed:
        view = memoryview(piece).cast("B")
        while view:
            if cipher is None:
                take = HEADER_SIZE - len(buffer)
                buffer += view[:take]
                view = view[take:]
                if len(buffer) < HEADER_SIZE:
                    continue
                magic, version, chunk_size, salt, prefix = _HEADER.unpack(buffer)
                if magic != _CONTENT_MAGIC:
                    raise ContentIntegrityError("not an encrypted Carnet object")
                if version != _CONTENT_VERSION:
                    raise ContentIntegrityError(f"unsupported content version {version}")
                if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
                    raise ContentIntegrityError("header announces an invalid chunk size")
                chunk_aad = bytes(buffer) + aad
                sealed_size = chunk_size + TAG_SIZE
                cipher = _object_cipher(dek, salt)
                buffer.clear()
                continue
            if pending is not None:
                yield _open_chunk(
                    cipher, pending, prefix=prefix, counter=counter, last=False, aad=chunk_aad
                )
                counter += 1
                pending = None
            take = sealed_size - len(buffer)
            buffer += view[:take]
            view = view[take:]
            if len(buffer) == sealed_size:
                pending = bytes(buffer)
                buffer.clear()
    if cipher is None:
        raise ContentIntegrityError("stream ends inside the header")
    if pending is not None and buffer:
        yield _open_chunk(
            cipher, pending, prefix=prefix, counter=counter, last=False, aad=chunk_aad
        )
        counter += 1
        pending = None
    last = pending if pending is not None else bytes(buffer)
    if len(last) < TAG_SIZE:
        raise ContentIntegrityError("stream ends without its last chunk")
    yield _open_chunk(cipher, last, prefix=prefix, counter=counter, last=True, aad=chunk_aad)
