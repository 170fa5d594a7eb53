"""Recording and verifying the audit trail.

Invariants:
- `record()` is the only writer of `AuditEvent`; it appends to the chain of the event's patient
  (or the global chain) under a lock on the chain head, so sequence numbers never fork.
- A patient chain's first row is announced in the global chain, so removing a whole chain is
  detected as well.
- `verify()` recomputes every HMAC and link and reports each broken place.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from carnet.audit.chain import GENESIS, HASHED_FIELDS, row_hash
from carnet.audit.models import GLOBAL_CHAIN, AuditEvent, ChainHead, Outcome
from carnet.core import clock


@dataclass(frozen=True)
class EventData:
    """What happened, by whom, to what: the content of one audit row."""

    actor_kind: str
    actor_id: str
    action: str
    outcome: str
    patient_id: uuid.UUID | str | None = None
    actor_label: str = ""
    actor_profession: str = ""
    actor_organisation: str = ""
    reason: str = ""
    mode: str = "normal"
    resource_type: str = ""
    resource_id: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


OPERATOR_KIND = "operator"


def record_operator_view(
    user: Any,
    action: str,
    *,
    patient_id: uuid.UUID | str | None = None,
    resource_type: str = "",
    resource_id: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """An operator's look, in the back office, at rows about patients: in the patient's chain
    (so the holder sees it in their trace) when one patient is concerned, else in the global one.
    Operators act outside the access policy (they are not in a care team); what they do is
    traced all the same."""
    return record(
        EventData(
            actor_kind=OPERATOR_KIND,
            actor_id=str(user.pk),
            actor_label=str(user),
            action=action,
            outcome="allowed",
            patient_id=patient_id,
            reason="Consultation par un opérateur dans l'interface de gestion.",
            resource_type=resource_type,
            resource_id=resource_id,
            details=dict(details or {}),
        )
    )


def record(event: EventData) -> AuditEvent:
    """Append one event to its chain and return the stored row.

    Runs in the caller's transaction when there is one (a write is recorded next to the change),
    otherwise in its own. Retries once if another process appended to the same chain concurrently.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _append(event)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover (the loop returns or raises)


def _append(event: EventData) -> AuditEvent:
    patient_id = uuid.UUID(str(event.patient_id)) if event.patient_id else None
    chain = str(patient_id) if patient_id else GLOBAL_CHAIN
    head = ChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        if patient_id is not None:
            _append(
                EventData(
                    actor_kind="system",
                    actor_id="audit",
                    action="audit:chain:open",
                    outcome="allowed",
                    resource_type="AuditChain",
                    resource_id=chain,
                )
            )
        head = ChainHead.objects.create(chain=chain, seq=0, hash=GENESIS)
    fields: dict[str, Any] = {
        "chain": chain,
        "seq": head.seq + 1,
        "patient_id": patient_id,
        "occurred_at": clock.now(),
        "actor_kind": event.actor_kind,
        "actor_id": str(event.actor_id),
        "actor_label": event.actor_label[:200],
        "actor_profession": event.actor_profession[:40],
        "actor_organisation": event.actor_organisation[:200],
        "action": event.action,
        "outcome": event.outcome,
        "reason": event.reason[:300],
        "mode": event.mode,
        "resource_type": event.resource_type,
        "resource_id": str(event.resource_id)[:100],
        "details": dict(event.details),
    }
    digest = row_hash(settings.CARNET_AUDIT_KEY, head.hash, _hashable(fields))
    row = AuditEvent.objects.create(**fields, prev_hash=head.hash, hash=digest)
    ChainHead.objects.filter(chain=chain).update(seq=row.seq, hash=digest)
    return row


def _hashable(fields: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    values["patient_id"] = str(values["patient_id"]) if values["patient_id"] else None
    return values


@dataclass(frozen=True)
class ChainProblem:
    chain: str
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.chain}#{self.seq}" if self.seq is not None else self.chain
        return f"{where}: {self.problem}"


def verify() -> list[ChainProblem]:
    """Check every chain: links, HMACs, sequence continuity, heads, and the chain registry."""
    key = settings.CARNET_AUDIT_KEY
    problems: list[ChainProblem] = []
    heads = {head.chain: head for head in ChainHead.objects.all()}
    seen_chains: set[str] = set()
    opened_chains: set[str] = set()
    for chain, rows in _rows_by_chain():
        seen_chains.add(chain)
        expected_seq, prev = 1, GENESIS
        last: AuditEvent | None = None
        for row in rows:
            if row.seq != expected_seq:
                problems.append(
                    ChainProblem(chain, row.seq, f"rows missing before (expected #{expected_seq})")
                )
            if row.prev_hash != prev:
                problems.append(ChainProblem(chain, row.seq, "link to the previous row broken"))
            values = {name: getattr(row, name) for name in HASHED_FIELDS}
            if row_hash(key, row.prev_hash, _hashable(values)) != row.hash:
                problems.append(ChainProblem(chain, row.seq, "content altered (hash mismatch)"))
            if chain == GLOBAL_CHAIN and row.action == "audit:chain:open":
                opened_chains.add(row.resource_id)
            expected_seq, prev, last = row.seq + 1, row.hash, row
        head = heads.get(chain)
        if head is None:
            problems.append(ChainProblem(chain, None, "chain head missing"))
        elif last is not None and (head.seq != last.seq or head.hash != last.hash):
            problems.append(
                ChainProblem(chain, head.seq, "newest rows removed (head points past the end)")
            )
    for chain in heads.keys() - seen_chains:
        if heads[chain].seq:
            problems.append(ChainProblem(chain, None, "every row of the chain removed"))
    for chain in opened_chains - seen_chains - heads.keys():
        problems.append(ChainProblem(chain, None, "chain announced in the registry is missing"))
    return problems


def _rows_by_chain() -> Iterator[tuple[str, list[AuditEvent]]]:
    chains = AuditEvent.objects.order_by().values_list("chain", flat=True).distinct()
    for chain in sorted(set(chains)):
        yield chain, list(AuditEvent.objects.filter(chain=chain).order_by("seq").iterator())


def events_for_patient(
    patient_id: uuid.UUID | str, *, since: dt.datetime | None = None
) -> list[AuditEvent]:
    """Raw events of one patient's chain, newest first (the trace view builds on this)."""
    rows = AuditEvent.objects.filter(patient_id=patient_id).order_by("-seq")
    if since is not None:
        rows = rows.filter(occurred_at__gte=since)
    return list(rows)


# --- Queries for the access policy and the holder's trace ---------------------------------------

# Actions that consult a space (as opposed to writing into it), by their verb.
CONSULTATION_VERBS = ("read", "search")
# Events nobody but auditors needs to see in a holder's trace.
_INTERNAL_ACTIONS = ("audit:chain:open",)
HOLDER_KIND = "holder"


def has_consulted(patient_id: uuid.UUID | str, *, actor_kind: str, actor_id: str) -> bool:
    """Whether this actor was ever allowed to consult this patient's space (reads and searches),
    so that the first consultation by a professional can be told to the holder."""
    return consultations(patient_id, actor_kind=actor_kind, actor_id=actor_id).exists()


def consultations(patient_id: Any, *, actor_kind: str, actor_id: str) -> QuerySet[AuditEvent]:
    """The allowed consultations of a space by an actor (`patient_id` may be an `OuterRef`, for
    callers that fold this into a query of their own)."""
    verbs = Q()
    for verb in CONSULTATION_VERBS:
        verbs |= Q(action__endswith=f":{verb}")
    return AuditEvent.objects.filter(
        patient_id=patient_id, actor_kind=actor_kind, actor_id=actor_id, outcome=Outcome.ALLOWED
    ).filter(verbs)


@dataclass(frozen=True)
class TraceQuery:
    """Filters of the holder's trace ("Historique des accès"); empty values filter nothing."""

    actor_id: str = ""
    action: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def patient_trace(
    patient_id: uuid.UUID | str, query: TraceQuery | None = None
) -> QuerySet[AuditEvent]:
    """Every event of one patient's chain by anyone but the holder and their representatives
    (actor kind `holder`), newest first: what the holder reads in "Historique des accès".

    Lazy: callers page it or stream it (`.iterator()`), never load it whole.
    """
    query = query or TraceQuery()
    rows = (
        AuditEvent.objects.filter(patient_id=patient_id)
        .exclude(actor_kind=HOLDER_KIND)
        .exclude(action__in=_INTERNAL_ACTIONS)
    )
    if query.actor_id:
        rows = rows.filter(actor_id=query.actor_id)
    if query.action:
        rows = rows.filter(action=query.action)
    if query.since is not None:
        rows = rows.filter(occurred_at__gte=query.since)
    if query.until is not None:
        rows = rows.filter(occurred_at__lte=query.until)
    return rows.order_by("-seq")


@dataclass(frozen=True)
class TraceActor:
    actor_id: str
    label: str
    profession: str


def trace_actors(patient_id: uuid.UUID | str) -> list[TraceActor]:
    """The people (and systems) who appear in a patient's trace, for the "person" filter."""
    rows = (
        patient_trace(patient_id)
        .order_by()
        .values_list("actor_id", "actor_label", "actor_profession")
        .distinct()
    )
    seen: dict[str, TraceActor] = {}
    for actor_id, label, profession in rows:
        seen.setdefault(actor_id, TraceActor(actor_id, label or actor_id, profession))
    return sorted(seen.values(), key=lambda actor: (actor.label.lower(), actor.actor_id))


def trace_actions(patient_id: uuid.UUID | str) -> list[str]:
    """The actions that appear in a patient's trace, for the "action" filter."""
    rows = patient_trace(patient_id).order_by().values_list("action", flat=True).distinct()
    return sorted(set(rows))
