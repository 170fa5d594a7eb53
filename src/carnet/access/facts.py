"""Loads the facts the pure policy reads: the `policy.Relation` of an actor and a patient's space.

The gate calls `load_relation` for professionals and the system before deciding, so services
never build relations themselves and `policy.decide` stays free of I/O.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from carnet.access.actors import Actor, ActorKind
from carnet.access.models import Basis, Block, CareTeamMember, SpaceSettings
from carnet.access.policy import Relation
from carnet.audit import services as audit
from carnet.identity import services as identity

# When one professional holds several rights, the strongest names the basis.
_BASIS_ORDER = (Basis.MEDECIN_TRAITANT, Basis.AUTHORISED, Basis.DECLARED_CONSENT)


def load_relation(actor: Actor, patient_id: str, *, now: dt.datetime) -> Relation | None:
    """The relation between `actor` and the space of `patient_id` at `now`, or None when there
    is no such space (or the actor is neither a professional nor the system)."""
    if actor.kind not in {ActorKind.PROFESSIONAL, ActorKind.SYSTEM}:
        return None
    space_open = identity.space_is_open(patient_id)
    if space_open is None:
        return None
    if actor.kind is ActorKind.SYSTEM:
        return Relation(space_open=space_open)
    patient_key = uuid.UUID(patient_id)  # an existing holder's key: well formed
    settings = SpaceSettings.objects.filter(patient_id=patient_key).first()
    oppositions: dict[str, Any] = {
        "break_glass_opposed": bool(settings and settings.break_glass_opposed),
        "centre_15_opposed": bool(settings and settings.centre_15_opposed),
        "mask_all": bool(settings and settings.mask_all),
    }
    professional_id = _uuid(actor.id)
    if professional_id is None:
        return Relation(space_open=space_open, **oppositions)
    rights = list(
        CareTeamMember.objects.filter(
            patient_id=patient_key,
            professional_id=professional_id,
            ended_at__isnull=True,
            started_at__lte=now,
        )
    )
    valid = [r for r in rights if r.expires_at is None or r.expires_at > now]
    bases = {r.basis for r in valid}
    return Relation(
        space_open=space_open,
        blocked=Block.objects.filter(
            patient_id=patient_key, professional_id=professional_id, unblocked_at__isnull=True
        ).exists(),
        medecin_traitant=Basis.MEDECIN_TRAITANT in bases,
        extended_rights=any(r.extended_rights for r in valid),
        care_team=bool(valid),
        care_team_basis=next((str(b) for b in _BASIS_ORDER if b in bases), ""),
        # An expired right (not one the holder removed): the professional may be told to renew it.
        right_expired=not valid and any(r.expires_at is not None for r in rights),
        first_access=not audit.has_consulted(
            patient_id, actor_kind=actor.kind.value, actor_id=actor.id
        ),
        **oppositions,
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
