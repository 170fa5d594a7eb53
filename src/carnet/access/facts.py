"""Loads the facts the pure policy reads: the `policy.Relation` of an actor and a patient's space.

The gate calls `load_relation` for professionals and the system before deciding, so services
never build relations themselves and `policy.decide` stays free of I/O.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db.models import Exists, OuterRef, Q, Subquery

from carnet.access.actors import Actor, ActorKind
from carnet.access.models import Basis, Block, CareTeamMember, SpaceSettings
from carnet.access.policy import Relation
from carnet.audit import services as audit
from carnet.core.identifiers import parse_uuid
from carnet.core.prepared import PreparedQuery
from carnet.identity import services as identity

# When one professional holds several rights, the strongest names the basis.
_BASIS_ORDER = (Basis.MEDECIN_TRAITANT, Basis.AUTHORISED, Basis.DECLARED_CONSENT)


def _space_facts(patient: uuid.UUID, **professional: Any) -> Any:
    """The space's status and settings and, for a professional at `now`, whether they are
    blocked, whether they consulted it before and which rights they hold: one query."""
    settings = SpaceSettings.objects.filter(patient_id=OuterRef("pk"))
    facts: dict[str, Any] = {
        "rel_break_glass_opposed": Subquery(settings.values("break_glass_opposed")[:1]),
        "rel_centre_15_opposed": Subquery(settings.values("centre_15_opposed")[:1]),
        "rel_mask_all": Subquery(settings.values("mask_all")[:1]),
    }
    if professional:
        facts["rel_blocked"] = Exists(
            Block.objects.filter(
                patient_id=OuterRef("pk"),
                professional_id=professional["professional"],
                unblocked_at__isnull=True,
            )
        )
        facts["rel_consulted"] = Exists(
            audit.consultations(
                OuterRef("pk"),
                actor_kind=professional["actor_kind"],
                actor_id=professional["actor_id"],
            )
        )
        now = professional["now"]
        # The professional's rights that have started and were not removed by the holder...
        rights = CareTeamMember.objects.filter(
            patient_id=OuterRef("pk"),
            professional_id=professional["professional"],
            ended_at__isnull=True,
            started_at__lte=now,
        )
        facts["rel_had_right"] = Exists(rights)
        # ... and those still valid, by basis.
        valid = rights.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        facts["rel_extended_rights"] = Exists(valid.filter(extended_rights=True))
        for basis in _BASIS_ORDER:
            facts[f"rel_basis_{basis}"] = Exists(valid.filter(basis=basis))
    return identity.holder_rows(str(patient)).annotate(**facts).values("space_status", *facts)[:1]


# Every professional API call loads a relation: its query is compiled once (core.prepared).
_SPACE = PreparedQuery(_space_facts, names=["patient"], uuid_names=["patient"])
_SPACE_FOR_PROFESSIONAL = PreparedQuery(
    _space_facts,
    names=["patient", "professional", "actor_kind", "actor_id", "now"],
    uuid_names=["patient", "professional"],
    datetime_names=["now"],
)


def load_relation(actor: Actor, patient_id: str, *, now: dt.datetime) -> Relation | None:
    """The relation between `actor` and the space of `patient_id` at `now`, or None when there
    is no such space (or the actor is neither a professional nor the system).

    One query (compiled once) for a professional: the space with its settings, the block, the
    earlier consultation and the professional's rights folded in — every API call pays for it.
    """
    if actor.kind not in {ActorKind.PROFESSIONAL, ActorKind.SYSTEM}:
        return None
    if actor.kind is ActorKind.SYSTEM:
        space_open = identity.space_is_open(patient_id)
        return None if space_open is None else Relation(space_open=space_open)
    professional_id = parse_uuid(actor.id)
    if professional_id is None:
        row = _SPACE.first(patient=parse_uuid(patient_id))
    else:
        row = _SPACE_FOR_PROFESSIONAL.first(
            patient=parse_uuid(patient_id),
            professional=professional_id,
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            now=now,
        )
    if row is None:
        return None
    space_open = identity.is_open_status(row["space_status"])
    oppositions: dict[str, Any] = {
        "break_glass_opposed": bool(row["rel_break_glass_opposed"]),
        "centre_15_opposed": bool(row["rel_centre_15_opposed"]),
        "mask_all": bool(row["rel_mask_all"]),
    }
    if professional_id is None:
        return Relation(space_open=space_open, **oppositions)
    bases = [basis for basis in _BASIS_ORDER if row[f"rel_basis_{basis}"]]
    return Relation(
        space_open=space_open,
        blocked=bool(row["rel_blocked"]),
        medecin_traitant=Basis.MEDECIN_TRAITANT in bases,
        extended_rights=bool(row["rel_extended_rights"]),
        care_team=bool(bases),
        care_team_basis=str(bases[0]) if bases else "",
        # An expired right (not one the holder removed): the professional may be told to renew it.
        right_expired=not bases and bool(row["rel_had_right"]),
        first_access=not row["rel_consulted"],
        **oppositions,
    )
