"""The profile at a glance: the summary card, completeness, the latest measures, a measure's
series with its chart.

Completeness [decision] (the seed shows a percentage per profile and "x éléments renseignés"
per section, without a formula):
- a *list* section counts 100 % once it holds an item or a "nothing to report" statement;
- a section of *elements* counts the share of its expected elements that are filled (lifestyle:
  5, entourage and wishes: 4, measures: weight, height and blood group, professionals: a
  médecin traitant);
- the care history (the insurer's) and administrative papers are not counted;
- the overall percentage is the mean of the counted sections, rounded to the unit.
Hidden items count: hiding concerns who sees them, not whether they were filled in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.policy import Target
from carnet.core import clock
from carnet.core.errors import NotFound
from carnet.identity.models import Holder
from carnet.profile import charts
from carnet.profile import items as item_rules
from carnet.profile import kinds as kind_rules
from carnet.profile import measures as measure_rules
from carnet.profile.measures import MeasureDefinition, MeasureValue
from carnet.profile.models import Measure, ProfileItem
from carnet.profile.sections import MEDECIN_TRAITANT, SECTIONS, SectionDefinition
from carnet.profile.services import (
    describe_author,
    existing_patient_id,
    is_medecin_traitant,
    is_patient_side,
    measure_value,
)


@dataclass(frozen=True)
class SectionStatus:
    section: SectionDefinition
    count: int
    filled: int
    expected: int
    percent: int | None  # None: not counted in completeness
    none_declared: bool

    @property
    def text(self) -> str:
        if self.none_declared:
            return _("Rien à signaler")
        elements = self.section.completeness == "elements"
        if elements and self.filled == self.expected:
            return _("Tous les éléments renseignés")
        if self.count == 0:
            return _("Aucun élément renseigné")
        return ngettext(
            "%(count)d élément renseigné", "%(count)d éléments renseignés", self.count
        ) % {"count": self.count}

    @property
    def complete(self) -> bool:
        return self.none_declared or (
            self.count > 0 and (not self.expected or self.filled == self.expected)
        )


def section_status(
    section: SectionDefinition, present: set[str], count: int, none_declared: bool
) -> SectionStatus:
    """How complete one section is; `present` holds the kinds of its items, `measure:<key>`
    for each measure recorded and MEDECIN_TRAITANT when one professional is flagged so."""
    if section.completeness == "list":
        filled = 1 if count or none_declared else 0
        return SectionStatus(section, count, filled, 1, 100 * filled, none_declared)
    if section.completeness == "elements":
        expected = len(section.elements)
        filled = sum(
            1
            for element in section.elements
            if (element.kind and element.kind in present)
            or (element.measure and f"measure:{element.measure}" in present)
        )
        percent = _percent(100 * filled, expected) if expected else 0
        return SectionStatus(section, count, filled, expected, percent, False)
    return SectionStatus(section, count, 0, 0, None, False)


def _percent(numerator: int, denominator: int) -> int:
    """A percentage rounded half up (66,5 → 67), as people round, not half to even."""
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), ROUND_HALF_UP))


def overall(statuses: Iterable[SectionStatus]) -> int:
    counted = [s.percent for s in statuses if s.percent is not None]
    return _percent(sum(counted), len(counted)) if counted else 0


@dataclass(frozen=True)
class LatestMeasure:
    definition: MeasureDefinition
    value: MeasureValue | None
    count: int

    @property
    def text(self) -> str:
        return measure_rules.format_measure(self.value) if self.value else ""

    @property
    def date(self) -> str:
        return charts.format_date_fr(self.value.at) if self.value else ""


@dataclass(frozen=True)
class Contact:
    name: str
    relation: str
    phone: str


@dataclass(frozen=True)
class Card:
    """The seed's summary card."""

    name: str
    birth_date: dt.date
    age: str
    weight: str
    height: str
    bmi: str
    smoker: str
    blood_group: str
    emergency_contact: Contact | None
    medecin_traitant: str


@dataclass(frozen=True)
class Overview:
    card: Card
    sections: list[SectionStatus]
    completeness: int
    latest: list[LatestMeasure] = field(default_factory=list)


def age_text(birth_date: dt.date, today: dt.date) -> str:
    months = (today.year - birth_date.year) * 12 + today.month - birth_date.month
    if today.day < birth_date.day:
        months -= 1
    if months < 24:
        return ngettext("%(n)d mois", "%(n)d mois", months) % {"n": max(months, 0)}
    years = months // 12
    return ngettext("%(n)d an", "%(n)d ans", years) % {"n": years}


def _latest(patient_id: str) -> dict[str, tuple[MeasureValue, int]]:
    found: dict[str, tuple[MeasureValue, int]] = {}
    rows = Measure.objects.filter(patient_id=uuid.UUID(patient_id))
    for key, definition in measure_rules.catalogue().items():
        if not definition.writable:
            continue
        series = rows.filter(key=key)
        last = series.order_by("-effective_at", "-created_at").first()
        if last is not None:
            found[key] = (measure_value(last), series.count())
    return found


def authorized_space(
    actor: Actor, action: Action, patient_id: str, resource_type: str = "Profile"
) -> tuple[str, Holder]:
    pid = existing_patient_id(patient_id)
    gate.authorize(actor, action, Target(resource_type, resource_id=pid or "", patient_id=pid))
    holder = Holder.objects.filter(pk=uuid.UUID(pid)).first() if pid else None
    if holder is None:  # pragma: no cover (the gate refused first)
        raise NotFound(gate.NOT_FOUND_MESSAGE)
    return str(pid), holder


def _items(actor: Actor, patient_id: str) -> list[ProfileItem]:
    """The items of a space the caller authorised; hidden ones only for the holder's side."""
    rows = ProfileItem.objects.filter(patient_id=uuid.UUID(patient_id))
    if not is_patient_side(actor, patient_id):
        rows = rows.filter(hidden=False)
    return list(rows)


def _answer(items: list[ProfileItem], kind_key: str) -> str:
    kind = kind_rules.get_kind(kind_key)
    item = next((i for i in items if i.kind == kind_key), None)
    return kind_rules.summary_label(item.resource, kind) if item and kind else ""


def _card(holder: Holder, items: list[ProfileItem], latest: dict[str, Any]) -> Card:
    weight = latest.get(measure_rules.WEIGHT, (None, 0))[0]
    height = latest.get(measure_rules.HEIGHT, (None, 0))[0]
    bmi = measure_rules.bmi_from_latest(weight, height)
    tobacco = next((i for i in items if i.kind == "tabac"), None)
    smoker = ""
    if tobacco is not None:
        value_codes = {
            str(c.get("code"))
            for c in (tobacco.resource.get("valueCodeableConcept") or {}).get("coding") or []
        }
        smoker = _("Fumeur") if value_codes & kind_rules.SMOKER_CODES else _("Non fumeur")
    contacts = sorted((i for i in items if i.kind == "contact-urgence"), key=lambda i: i.created_at)
    contact = None
    if contacts:
        data = item_rules.form_data(kind_rules.BY_KEY["contact-urgence"], contacts[0].resource)
        contact = Contact(data["name"], data["relation"], data["phone"])
    pcp = next((i for i in items if i.kind == "professionnel" and is_medecin_traitant(i)), None)
    return Card(
        name=str(holder),
        birth_date=holder.birth_date,
        age=age_text(holder.birth_date, clock.today()),
        weight=measure_rules.format_measure(weight) if weight else "",
        height=measure_rules.format_measure(height) if height else "",
        bmi=measure_rules.format_measure(bmi) if bmi else "",
        smoker=smoker,
        blood_group=_answer(items, "groupe-sanguin"),
        emergency_contact=contact,
        medecin_traitant=pcp.title if pcp else "",
    )


def profile_overview(actor: Actor, *, patient_id: str) -> Overview:
    """The summary card, each section's status and the overall completeness.

    Raises NotFound when the actor may not read this profile (recorded by the gate).
    """
    pid, holder = authorized_space(actor, Action.PROFILE_SUMMARY_READ, patient_id)
    return build_overview(actor, pid, holder, _items(actor, pid))


def build_overview(actor: Actor, pid: str, holder: Holder, items: list[ProfileItem]) -> Overview:
    """The overview of a space the caller already authorised `actor` to read."""
    latest = _latest(pid)
    statuses = []
    for section in SECTIONS:
        in_section = [i for i in items if i.section == section.slug]
        present = {i.kind for i in in_section}
        none_declared = any(
            kind_rules.BY_KEY[i.kind].none_of for i in in_section if i.kind in kind_rules.BY_KEY
        )
        if any(i.kind == "professionnel" and is_medecin_traitant(i) for i in in_section):
            present.add(MEDECIN_TRAITANT)
        count = len(in_section)
        if section.slug == "mesures":
            present |= {f"measure:{key}" for key in latest}
            count += sum(n for _value, n in latest.values())
        statuses.append(section_status(section, present, count, none_declared))
    latest_rows = [
        LatestMeasure(definition, *latest.get(key, (None, 0)))
        for key, definition in measure_rules.catalogue().items()
        if definition.writable
    ]
    return Overview(_card(holder, items, latest), statuses, overall(statuses), latest_rows)


# --- One measure's page ----------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureRow:
    id: str
    date: str
    datetime_attr: str
    values: tuple[str, ...]
    original: str
    moment: str
    reason: str
    source: str


@dataclass(frozen=True)
class Series:
    definition: MeasureDefinition
    rows: list[MeasureRow]
    chart: str
    latest: str
    latest_date: str
    bmi: str = ""

    @property
    def series_labels(self) -> list[str]:
        return [s.label for s in self.definition.components]


def _row(measure: Measure, value: MeasureValue) -> MeasureRow:
    definition = value.definition
    original = ""
    if value.original is not None:
        unit = definition.unit(value.original.unit)
        original = measure_rules.format_quantity(
            value.original.value, unit.label if unit else value.original.unit
        )
    moment = definition.moment(value.moment) if value.moment else None
    return MeasureRow(
        id=str(measure.pk),
        date=charts.format_date_fr(value.at),
        datetime_attr=value.at.isoformat(),
        values=tuple(
            measure_rules.format_quantity(value.values[s.key], definition.unit_label)
            for s in definition.series
        ),
        original=original,
        moment=moment.label if moment else "",
        reason=value.reason or "",
        source=describe_author(
            measure.author_kind, measure.author_label, measure.author_profession
        ),
    )


def measure_series(actor: Actor, *, patient_id: str, key: str) -> Series:
    """A measure's history: rows newest first, the SVG chart and the last value.

    Raises InvalidMeasure for an unknown measure, NotFound for a space the actor may not see.
    """
    definition = measure_rules.get_measure(key)
    pid, _holder = authorized_space(actor, Action.PROFILE_MEASURE_SEARCH, patient_id, "Observation")
    rows = list(
        Measure.objects.filter(patient_id=uuid.UUID(pid), key=definition.key).order_by(
            "effective_at", "created_at"
        )
    )
    values = [measure_value(row) for row in rows]
    chart = charts.render_chart(
        charts.points_from_measures(values),
        title=_("%(measure)s au fil du temps") % {"measure": definition.label},
        unit=definition.unit_label,
        series_labels=[c.label for c in definition.components],
        chart_id=f"graphique-{key}",
    )
    table = [_row(row, value) for row, value in zip(rows, values, strict=True)]
    table.reverse()
    last = values[-1] if values else None
    return Series(
        definition=definition,
        rows=table,
        chart=chart,
        latest=measure_rules.format_measure(last) if last else "",
        latest_date=charts.format_date_fr(last.at) if last else "",
    )
