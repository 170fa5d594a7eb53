"""Encryption of document content: data-key wrapping and the chunked AES-256-GCM stream."""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Iterator
from typing import cast

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import given, settings
from hypothesis import strategies as st

from carnet.documents.crypto import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    ContentIntegrityError,
    KeyRing,
    UnknownKeyEncryptionKeyError,
    decrypt_chunks,
    encrypt_chunks,
    generate_data_key,
    parse_key_encryption_keys,
    rewrap_data_key,
    unwrap_data_key,
    wrap_data_key,
    wrapped_key_id,
)

AAD = b"patient-1/document-1"
SMALL_CHUNK = 64


def seal(plain: bytes, dek: bytes, *, aad: bytes = AAD, chunk_size: int = SMALL_CHUNK) -> bytes:
    return b"".join(encrypt_chunks([plain], dek=dek, aad=aad, chunk_size=chunk_size))


def unseal(sealed: bytes, dek: bytes, *, aad: bytes = AAD) -> bytes:
    return b"".join(decrypt_chunks([sealed], dek=dek, aad=aad))


def split_sealed(sealed: bytes, chunk_size: int = SMALL_CHUNK) -> tuple[bytes, list[bytes]]:
    """The header and the sealed chunks of an object, as they lie in the stream."""
    step = chunk_size + TAG_SIZE
    body = sealed[HEADER_SIZE:]
    return sealed[:HEADER_SIZE], [body[i : i + step] for i in range(0, len(body), step)]


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets (sorted, deduplicated), including empty pieces."""
    bounds = [0, *sorted(min(cut, len(data)) for cut in cuts), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


# --- Data keys --------------------------------------------------------------------------------


def test_generate_data_key_returns_distinct_32_byte_keys():
    keys = {generate_data_key() for _ in range(20)}

    assert len(keys) == 20
    assert all(len(key) == 32 for key in keys)


def test_wrapped_key_unwraps_for_its_patient_and_names_its_kek():
    dek, kek = generate_data_key(), generate_data_key()

    blob = wrap_data_key(dek, kek=kek, kek_id="k1", patient_id="patient-1")

    assert dek not in blob
    assert wrapped_key_id(blob) == "k1"
    assert unwrap_data_key(blob, keks={"k1": kek}, patient_id="patient-1") == dek


def test_wrapped_key_does_not_unwrap_for_another_patient():
    kek = generate_data_key()
    blob = wrap_data_key(generate_data_key(), kek=kek, kek_id="k1", patient_id="patient-1")

    with pytest.raises(ContentIntegrityError):
        unwrap_data_key(blob, keks={"k1": kek}, patient_id="patient-2")


def test_wrapped_key_does_not_unwrap_with_another_kek_under_the_same_id():
    blob = wrap_data_key(
        generate_data_key(), kek=generate_data_key(), kek_id="k1", patient_id="patient-1"
    )

    with pytest.raises(ContentIntegrityError):
        unwrap_data_key(blob, keks={"k1": generate_data_key()}, patient_id="patient-1")


@pytest.mark.parametrize("position", [0, 5, 6, 9, 20, -1])
def test_tampered_wrapped_key_is_rejected(position):
    kek = generate_data_key()
    blob = bytearray(wrap_data_key(generate_data_key(), kek=kek, kek_id="k1", patient_id="p"))
    blob[position] ^= 0x01

    # A flipped byte in the KEK id may rename it to an unknown KEK; any other is an integrity error.
    with pytest.raises((ContentIntegrityError, UnknownKeyEncryptionKeyError)):
        unwrap_data_key(bytes(blob), keks={"k1": kek}, patient_id="p")


def test_kek_id_in_a_wrapped_key_is_authenticated():
    # Given two KEKs equal in value, relabelling a blob from k1 to k2 must still fail.
    kek = generate_data_key()
    blob = wrap_data_key(generate_data_key(), kek=kek, kek_id="k1", patient_id="p")
    relabelled = blob.replace(b"k1", b"k2", 1)

    with pytest.raises(ContentIntegrityError):
        unwrap_data_key(relabelled, keks={"k1": kek, "k2": kek}, patient_id="p")


def test_truncated_or_foreign_wrapped_key_is_rejected():
    kek = generate_data_key()
    blob = wrap_data_key(generate_data_key(), kek=kek, kek_id="k1", patient_id="p")

    for damaged in (blob[:-1], blob + b"\x00", b"", b"CDEK", b"XXXX" + blob[4:]):
        with pytest.raises(ContentIntegrityError):
            unwrap_data_key(damaged, keks={"k1": kek}, patient_id="p")


def test_kek_rotation_keeps_old_keys_readable_and_rewraps_them():
    k1, k2 = generate_data_key(), generate_data_key()
    dek = generate_data_key()
    old_blob = wrap_data_key(dek, kek=k1, kek_id="k1", patient_id="patient-1")

    # Both KEKs configured: the old blob still unwraps.
    assert unwrap_data_key(old_blob, keks={"k1": k1, "k2": k2}, patient_id="patient-1") == dek

    new_blob = rewrap_data_key(
        old_blob, keks={"k1": k1, "k2": k2}, kek_id="k2", patient_id="patient-1"
    )

    assert wrapped_key_id(new_blob) == "k2"
    # Once k1 is retired, only the rewrapped blob unwraps.
    assert unwrap_data_key(new_blob, keks={"k2": k2}, patient_id="patient-1") == dek
    with pytest.raises(UnknownKeyEncryptionKeyError, match="'k1'") as raised:
        unwrap_data_key(old_blob, keks={"k2": k2}, patient_id="patient-1")
    assert raised.value.kek_id == "k1"


def test_key_ring_wraps_with_current_kek_and_reports_keys_to_rotate():
    k1, k2 = generate_data_key(), generate_data_key()
    old_blob = KeyRing("k1", {"k1": k1}).wrap(b"d" * 32, patient_id="p")
    ring = KeyRing("k2", {"k1": k1, "k2": k2})

    assert ring.needs_rewrap(old_blob)
    rotated = ring.rewrap(old_blob, patient_id="p")
    assert not ring.needs_rewrap(rotated)
    assert ring.unwrap(rotated, patient_id="p") == b"d" * 32
    assert ring.unwrap(ring.wrap(b"e" * 32, patient_id="p"), patient_id="p") == b"e" * 32
    assert base64.b64encode(k1).decode() not in repr(ring)


def test_key_ring_refuses_a_current_id_that_is_not_configured():
    with pytest.raises(ValueError, match="k3"):
        KeyRing("k3", {"k1": generate_data_key()})


def test_key_ring_from_settings(settings):
    k1, k2 = generate_data_key(), generate_data_key()
    settings.CARNET_CONTENT_KEKS = (
        f"k1:{base64.b64encode(k1).decode()}, k2:{base64.b64encode(k2).decode()}"
    )
    settings.CARNET_CONTENT_KEK_ID = "k2"

    ring = KeyRing.from_settings()

    assert ring.current_id == "k2"
    assert dict(ring.keys) == {"k1": k1, "k2": k2}


def test_key_ring_from_settings_fails_loudly_without_keys(settings):
    settings.CARNET_CONTENT_KEKS = ""

    with pytest.raises(ImproperlyConfigured, match="CARNET_CONTENT_KEKS"):
        KeyRing.from_settings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one"),
        ("k1", "entry 1"),
        ("k 1:AAAA", "entry 1"),
        ("k1:not-base64!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        ("k1:{key},k1:{key}", "twice"),
    ],
)
def test_parse_key_encryption_keys_rejects_bad_configuration(text, message):
    key = base64.b64encode(b"k" * 32).decode()

    with pytest.raises(ValueError, match=message) as raised:
        parse_key_encryption_keys(text.format(key=key))
    assert key not in str(raised.value)


def test_wrap_rejects_keys_of_the_wrong_size_and_bad_kek_ids():
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_data_key(b"short", kek=generate_data_key(), kek_id="k1", patient_id="p")
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_data_key(generate_data_key(), kek=b"short", kek_id="k1", patient_id="p")
    with pytest.raises(ValueError, match="KEK id"):
        wrap_data_key(generate_data_key(), kek=generate_data_key(), kek_id="k/1", patient_id="p")


# --- Content stream ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        100,
        DEFAULT_CHUNK_SIZE - 1,
        DEFAULT_CHUNK_SIZE,
        DEFAULT_CHUNK_SIZE + 1,
        3 * DEFAULT_CHUNK_SIZE,
        5 * 1024 * 1024 + 7,
    ],
)
def test_round_trip_with_default_chunks(size):
    dek = generate_data_key()
    plain = os.urandom(size)

    sealed = list(encrypt_chunks([plain], dek=dek, aad=AAD))

    chunks = max(1, -(-size // DEFAULT_CHUNK_SIZE))
    assert len(sealed) == 1 + chunks
    assert len(b"".join(sealed)) == HEADER_SIZE + size + chunks * TAG_SIZE
    assert b"".join(decrypt_chunks(sealed, dek=dek, aad=AAD)) == plain


def test_exact_multiple_of_the_chunk_size_has_no_empty_trailing_chunk():
    dek = generate_data_key()

    _, chunks = split_sealed(seal(b"x" * (4 * SMALL_CHUNK), dek))

    assert [len(chunk) for chunk in chunks] == [SMALL_CHUNK + TAG_SIZE] * 4


def test_empty_content_is_one_authenticated_empty_chunk():
    dek = generate_data_key()

    sealed = seal(b"", dek)

    assert len(sealed) == HEADER_SIZE + TAG_SIZE
    assert unseal(sealed, dek) == b""
    with pytest.raises(ContentIntegrityError):
        unseal(sealed[:HEADER_SIZE], dek)


def test_same_content_encrypts_differently_each_time():
    dek = generate_data_key()

    assert seal(b"same content", dek) != seal(b"same content", dek)


@settings(max_examples=150, deadline=None)
@given(
    plain=st.binary(max_size=2000),
    chunk_size=st.integers(min_value=64, max_value=300),
    write_cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
    read_cuts=st.lists(st.integers(min_value=0, max_value=2600), max_size=12),
)
def test_round_trip_with_arbitrary_piece_sizes(plain, chunk_size, write_cuts, read_cuts):
    dek = generate_data_key()

    sealed = b"".join(
        encrypt_chunks(pieces(plain, write_cuts), dek=dek, aad=AAD, chunk_size=chunk_size)
    )
    # The sealed form depends only on the plaintext, not on how it was cut.
    assert len(sealed) == HEADER_SIZE + len(plain) + TAG_SIZE * max(1, -(-len(plain) // chunk_size))

    assert b"".join(decrypt_chunks(pieces(sealed, read_cuts), dek=dek, aad=AAD)) == plain


def test_input_pieces_may_be_bytearrays_and_memoryviews():
    dek = generate_data_key()
    plain = os.urandom(1000)

    sealed = list(
        encrypt_chunks(
            cast("list[bytes]", [bytearray(plain[:300]), memoryview(plain)[300:700], plain[700:]]),
            dek=dek,
            aad=AAD,
            chunk_size=SMALL_CHUNK,
        )
    )

    assert unseal(b"".join(sealed), dek) == plain


def test_decryption_yields_authenticated_chunks_as_it_goes():
    # Given a long object, the reader must produce plaintext before it has the whole stream.
    dek = generate_data_key()
    sealed = seal(os.urandom(10 * SMALL_CHUNK), dek)
    consumed = 0

    def feed() -> Iterator[bytes]:
        nonlocal consumed
        for byte in range(len(sealed)):
            consumed += 1
            yield sealed[byte : byte + 1]

    first = next(decrypt_chunks(feed(), dek=dek, aad=AAD))

    assert len(first) == SMALL_CHUNK
    assert consumed < len(sealed) // 2


@pytest.mark.parametrize(
    "offset",
    [
        0,  # magic
        4,  # version
        7,  # chunk size
        12,  # salt
        HEADER_SIZE - 1,  # nonce prefix
        HEADER_SIZE,  # first chunk ciphertext
        HEADER_SIZE + SMALL_CHUNK + 3,  # first chunk tag
        HEADER_SIZE + 2 * (SMALL_CHUNK + TAG_SIZE) + 1,  # middle chunk
        -1,  # last chunk tag
    ],
)
def test_any_flipped_bit_is_detected(offset):
    dek = generate_data_key()
    sealed = bytearray(seal(os.urandom(5 * SMALL_CHUNK + 10), dek))
    sealed[offset] ^= 0x80

    with pytest.raises(ContentIntegrityError):
        unseal(bytes(sealed), dek)


def test_dropping_the_last_chunk_is_detected():
    dek = generate_data_key()
    header, chunks = split_sealed(seal(os.urandom(4 * SMALL_CHUNK), dek))

    with pytest.raises(ContentIntegrityError) as raised:
        unseal(header + b"".join(chunks[:-1]), dek)
    assert raised.value.reason == "last chunk failed authentication"


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0, max_value=HEADER_SIZE + 3 * (SMALL_CHUNK + TAG_SIZE) + 9))
def test_truncation_anywhere_is_detected(cut):
    dek = generate_data_key()
    sealed = seal(os.urandom(3 * SMALL_CHUNK + 10), dek)

    with pytest.raises(ContentIntegrityError):
        unseal(sealed[:cut], dek)


def test_trailing_data_is_detected():
    dek = generate_data_key()
    sealed = seal(os.urandom(2 * SMALL_CHUNK), dek)
    _, extra = split_sealed(seal(os.urandom(SMALL_CHUNK), dek))

    for tail in (b"\x00", extra[0], sealed[HEADER_SIZE:]):
        with pytest.raises(ContentIntegrityError):
            unseal(sealed + tail, dek)


def test_reordered_chunks_are_detected():
    dek = generate_data_key()
    header, chunks = split_sealed(seal(os.urandom(4 * SMALL_CHUNK), dek))
    chunks[0], chunks[1] = chunks[1], chunks[0]

    with pytest.raises(ContentIntegrityError) as raised:
        unseal(header + b"".join(chunks), dek)
    assert raised.value.reason == "chunk 0 failed authentication"


def test_duplicated_chunk_is_detected():
    dek = generate_data_key()
    header, chunks = split_sealed(seal(os.urandom(4 * SMALL_CHUNK), dek))

    with pytest.raises(ContentIntegrityError):
        unseal(header + b"".join([chunks[0], *chunks]), dek)


def test_chunks_swapped_between_objects_are_detected():
    # Same patient key and even the same associated data: each object still has its own key.
    dek = generate_data_key()
    header_a, chunks_a = split_sealed(seal(os.urandom(3 * SMALL_CHUNK), dek))
    header_b, chunks_b = split_sealed(seal(os.urandom(3 * SMALL_CHUNK), dek))

    with pytest.raises(ContentIntegrityError):
        unseal(header_a + b"".join([chunks_a[0], chunks_b[1], chunks_a[2]]), dek)
    with pytest.raises(ContentIntegrityError):
        unseal(header_b + b"".join(chunks_a), dek)


def test_wrong_associated_data_is_detected():
    dek = generate_data_key()
    sealed = seal(b"compte rendu", dek, aad=b"patient-1/document-1")

    with pytest.raises(ContentIntegrityError):
        unseal(sealed, dek, aad=b"patient-1/document-2")
    with pytest.raises(ContentIntegrityError):
        unseal(sealed, dek, aad=b"")


def test_wrong_key_is_detected():
    sealed = seal(b"compte rendu", generate_data_key())

    with pytest.raises(ContentIntegrityError) as raised:
        unseal(sealed, generate_data_key())
    # What a user may see is in French and says nothing of keys' bytes.
    assert "illisible" in str(raised.value)


def test_header_announcing_a_huge_chunk_is_refused_before_buffering():
    dek = generate_data_key()
    sealed = bytearray(seal(b"x" * 10, dek))
    sealed[5:9] = (1 << 31).to_bytes(4, "big")

    with pytest.raises(ContentIntegrityError) as raised:
        unseal(bytes(sealed), dek)
    assert raised.value.reason == "header announces an invalid chunk size"


def test_foreign_data_is_not_taken_for_an_object():
    dek = generate_data_key()

    with pytest.raises(ContentIntegrityError) as raised:
        unseal(b"%PDF-1.7\n" + b"\x00" * 100, dek)
    assert raised.value.reason == "not an encrypted Carnet object"


def test_destroying_the_data_key_leaves_the_content_unreadable():
    # Given a document sealed under a patient's data key, wrapped by the configured KEK…
    kek = generate_data_key()
    dek = generate_data_key()
    wrapped = wrap_data_key(dek, kek=kek, kek_id="k1", patient_id="patient-1")
    sealed = seal(b"Compte rendu d'hospitalisation", dek)
    # …when the space is closed, the wrapped key and the key in memory are discarded.
    del wrapped, dek

    # Then neither a new key for the same patient nor the KEK itself opens the copy left.
    new_dek = generate_data_key()
    for key in (new_dek, kek):
        with pytest.raises(ContentIntegrityError):
            unseal(sealed, key)


def test_encrypt_rejects_bad_parameters():
    with pytest.raises(ValueError, match="chunk_size"):
        list(encrypt_chunks([b"x"], dek=generate_data_key(), aad=AAD, chunk_size=16))
    with pytest.raises(ValueError, match="32 bytes"):
        list(encrypt_chunks([b"x"], dek=b"short", aad=AAD))
    with pytest.raises(ValueError, match="32 bytes"):
        list(decrypt_chunks([b"x"], dek=b"short", aad=AAD))
