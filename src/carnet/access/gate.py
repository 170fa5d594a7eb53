"""The one door to patient data: `authorize`, `change` and `visible` are the only callers of
`policy.decide`/`policy.scope`, and each writes an audit event.

- `authorize(actor, action, target)` decides and records the decision at once (reads, refusals).
  Call it outside any transaction so that a refusal stays recorded when the error propagates.
- `change(actor, action, target)` is for writes: a refusal is recorded and raised at once; an
  allowed write runs inside `transaction.atomic()` and its event is recorded in that same
  transaction, so the trail and the change commit or roll back together.
- `visible(actor, action, queryset)` filters a list with the same rules and records one event per
  search: a list never reveals a row that `authorize` would refuse.
- `refuse_missing(actor, action, resource_type, resource_id)` records and raises the refusal of a
  row that does not exist, the same answer as a forbidden one (no existence leaks by the error).
- `simulate(actor, action, target)` answers "what would the policy decide?" for explanations shown
  to a holder ("Qui peut voir ce document ?"). It releases no data, so it records nothing; the
  caller must first have authorised the holder's own read of what is explained.

Before deciding, the gate completes the target: `now` from the one clock and, for professionals
and the system, the `Relation` to the patient's space loaded by `access.facts`. Obligations of an
allowed decision (notify the holder of a first or emergency access) are recorded with the event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn, TypeVar

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.db.models import Q

from carnet.access import policy
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind
from carnet.access.errors import AccessDenied
from carnet.access.policy import Decision, Target
from carnet.audit import services as audit
from carnet.core import clock
from carnet.core.errors import NotFound

M = TypeVar("M", bound=models.Model)

NOT_FOUND_MESSAGE = "Ressource introuvable."
# Where a notice about an access sends the holder: their trace ("Historique des accès").
TRACE_PATH = "/historique/"


@dataclass
class Grant:
    """Proof that an action was allowed; write services fill in what they changed."""

    actor: Actor
    action: Action
    target: Target
    decision: Decision
    resource_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def authorize(actor: Actor, action: Action, target: Target) -> Grant:
    target = _complete(actor, target)
    decision = policy.decide(actor, action, target)
    _record(actor, action, target, decision)
    _raise_if_denied(decision)
    return Grant(actor, action, target, decision, resource_id=target.resource_id)


def refuse_missing(
    actor: Actor, action: Action, resource_type: str, resource_id: object
) -> NoReturn:
    """A row that does not exist: the policy refuses a target with no patient (`no-target`), the
    refusal is recorded in the global chain (no patient owns it) and the caller gets the same
    NotFound as for a row it may not see."""
    target = _complete(actor, Target(resource_type, str(resource_id)[:100]))
    decision = policy.decide(actor, action, target)
    _record(actor, action, target, decision)
    _raise_if_denied(decision)
    raise NotFound(NOT_FOUND_MESSAGE)  # pragma: no cover (a target without patient is refused)


def simulate(actor: Actor, action: Action, target: Target) -> Decision:
    """What the policy would decide, with the facts given (nothing is loaded or recorded)."""
    return policy.decide(actor, action, replace(target, now=target.now or clock.now()))


@contextmanager
def change(actor: Actor, action: Action, target: Target) -> Iterator[Grant]:
    target = _complete(actor, target)
    decision = policy.decide(actor, action, target)
    if not decision.allowed:
        _record(actor, action, target, decision)
        _raise_if_denied(decision)
    grant = Grant(actor, action, target, decision, resource_id=target.resource_id)
    with transaction.atomic():
        yield grant
        _record(actor, action, target, decision, grant.resource_id, grant.details)


def visible(
    actor: Actor,
    action: Action,
    queryset: models.QuerySet[M],
    *,
    patient_field: str = "patient_id",
    searched_patient_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> models.QuerySet[M]:
    """Restrict `queryset` to what the actor may see and record the search.

    A professional searches one space (`searched_patient_id`): the gate loads their relation to it
    and, when the refusal is one they may know (blocked, emergency opposed), raises AccessDenied
    after recording it. Otherwise a refused search is simply empty.
    """
    target = _complete(
        actor, Target(resource_type=queryset.model.__name__, patient_id=searched_patient_id)
    )
    allowed = policy.scope(
        actor, action, patient_id=searched_patient_id, relation=target.relation, now=target.now
    )
    if allowed.is_empty:
        filtered = queryset.none()
    else:
        filtered = queryset.filter(compile_filter(allowed.rows, queryset.model, patient_field))
    if searched_patient_id is None:
        decision = None
        outcome, reason, mode = (
            "denied" if allowed.is_empty else "allowed",
            "recherche",
            actor.purpose_of_use.value,
        )
    else:
        decision = policy.decide(actor, action, target)
        outcome = "allowed" if decision.allowed else "denied"
        reason, mode = decision.reason, decision.mode
    with transaction.atomic():
        audit.record(
            _event(actor, action, target, outcome=outcome, reason=reason, mode=mode)
            | _details(actor, decision, details)
        )
        if decision is not None:
            _fulfil(actor, target, decision)
    if decision is not None and not decision.allowed and decision.reveal:
        raise AccessDenied(decision.reason, code=decision.code)
    return filtered


def compile_filter(rows: policy.Filter, model: type[models.Model], patient_field: str) -> Q:
    """A policy filter as a Django `Q` on `model` (`patient` names the `patient_field` column).

    A value the column cannot hold (a malformed id) matches nothing rather than failing.
    """
    if rows is True:
        return Q()
    if rows is False:
        return Q(pk__in=[])
    if isinstance(rows, policy.And | policy.Or):
        parts = [compile_filter(part, model, patient_field) for part in rows.parts]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if isinstance(rows, policy.And) else combined | part
        return combined
    name = patient_field if rows.name == "patient" else rows.name
    try:
        column = model._meta.get_field(name)
        if not isinstance(column, models.Field):
            return Q(pk__in=[])
        if rows.op == "in":
            value: Any = [column.to_python(item) for item in rows.value]
        else:
            value = column.to_python(rows.value)
    except (FieldDoesNotExist, ValidationError, ValueError):
        return Q(pk__in=[])
    lookup = name if rows.op == "eq" else f"{name}__{rows.op}"
    return Q(**{lookup: value})


def _complete(actor: Actor, target: Target) -> Target:
    """The target with `now` and, for professionals and the system, their relation to the space."""
    now = target.now or clock.now()
    relation = target.relation
    if (
        relation is None
        and target.patient_id is not None
        and actor.kind in {ActorKind.PROFESSIONAL, ActorKind.SYSTEM}
    ):
        from carnet.access import facts  # facts reads identity, whose services use this gate

        relation = facts.load_relation(actor, target.patient_id, now=now)
    return replace(target, now=now, relation=relation)


def _decision_details(actor: Actor, decision: Decision | None) -> dict[str, Any]:
    if decision is None:
        return {}
    details: dict[str, Any] = {"decision": decision.code}
    if decision.obligations:
        details["obligations"] = sorted(decision.obligations)
    if decision.mode != policy.MODE_NORMAL and actor.emergency_reason:
        details["emergency_reason"] = actor.emergency_reason[:500]
    if actor.channel:
        details["channel"] = actor.channel
    return details


def _raise_if_denied(decision: Decision) -> None:
    if decision.allowed:
        return
    if decision.reveal:
        raise AccessDenied(decision.reason, code=decision.code)
    raise NotFound(NOT_FOUND_MESSAGE)


def _record(
    actor: Actor,
    action: Action,
    target: Target,
    decision: Decision,
    resource_id: str = "",
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record a decision; an allowed one's obligations are fulfilled in the same transaction."""
    event = _event(
        actor,
        action,
        target,
        outcome="allowed" if decision.allowed else "denied",
        reason=decision.reason,
        mode=decision.mode,
        resource_id=resource_id or target.resource_id,
    )
    with transaction.atomic():
        audit.record(event | _details(actor, decision, details))
        _fulfil(actor, target, decision)


@dataclass(frozen=True)
class _Event:
    """An audit event still missing its details (merged in with `|`)."""

    data: dict[str, Any]

    def __or__(self, details: dict[str, Any]) -> audit.EventData:
        return audit.EventData(**self.data, details=details)


def _event(
    actor: Actor,
    action: Action,
    target: Target,
    *,
    outcome: str,
    reason: str,
    mode: str,
    resource_id: str = "",
) -> _Event:
    return _Event(
        {
            "actor_kind": actor.kind.value,
            "actor_id": actor.id,
            "actor_label": actor.label,
            "actor_profession": actor.profession,
            "actor_organisation": actor.organisation_name or actor.organisation,
            "action": action.value,
            "outcome": outcome,
            "reason": reason,
            "mode": mode,
            "patient_id": target.patient_id,
            "resource_type": target.resource_type,
            "resource_id": resource_id,
        }
    )


def _details(
    actor: Actor, decision: Decision | None, extra: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {**_decision_details(actor, decision), **(extra or {})}


def _fulfil(actor: Actor, target: Target, decision: Decision) -> None:
    """Tell the holder of a professional's first consultation and of any emergency access.

    Called inside the transaction that records the event, so the notice and the trace commit
    together. One notice per professional for a first access; emergency notices are grouped per
    professional, mode and day, so that one emergency consultation (a search and the documents
    opened) tells the holder once rather than once per document.
    """
    if not decision.allowed or not decision.obligations or target.patient_id is None:
        return
    from carnet.notifications import services as notifications  # it uses this gate itself
    from carnet.notifications.kinds import NotificationKind

    context = {"actor": actor.label}
    if policy.NOTIFY_FIRST_ACCESS in decision.obligations:
        notifications.notify(
            target.patient_id,
            NotificationKind.FIRST_ACCESS,
            dedupe_key=f"first-access:{actor.id}",
            context=context,
            link_path=TRACE_PATH,
        )
    if policy.NOTIFY_EMERGENCY in decision.obligations:
        day = (target.now or clock.now()).date().isoformat()
        notifications.notify(
            target.patient_id,
            NotificationKind.EMERGENCY_ACCESS,
            dedupe_key=f"emergency:{decision.mode}:{actor.id}:{day}",
            context=context,
            link_path=TRACE_PATH,
        )


def precheck(actor: Actor, action: Action, target: Target) -> Grant:
    """Decide a write before its transaction opens (e.g. before storing content): a refusal is
    recorded and raised now; an allowed grant must then be recorded with `commit_grant` inside
    the write's transaction, next to the change."""
    target = _complete(actor, target)
    decision = policy.decide(actor, action, target)
    if not decision.allowed:
        _record(actor, action, target, decision)
        _raise_if_denied(decision)
    return Grant(actor, action, target, decision, resource_id=target.resource_id)


def commit_grant(grant: Grant, *, details: Mapping[str, Any] | None = None) -> None:
    """Record a pre-checked write in the current transaction (call it inside `atomic()`)."""
    _record(
        grant.actor,
        grant.action,
        grant.target,
        grant.decision,
        grant.resource_id,
        {**grant.details, **(details or {})},
    )
