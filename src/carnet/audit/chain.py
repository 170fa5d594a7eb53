"""Hashing of audit rows: an HMAC-SHA256 over a canonical form of the row and the previous hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64

# The fields covered by the hash, in a fixed order; adding one requires a new chain version.
HASHED_FIELDS = (
    "chain",
    "seq",
    "patient_id",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "actor_profession",
    "actor_organisation",
    "action",
    "outcome",
    "reason",
    "mode",
    "resource_type",
    "resource_id",
    "details",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if value is None:
        return ""
    if isinstance(value, int | str | bool | list | dict):
        return value
    return str(value)


def row_hash(key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
    payload = {name: _canonical(fields[name]) for name in HASHED_FIELDS}
    message = json.dumps(
        [prev_hash, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()
