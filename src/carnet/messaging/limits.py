"""Size and shape limits applied to inbound mail and to the IHE_XDM.ZIP archives it carries.

The per-message and per-attachment sizes are product decisions (10 MB per attachment, 20 MB per
message; see docs/standards/mssante-xdm.md). The other numbers bound the work a hostile sender can
make us do; they are far above anything a professional's software sends (an XDM usually holds
one to a few documents).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024

MAX_MESSAGE_BYTES = 20 * MIB
MAX_ATTACHMENT_BYTES = 10 * MIB


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """Limits on the MIME structure of a message; sizes are keyword arguments of parse_message."""

    max_parts: int = 200
    max_depth: int = 20


@dataclass(frozen=True, slots=True)
class XdmLimits:
    """Limits on one IHE_XDM.ZIP archive, checked before and while reading it (never on disk)."""

    # The archive itself is an attachment: it cannot exceed the attachment limit.
    max_zip_bytes: int = MAX_ATTACHMENT_BYTES
    max_entries: int = 500
    # Uncompressed sizes are measured on the bytes actually inflated, not on the declared sizes.
    max_entry_bytes: int = 20 * MIB
    max_total_bytes: int = 50 * MIB
    # Deflated XML reaches 10-20:1; zip bombs reach 1000:1 and more. Small entries are exempt
    # because a few kilobytes of repetitive text legitimately compress very well.
    max_ratio: int = 100
    ratio_exempt_bytes: int = 1 * MIB
    max_metadata_bytes: int = 5 * MIB
    max_metadata_elements: int = 200_000
    max_metadata_depth: int = 64
    max_subsets: int = 50
    max_documents: int = 200


DEFAULT_MESSAGE_LIMITS = MessageLimits()
DEFAULT_XDM_LIMITS = XdmLimits()
