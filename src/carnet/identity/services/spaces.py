"""Holders' spaces: reading an identity through the gate, the spaces an actor may switch between,
and the lookups other apps need (they hand nothing out without the gate)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import Q, QuerySet

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.policy import Target
from carnet.core.identifiers import parse_uuid
from carnet.identity.models import Holder, LegalRepresentation, SpaceStatus

# --- Reading a holder's identity through the gate -----------------------------------------------


def read_patient(actor: Actor, patient_id: str) -> Holder:
    """The holder's identity, for the holder or their representative. Raises NotFound."""
    holder = holder_or_none(patient_id)
    if holder is None:
        gate.refuse_missing(actor, Action.IDENTITY_PATIENT_READ, "Patient", patient_id)
    gate.authorize(
        actor,
        Action.IDENTITY_PATIENT_READ,
        Target("Patient", str(holder.pk), patient_id=str(holder.pk)),
    )
    return holder


def spaces_of(actor: Actor) -> list[Holder]:
    """The spaces an actor may switch between in the portal (own first, then represented)."""
    rows = gate.visible(
        actor, Action.IDENTITY_PATIENT_SEARCH, Holder.objects.all(), patient_field="id"
    )
    return sorted(rows, key=lambda h: (str(h.pk) not in actor.own_patient_ids, h.birth_date))


# --- Lookups for the access rules (no patient data is released by these) -----------------------

OPEN_SPACE_STATUSES = frozenset({SpaceStatus.CREATED, SpaceStatus.ACTIVE})


def holder_rows(patient_id: str) -> QuerySet[Holder]:
    """The holder with this id as a queryset (none for a malformed id), for a caller that adds the
    facts it needs to the same query (access.facts). Hand nothing out without the gate."""
    try:
        return Holder.objects.filter(pk=uuid.UUID(str(patient_id)))
    except ValueError:
        return Holder.objects.none()


def is_open_status(space_status: str) -> bool:
    return space_status in OPEN_SPACE_STATUSES


def space_is_open(patient_id: str) -> bool | None:
    """Whether professionals may use this space (created or activated; not opposed, closed or
    still in its opposition period). None when there is no such holder."""
    holder = holder_or_none(patient_id)
    if holder is None:
        return None
    return holder.space_status in OPEN_SPACE_STATUSES


def holder_for_ins(matricule: str, oid: str) -> Holder | None:
    """The holder with this INS, for services that then decide through the gate what the caller
    may know of it. Never hand the result out without an `authorize` on it."""
    return Holder.objects.filter(ins_matricule=matricule.strip().upper(), ins_oid=oid).first()


# --- Lookups for other apps' services (they decide through the gate what the caller may know) --


def holder_or_none(patient_id: object) -> Holder | None:
    """The holder with this id (None for an unknown or malformed id)."""
    key = parse_uuid(patient_id)
    return Holder.objects.filter(pk=key).first() if key else None


def holder_with_login(patient_id: object) -> Holder | None:
    """The holder with their login account loaded (where the space's e-mails go)."""
    key = parse_uuid(patient_id)
    return Holder.objects.select_related("user").filter(pk=key).first() if key else None


def current_representations(patient_id: object, today: dt.date) -> QuerySet[LegalRepresentation]:
    """The legal representations of this space in force today, by active representatives,
    oldest first, with each representative's own space loaded."""
    rows: QuerySet[LegalRepresentation] = (
        LegalRepresentation.objects.filter(patient_id=parse_uuid(patient_id), since__lte=today)
        .filter(Q(until__isnull=True) | Q(until__gte=today))
        .filter(representative__is_active=True)
        .select_related("representative__holder")
        .order_by("since", "pk")
    )
    return rows


def spaces_for_matricule(matricule: str, oids: list[str]) -> list[tuple[str, str, str]]:
    """(holder id, INS OID, space status) of every space with this matricule under one of the
    OIDs, for a mail gateway that must only know whether an address receives mail."""
    rows = Holder.objects.filter(ins_matricule=matricule.strip().upper(), ins_oid__in=oids)
    return [
        (str(pk), oid, status)
        for pk, oid, status in rows.values_list("pk", "ins_oid", "space_status")
    ]
