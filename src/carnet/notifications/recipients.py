"""Where a space's e-mails go: the holder's personal address, and the legal representatives'.

Read-only lookups in identity's tables, done by the system on behalf of a service that already
went through the access gate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from carnet.core import clock
from carnet.identity import services as identity

HOLDER = "holder"
REPRESENTATIVE = "representative"


@dataclass(frozen=True)
class Recipient:
    address: str
    role: str  # HOLDER or REPRESENTATIVE


def email_recipients(
    patient_id: uuid.UUID | str, *, include_representatives: bool = True
) -> list[Recipient]:
    """The holder's address (contact e-mail, else the login's), then each current representative's.

    A minor's space usually has no address of its own: its e-mails go to the representatives.
    Addresses are deduplicated case-insensitively; an inactive login receives nothing.
    """
    holder = identity.holder_with_login(patient_id)
    if holder is None:
        return []
    found: list[Recipient] = []
    own = holder.contact_email or (
        holder.user.email if holder.user and holder.user.is_active else ""
    )
    if own:
        found.append(Recipient(own, HOLDER))
    if include_representatives:
        for representation in identity.current_representations(patient_id, clock.today()):
            user = representation.representative
            own_space = getattr(user, "holder", None)
            address = (own_space.contact_email if own_space else "") or user.email
            found.append(Recipient(address, REPRESENTATIVE))
    unique: dict[str, Recipient] = {}
    for recipient in found:
        unique.setdefault(recipient.address.strip().lower(), recipient)
    return list(unique.values())


def space_first_name(patient_id: uuid.UUID | str) -> str:
    """The first name the e-mails to representatives use to say whose space it is about."""
    holder = identity.holder_or_none(patient_id)
    return holder.first_given_name if holder else ""
