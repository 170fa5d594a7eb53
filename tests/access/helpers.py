"""Test data for the access tests: document rows written directly (the tests' own data), and
actors for the personas."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from typing import Any

from carnet.access.actors import Actor, PurposeOfUse
from carnet.core import clock
from carnet.documents.models import DocumentEntry
from carnet.identity.services import actor_for_professional, actor_for_user

_serial = itertools.count(1)


def document_entry(holder: Any, *, save: bool = True, **fields: Any) -> DocumentEntry:
    """A `DocumentEntry` of `holder` with plausible metadata; `fields` override any column."""
    serial = next(_serial)
    now = clock.now()
    digest = hashlib.sha256(f"document {serial}".encode()).hexdigest()
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "patient": holder,
        "unique_id": f"urn:oid:1.2.250.1.999.{serial}",
        "type_code": "11488-4",
        "type_system": "http://loinc.org",
        "type_display": "Compte rendu de consultation",
        "class_code": "10",
        "holder_category": "comptes-rendus",
        "dmp_space": "sante",
        "title": f"Compte rendu {serial}",
        "created_at_source": now,
        "format_code": "urn:ihe:iti:xds-sd:pdf:2008",
        "mime_type": "application/pdf",
        "size": 10,
        "sha1": digest[:40],
        "sha256": digest,
        "content_key": f"test/{serial}",
        "facility_type": "SA07",
        "practice_setting": "AMBULATOIRE",
        "depositor_kind": "professional",
        "depositor_id": "test",
        "deposited_at": now,
        "updated_at": now,
    }
    values.update(fields)
    entry = DocumentEntry(**values)
    if save:
        entry.save(force_insert=True)
    return entry


def holder_actor(holder_or_user: Any) -> Actor:
    user = getattr(holder_or_user, "user", holder_or_user)
    return actor_for_user(user)


def pro_actor(
    professional: Any, purpose: PurposeOfUse = PurposeOfUse.NORMAL, reason: str = ""
) -> Actor:
    return actor_for_professional(
        professional, channel="api", purpose=purpose, emergency_reason=reason
    )
