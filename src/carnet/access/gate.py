"""The one door to patient data: `authorize`, `change` and `visible` are the only callers of
`policy.decide`/`policy.scope`, and each writes an audit event.

- `authorize(actor, action, target)` decides and records the decision at once (reads, refusals).
  Call it outside any transaction so that a refusal stays recorded when the error propagates.
- `change(actor, action, target)` is for writes: a refusal is recorded and raised at once; an
  allowed write runs inside `transaction.atomic()` and its event is recorded in that same
  transaction, so the trail and the change commit or roll back together.
- `visible(actor, action, queryset)` filters a list with the same rules and records one event per
  search: a list never reveals a row that `authorize` would refuse.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import models, transaction

from carnet.access import policy
from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.errors import AccessDenied
from carnet.access.policy import Decision, Target
from carnet.audit import services as audit
from carnet.core.errors import NotFound

M = TypeVar("M", bound=models.Model)

NOT_FOUND_MESSAGE = "Ressource introuvable."


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
    decision = policy.decide(actor, action, target)
    _record(actor, action, target, decision)
    _raise_if_denied(decision)
    return Grant(actor, action, target, decision, resource_id=target.resource_id)


@contextmanager
def change(actor: Actor, action: Action, target: Target) -> Iterator[Grant]:
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
    """Restrict `queryset` to what the actor may see and record the search."""
    allowed = policy.scope(actor, action)
    if allowed.is_empty:
        filtered = queryset.none()
    elif allowed.authored_by:
        filtered = queryset.filter(author_professional_id=allowed.authored_by)
    else:
        filtered = queryset.filter(**{f"{patient_field}__in": sorted(allowed.patient_ids)})
    target = Target(
        resource_type=queryset.model.__name__,
        patient_id=searched_patient_id,
    )
    outcome = "allowed" if not allowed.is_empty else "denied"
    audit.record(
        audit.EventData(
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            actor_label=actor.label,
            actor_profession=actor.profession,
            actor_organisation=actor.organisation_name or actor.organisation,
            action=action.value,
            outcome=outcome,
            reason="recherche",
            mode=actor.purpose_of_use.value,
            patient_id=searched_patient_id,
            resource_type=target.resource_type,
            details=dict(details or {}),
        )
    )
    return filtered


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
    audit.record(
        audit.EventData(
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            actor_label=actor.label,
            actor_profession=actor.profession,
            actor_organisation=actor.organisation_name or actor.organisation,
            action=action.value,
            outcome="allowed" if decision.allowed else "denied",
            reason=decision.reason,
            mode=decision.mode,
            patient_id=target.patient_id,
            resource_type=target.resource_type,
            resource_id=resource_id or target.resource_id,
            details={"decision": decision.code, **(details or {})},
        )
    )


def precheck(actor: Actor, action: Action, target: Target) -> Grant:
    """Decide a write before its transaction opens (e.g. before storing content): a refusal is
    recorded and raised now; an allowed grant must then be recorded with `commit_grant` inside
    the write's transaction, next to the change."""
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
