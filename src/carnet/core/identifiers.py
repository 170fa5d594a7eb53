"""Identifiers read from URLs, forms and references: untrusted text, parsed in one place."""

from __future__ import annotations

import uuid


def parse_uuid(value: object) -> uuid.UUID | None:
    """The UUID written in `value`, or None when it is not one (a malformed id is treated as
    a missing row by the callers, never as an error that would reveal anything)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        return None
