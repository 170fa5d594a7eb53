"""Who acts: the facts about the actor that the policy reads. Built once per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ActorKind(StrEnum):
    HOLDER = "holder"  # a holder or a legal representative, in the portal
    PROFESSIONAL = "professional"  # a health professional (API or web)
    APP = "app"  # a catalogue application acting for a holder
    SYSTEM = "system"  # the insurer's feed, background jobs
    ANONYMOUS = "anonymous"


class PurposeOfUse(StrEnum):
    NORMAL = "normal"
    BREAK_GLASS = "bris_de_glace"
    CENTRE_15 = "centre_15"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: str
    label: str = ""
    # Spaces the actor holds (own) and represents (minors, wards).
    own_patient_ids: frozenset[str] = field(default_factory=frozenset)
    represented_patient_ids: frozenset[str] = field(default_factory=frozenset)
    # Professional facts (from the token or the web login).
    rpps: str = ""
    profession: str = ""
    specialty: str = ""
    pharmacist_section: str = ""
    organisation: str = ""
    organisation_name: str = ""
    purpose_of_use: PurposeOfUse = PurposeOfUse.NORMAL
    emergency_reason: str = ""
    # Where the request came from (portal, api, pro-web, system), for the trace.
    channel: str = ""

    @property
    def patient_ids(self) -> frozenset[str]:
        """Every space this actor may act on as its holder or representative."""
        return self.own_patient_ids | self.represented_patient_ids


ANONYMOUS = Actor(kind=ActorKind.ANONYMOUS, id="anonymous", label="anonyme")
