"""The holder's trace ("Historique des accès"): every action in the space by anyone but the holder.

Invariants:
- Reading the trace is itself an access (`audit:trace:read`) decided by the gate: the holder and
  their legal representatives read it, nobody else. The rows come from `carnet.audit` (the
  hash-chained trail) and are never filtered by anything but the holder's own filters, so
  refused attempts (a blocked professional, an opposed emergency access) appear too.
- The CSV export streams (no whole trace in memory) and neutralises spreadsheet formulas: a
  cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.services import Page, _page, _space
from carnet.audit import services as audit
from carnet.identity.professions import profession

TRACE_PAGE_SIZE = 25
MAX_FHIR_COUNT = 200

ACTION_LABELS = {
    Action.ACCESS_CONSENT_CREATE.value: gettext_lazy("Déclaration de votre consentement"),
    Action.DOCUMENTS_DOCUMENT_CREATE.value: gettext_lazy("Dépôt de document"),
    Action.DOCUMENTS_DOCUMENT_DELETE.value: gettext_lazy("Suppression d'un document"),
    Action.DOCUMENTS_DOCUMENT_READ.value: gettext_lazy("Consultation d'un document"),
    Action.DOCUMENTS_DOCUMENT_SEARCH.value: gettext_lazy("Recherche dans vos documents"),
    Action.DOCUMENTS_DOCUMENT_UPDATE.value: gettext_lazy("Modification d'un document"),
    Action.IDENTITY_PATIENT_READ.value: gettext_lazy("Consultation de votre identité"),
    Action.IDENTITY_PATIENT_SEARCH.value: gettext_lazy("Recherche de votre espace"),
}
MODE_LABELS = {
    "normal": gettext_lazy("Normal"),
    "consentement_declare": gettext_lazy("Consentement déclaré"),
    "code": gettext_lazy("Code d'accès"),
    "bris_de_glace": gettext_lazy("Urgence (bris de glace)"),
    "centre_15": gettext_lazy("Urgence (SAMU, centre 15)"),
    "app": gettext_lazy("Application"),
}
EMERGENCY_MODES = frozenset({"bris_de_glace", "centre_15"})
_KIND_LABELS = {
    "system": gettext_lazy("Système"),
    "operator": gettext_lazy("Opérateur de la plateforme"),
    "app": gettext_lazy("Application"),
    "anonymous": gettext_lazy("Inconnu"),
}
CSV_HEADER = (
    gettext_lazy("Date et heure"),
    gettext_lazy("Qui"),
    gettext_lazy("Profession"),
    gettext_lazy("Organisation"),
    gettext_lazy("Action"),
    gettext_lazy("Résultat"),
    gettext_lazy("Mode d'accès"),
    gettext_lazy("Motif"),
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class TraceFilters:
    """The holder's filters: a person (actor id), an action, a date range (inclusive days)."""

    actor_id: str = ""
    action: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def query(self) -> audit.TraceQuery:
        return audit.TraceQuery(
            actor_id=self.actor_id[:100],
            action=self.action[:80],
            since=_day_start(self.date_from) if self.date_from else None,
            until=_day_start(self.date_to + dt.timedelta(days=1)) - dt.timedelta(microseconds=1)
            if self.date_to
            else None,
        )

    def as_params(self) -> dict[str, str]:
        """The filters as query-string parameters (for paging and export links)."""
        params = {
            "personne": self.actor_id,
            "action": self.action,
            "du": self.date_from.isoformat() if self.date_from else "",
            "au": self.date_to.isoformat() if self.date_to else "",
        }
        return {name: value for name, value in params.items() if value}


def _action_label(code: str) -> str:
    if code.startswith("admin:"):  # the back office's views (`audit.admin.TracedReadOnlyAdmin`)
        return str(_("Consultation dans l'interface de gestion"))
    return str(ACTION_LABELS.get(code, code))


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass(frozen=True)
class TraceEntry:
    """One traced action, with what the holder reads about it."""

    id: str
    patient_id: str
    occurred_at: dt.datetime
    actor_kind: str
    actor_id: str
    who: str
    profession_code: str
    organisation: str
    action: str
    allowed: bool
    mode: str
    reason: str
    resource_type: str
    resource_id: str
    emergency_reason: str

    @property
    def profession_label(self) -> str:
        known = profession(self.profession_code) if self.profession_code else None
        if known is not None:
            return known.display
        return self.profession_code or str(_KIND_LABELS.get(self.actor_kind, ""))

    @property
    def action_label(self) -> str:
        return _action_label(self.action)

    @property
    def outcome_label(self) -> str:
        return _("Autorisé") if self.allowed else _("Refusé")

    @property
    def mode_label(self) -> str:
        return str(MODE_LABELS.get(self.mode, self.mode))

    @property
    def is_emergency(self) -> bool:
        return self.mode in EMERGENCY_MODES


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class TraceView:
    page: Page[TraceEntry]
    people: list[Choice]
    actions: list[Choice]


def _entry(row: Any) -> TraceEntry:
    details = row.details if isinstance(row.details, dict) else {}
    return TraceEntry(
        id=f"{row.patient_id}-{row.seq}",
        patient_id=str(row.patient_id),
        occurred_at=row.occurred_at,
        actor_kind=row.actor_kind,
        actor_id=row.actor_id,
        who=row.actor_label or row.actor_id,
        profession_code=row.actor_profession,
        organisation=row.actor_organisation,
        action=row.action,
        allowed=row.outcome == "allowed",
        mode=row.mode,
        reason=row.reason,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        emergency_reason=str(details.get("emergency_reason", "")),
    )


def read_trace(
    actor: Actor, *, patient_id: str, filters: TraceFilters | None = None, page: int = 1
) -> TraceView:
    """One page of the trace, newest first, with the choices of the person and action filters.
    Raises NotFound (not the holder's space)."""
    filters = filters or TraceFilters()
    gate.authorize(actor, Action.AUDIT_TRACE_READ, _space(patient_id, "AuditTrace"))
    rows = audit.patient_trace(patient_id, filters.query())
    people = [
        Choice(person.actor_id, _person_label(person)) for person in audit.trace_actors(patient_id)
    ]
    actions = [Choice(code, _action_label(code)) for code in audit.trace_actions(patient_id)]
    return TraceView(
        page=_page(rows, page, TRACE_PAGE_SIZE, _entry), people=people, actions=actions
    )


def _person_label(person: audit.TraceActor) -> str:
    known = profession(person.profession) if person.profession else None
    return f"{person.label} ({known.display})" if known else person.label


def export_trace(
    actor: Actor, *, patient_id: str, filters: TraceFilters | None = None
) -> Iterator[list[str]]:
    """The filtered trace as CSV rows (header first), streamed, with formula-safe cells.

    The access is decided (and traced) before the first row is produced. Raises NotFound.
    """
    filters = filters or TraceFilters()
    gate.authorize(
        actor,
        Action.AUDIT_TRACE_READ,
        _space(patient_id, "AuditTrace", "csv"),
    )
    rows = audit.patient_trace(patient_id, filters.query())
    return _csv_rows(rows.iterator(chunk_size=500))


def _csv_rows(rows: Iterator[Any]) -> Iterator[list[str]]:
    yield [str(label) for label in CSV_HEADER]
    for row in rows:
        entry = _entry(row)
        reason = entry.reason
        if entry.emergency_reason:
            reason = f"{reason} — {_('motif déclaré')} : {entry.emergency_reason}"
        yield [
            safe_cell(value)
            for value in (
                timezone.localtime(entry.occurred_at).strftime("%d/%m/%Y %H:%M:%S"),
                entry.who,
                entry.profession_label,
                entry.organisation,
                entry.action_label,
                entry.outcome_label,
                entry.mode_label,
                reason,
            )
        ]


def safe_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP "CSV injection"), even after the
    leading spaces some spreadsheets skip."""
    if value.startswith(_FORMULA_STARTS) or value.lstrip().startswith(_FORMULA_STARTS):
        return f"'{value}"
    return value


def trace_events(
    actor: Actor,
    *,
    patient_id: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    offset: int = 0,
    count: int = 50,
) -> tuple[list[TraceEntry], int]:
    """A slice of the trace between two instants (inclusive), newest first, and the total, for
    the FHIR AuditEvent search. Raises NotFound."""
    gate.authorize(actor, Action.AUDIT_TRACE_READ, _space(patient_id, "AuditEvent"))
    rows = audit.patient_trace(patient_id, audit.TraceQuery(since=since, until=until))
    count = max(0, min(count, MAX_FHIR_COUNT))
    total = rows.count()
    return [_entry(row) for row in rows[offset : offset + count]] if count else [], total
