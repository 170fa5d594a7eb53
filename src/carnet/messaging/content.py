"""Attachment content: encrypted with the patient's data key in the documents' content store.

The key handling belongs to the documents service (one data key per patient, destroyed when the
space closes, which also removes everything stored under `<patient>/`, attachments included).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from carnet.documents import services as documents
from carnet.documents.storage import (
    ContentInfo,
    content_store_from_settings,
    read_decrypted,
    write_encrypted,
)

_AAD_PREFIX = b"carnet-message-attachment-v1:"


def patient_data_key(patient_id: uuid.UUID) -> bytes:
    """The patient's data key (created on first use). Raises `documents.services.SpaceClosed`
    once the key was destroyed."""
    return documents.data_key(patient_id)


def content_key(patient_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    return f"{patient_id}/messages/{attachment_id}"


def _aad(attachment_id: uuid.UUID) -> bytes:
    return _AAD_PREFIX + str(attachment_id).encode()


def store(
    patient_id: uuid.UUID, attachment_id: uuid.UUID, data: bytes | Iterable[bytes]
) -> ContentInfo:
    chunks = [data] if isinstance(data, bytes) else data
    return write_encrypted(
        content_store_from_settings(),
        content_key(patient_id, attachment_id),
        chunks,
        dek=patient_data_key(patient_id),
        aad=_aad(attachment_id),
    )


def load(patient_id: uuid.UUID, attachment_id: uuid.UUID) -> bytes:
    return b"".join(
        read_decrypted(
            content_store_from_settings(),
            content_key(patient_id, attachment_id),
            dek=patient_data_key(patient_id),
            aad=_aad(attachment_id),
        )
    )


def discard(keys: Iterable[str]) -> None:
    """Best effort: an orphan object holds no metadata and nobody can find it."""
    store_ = content_store_from_settings()
    for key in keys:
        try:
            store_.delete(key)
        except Exception:  # noqa: S112
            continue
