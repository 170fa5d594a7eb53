"""Health measures of the ANS guide "Mesures de santé": catalogue, validation, unit conversion.

Pure module (no models, no database). The catalogue is read from `data/*.csv` (see
`data/SOURCES.md`): identity and FHIR coding of each measure (`measures.csv`, derived from the
guide's terminology tables), plausible ranges and message wording (`measure-rules.csv`), accepted
units with their conversion to the canonical UCUM unit (`measure-units.csv`) and the glucose
moments of JDV_J157 (`glucose-moments.csv`).

Invariants of a `MeasureValue` built by `validate_measure`:
- values are in the canonical UCUM unit of the guide, rounded to the catalogue's `decimals`, and
  within the plausible range; a value entered in another unit keeps its `original` quantity (what
  the guide's `mesures-original-data` extension carries);
- blood pressure has both components and systolic > diastolic;
- the date is day-precise at least, time-zone aware when it has a time, not in the future.

The BMI is computed (`compute_bmi`, `bmi_from_latest`), never written: `validate_measure("bmi", …)`
is refused [decision, see SOURCES.md].

Errors are `InvalidMeasure` (an `InvalidInput`) with a French message, the form field at fault
(`value`, `unit`, `at`, `moment`, `reason`, `key`, or a component key such as `systolic`) and a
`code` taken from FHIR's IssueType (`value`, `code-invalid`, `required`, `business-rule`…), so the
FHIR adapter can build its OperationOutcome without a second table.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

from carnet.core import clock
from carnet.core.errors import InvalidInput

DATA_DIR: Final = Path(__file__).resolve().parent / "data"
PARIS: Final = ZoneInfo("Europe/Paris")

#: Series key of the single value of a measure without components.
VALUE: Final = "value"
#: Measure whose two components must satisfy systolic > diastolic.
BLOOD_PRESSURE: Final = "blood-pressure"
SYSTOLIC: Final = "systolic"
DIASTOLIC: Final = "diastolic"
BMI: Final = "bmi"
WEIGHT: Final = "body-weight"
HEIGHT: Final = "body-height"
GLUCOSE: Final = "glucose"

MES_STRUCTURE_DEFINITION: Final = (
    "https://interop.esante.gouv.fr/ig/fhir/mesures/StructureDefinition/"
)

REASON_MAX_LENGTH: Final = 500
# Devices' clocks drift: a measure stamped a few minutes ahead of ours is not "in the future".
FUTURE_TOLERANCE: Final = dt.timedelta(minutes=5)
EARLIEST_DATE: Final = dt.date(1900, 1, 1)
# A date without time may come from UTC+14 (Line Islands) while it is still yesterday in Paris.
_AHEAD_MOST: Final = dt.timedelta(hours=14)
# Input above 10^9 in any unit is out of every range; refusing it before exact arithmetic keeps a
# hostile "1E+999999999" from turning into a gigabyte integer.
_MAX_ADJUSTED_EXPONENT: Final = 9
_INPUT_QUANTUM: Final = Decimal("1e-9")
_ECHO_MAX: Final = 24
_NUMBER_RE: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
NBSP: Final = "\u00a0"

Number = Decimal | int | float | str


class InvalidMeasure(InvalidInput):
    """A measure breaks a rule of the guide or of plausibility; nothing was stored."""


@dataclass(frozen=True)
class Unit:
    """An accepted unit: `canonical = value × factor + offset`."""

    ucum: str
    label: str
    listed: bool
    factor: Fraction
    offset: Fraction

    @property
    def is_identity(self) -> bool:
        return self.factor == 1 and self.offset == 0

    def to_canonical(self, value: Decimal) -> Fraction:
        return Fraction(value) * self.factor + self.offset


@dataclass(frozen=True)
class ComponentDefinition:
    """One series of a measure: a blood-pressure component, or the single value of the others."""

    key: str
    label: str
    loinc: str
    loinc_display: str
    phrase: str
    minimum: Decimal
    maximum: Decimal


@dataclass(frozen=True)
class Moment:
    """A moment of measurement of the glucose (JDV_J157)."""

    code: str
    code_system_oid: str
    display: str
    label: str


@dataclass(frozen=True)
class MeasureDefinition:
    key: str
    label: str
    loinc: str
    loinc_display: str
    loinc_aliases: tuple[str, ...]
    ucum: str
    ucum_display: str
    units: tuple[Unit, ...]
    minimum: Decimal
    maximum: Decimal
    decimals: int
    components: tuple[ComponentDefinition, ...]
    profile: str
    accepted_profiles: frozenset[str]
    writable: bool
    phrase: str
    subject: str
    moments: tuple[Moment, ...] = ()

    @property
    def canonical_unit(self) -> Unit:
        return self.units[0]

    @property
    def unit_label(self) -> str:
        return self.canonical_unit.label

    @property
    def listed_units(self) -> tuple[Unit, ...]:
        """Units offered to the holder and named in error messages (aliases left out)."""
        return tuple(unit for unit in self.units if unit.listed)

    @property
    def series(self) -> tuple[ComponentDefinition, ...]:
        if self.components:
            return self.components
        single = ComponentDefinition(
            VALUE,
            self.label,
            self.loinc,
            self.loinc_display,
            self.phrase,
            self.minimum,
            self.maximum,
        )
        return (single,)

    @property
    def loinc_codes(self) -> tuple[str, ...]:
        return (self.loinc, *self.loinc_aliases)

    def unit(self, ucum: str) -> Unit | None:
        return next((unit for unit in self.units if unit.ucum == ucum), None)

    def moment(self, code: str) -> Moment | None:
        return next((moment for moment in self.moments if moment.code == code), None)


@dataclass(frozen=True)
class Quantity:
    value: Decimal
    unit: str


@dataclass(frozen=True)
class MeasureValue:
    """A validated measure. `values` maps each series key (`VALUE`, or `systolic`/`diastolic`)
    to its value in the canonical `unit`; `at` is a date when only the day is known."""

    key: str
    values: Mapping[str, Decimal]
    unit: str
    at: dt.date | dt.datetime
    original: Quantity | None = None
    moment: str | None = None
    reason: str | None = None

    @property
    def definition(self) -> MeasureDefinition:
        return get_measure(self.key)

    @property
    def value(self) -> Decimal:
        """The value of a single-value measure (not blood pressure)."""
        if set(self.values) != {VALUE}:
            raise ValueError(f"{self.key} has components: read `values`")
        return self.values[VALUE]

    @property
    def instant(self) -> dt.datetime:
        return instant(self.at)


def instant(at: dt.date | dt.datetime) -> dt.datetime:
    """An aware datetime to sort and plot by. A bare date stands at noon in Paris, so that it
    stays on the same day in every French time zone."""
    if isinstance(at, dt.datetime):
        return at
    return dt.datetime.combine(at, dt.time(12), tzinfo=PARIS)


# --- Catalogue -------------------------------------------------------------------------------


def _read_csv(name: str) -> list[dict[str, str]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _moments() -> tuple[Moment, ...]:
    return tuple(
        Moment(row["code"], row["code_system_oid"], row["display"], row["label_fr"])
        for row in _read_csv("glucose-moments.csv")
    )


@functools.cache
def catalogue() -> Mapping[str, MeasureDefinition]:
    """Every measure of the guide, by key, in the order of `measures.csv`."""
    units: dict[str, list[Unit]] = {}
    for row in _read_csv("measure-units.csv"):
        unit = Unit(
            row["ucum"],
            row["label_fr"],
            row["listed"] == "yes",
            Fraction(row["factor"]),
            Fraction(row["offset"]),
        )
        units.setdefault(row["key"], []).append(unit)
    rules: dict[str, list[dict[str, str]]] = {}
    for row in _read_csv("measure-rules.csv"):
        rules.setdefault(row["key"], []).append(row)

    measures: dict[str, MeasureDefinition] = {}
    for row in _read_csv("measures.csv"):
        key = row["key"]
        measure_units = tuple(units[key])
        if measure_units[0].ucum != row["ucum_unit"] or not measure_units[0].is_identity:
            raise RuntimeError(f"measure-units.csv: the first unit of {key} must be canonical")
        measure_rules = rules[key]
        components = tuple(
            ComponentDefinition(
                rule["component"],
                rule["component_label_fr"],
                rule["component_loinc"],
                rule["component_loinc_display"],
                rule["phrase_fr"],
                Decimal(rule["minimum"]),
                Decimal(rule["maximum"]),
            )
            for rule in measure_rules
            if rule["component"]
        )
        first = measure_rules[0]
        extra_profiles = [p for p in row["extra_profile_ids"].split() if p]
        measures[key] = MeasureDefinition(
            key=key,
            label=row["label_fr"],
            loinc=row["loinc"],
            loinc_display=row["loinc_display"],
            loinc_aliases=tuple(code for code in row["loinc_aliases"].split() if code),
            ucum=row["ucum_unit"],
            ucum_display=row["ucum_display"],
            units=measure_units,
            minimum=min(Decimal(rule["minimum"]) for rule in measure_rules),
            maximum=max(Decimal(rule["maximum"]) for rule in measure_rules),
            decimals=int(first["decimals"]),
            components=components,
            profile=row["profile_canonical"],
            accepted_profiles=frozenset(
                [row["profile_canonical"]]
                + [MES_STRUCTURE_DEFINITION + profile_id for profile_id in extra_profiles]
            ),
            writable=row["writable"] == "yes",
            phrase=first["phrase_fr"],
            subject=first["subject_fr"],
            moments=_moments() if key == GLUCOSE else (),
        )
    return MappingProxyType(measures)


def get_measure(key: str) -> MeasureDefinition:
    try:
        return catalogue()[key]
    except KeyError:
        raise InvalidMeasure(
            f"Mesure « {_echo(key)} » inconnue.", field="key", code="not-supported"
        ) from None


@functools.cache
def _by_loinc() -> Mapping[str, MeasureDefinition]:
    return MappingProxyType(
        {code: measure for measure in catalogue().values() for code in measure.loinc_codes}
    )


def measure_for_loinc(code: str) -> MeasureDefinition | None:
    """The measure coded by this LOINC code (aliases included), if the guide has one."""
    return _by_loinc().get(code)


# --- Formatting (French) ---------------------------------------------------------------------


def format_number(value: Decimal, places: int | None = None) -> str:
    """French notation: decimal comma, non-breaking space between thousands, no trailing zeros
    unless `places` fixes the number of decimals."""
    if not value.is_finite() or abs(value.adjusted()) > 15:
        return f"{value:.3E}".replace(".", ",")
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    elif value == value.to_integral_value():
        value = value.quantize(Decimal(1))
    else:
        value = value.normalize()
    if value == 0:
        value = abs(value)
    text = format(value, "f")
    sign = "-" if text.startswith("-") else ""
    integer, _, fraction = text.lstrip("-").partition(".")
    groups: list[str] = []
    while len(integer) > 3:
        groups.insert(0, integer[-3:])
        integer = integer[:-3]
    groups.insert(0, integer)
    grouped = NBSP.join(groups)
    return f"{sign}{grouped},{fraction}" if fraction else f"{sign}{grouped}"


def with_unit(number: str, unit_label: str) -> str:
    """`72,5 kg`; a unit that reads as a ratio (`/min`, `/10`) sticks to the number."""
    if not unit_label or unit_label.startswith("/"):
        return f"{number}{unit_label}"
    return f"{number}{NBSP}{unit_label}"


def format_quantity(value: Decimal, unit_label: str, places: int | None = None) -> str:
    return with_unit(format_number(value, places), unit_label)


def format_measure(value: MeasureValue) -> str:
    """The value as shown on a card: `72,5 kg`, `120/80 mmHg`."""
    definition = value.definition
    numbers = "/".join(format_number(value.values[s.key]) for s in definition.series)
    return with_unit(numbers, definition.unit_label)


def join_fr(items: Iterable[str], last: str = "ou") -> str:
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def _echo(text: str) -> str:
    """User input quoted back in a message, cut short: messages must not carry a payload."""
    text = " ".join(text.split())
    return text if len(text) <= _ECHO_MAX else f"{text[: _ECHO_MAX - 1]}…"


# --- Validation ------------------------------------------------------------------------------


def parse_number(raw: object, *, field: str) -> Decimal:
    """A finite Decimal from a form or API value; accepts `72,5` and `1 250`."""
    if isinstance(raw, bool):
        raise InvalidMeasure("La valeur doit être un nombre.", field=field, code="value")
    if isinstance(raw, Decimal):
        number = raw
    elif isinstance(raw, int):
        number = Decimal(raw)
    elif isinstance(raw, float):
        number = Decimal(repr(raw))
    elif isinstance(raw, str):
        text = re.sub(r"[\s\u00a0\u202f]", "", raw).replace(",", ".")
        if not text:
            raise InvalidMeasure("La valeur est obligatoire.", field=field, code="required")
        if len(text) > 32 or not _NUMBER_RE.fullmatch(text):
            raise InvalidMeasure(
                f"« {_echo(raw)} » n'est pas un nombre.", field=field, code="value"
            )
        number = Decimal(text)
    else:
        raise InvalidMeasure("La valeur doit être un nombre.", field=field, code="value")
    if not number.is_finite():
        raise InvalidMeasure("La valeur doit être un nombre fini.", field=field, code="value")
    return number


def _writable(key: str) -> MeasureDefinition:
    definition = get_measure(key)
    if not definition.writable:
        raise InvalidMeasure(
            "L'IMC est calculé à partir du poids et de la taille : il ne se saisit pas et ne "
            "s'envoie pas. Enregistrez plutôt le poids et la taille.",
            field="key",
            code="business-rule",
        )
    return definition


def _accepted_unit(definition: MeasureDefinition, ucum: str | None) -> Unit:
    if ucum is None or not ucum.strip():
        return definition.canonical_unit
    unit = definition.unit(ucum.strip())
    if unit is None:
        choices = join_fr(unit.ucum for unit in definition.listed_units)
        raise InvalidMeasure(
            f"Unité « {_echo(ucum)} » non acceptée pour {definition.subject} : utilisez {choices}.",
            field="unit",
            code="code-invalid",
        )
    return unit


def _raw_values(
    definition: MeasureDefinition, value: Number | Mapping[str, Number]
) -> dict[str, Decimal]:
    if definition.components:
        if not isinstance(value, Mapping):
            names = join_fr((c.label.lower() for c in definition.components), "et")
            raise InvalidMeasure(
                f"{definition.label} : saisissez deux valeurs, {names}.",
                field=VALUE,
                code="required",
            )
        unknown = set(value) - {c.key for c in definition.components}
        if unknown:
            raise InvalidMeasure(
                f"Composant « {_echo(sorted(map(str, unknown))[0])} » inconnu pour "
                f"{definition.subject}.",
                field=VALUE,
                code="structure",
            )
        raw = {}
        for component in definition.components:
            if value.get(component.key) is None:
                raise InvalidMeasure(
                    f"{definition.label} : la valeur {component.label.lower()} est obligatoire.",
                    field=component.key,
                    code="required",
                )
            raw[component.key] = parse_number(value[component.key], field=component.key)
        return raw
    if isinstance(value, Mapping):
        raise InvalidMeasure(
            f"{definition.label} : une seule valeur est attendue.", field=VALUE, code="structure"
        )
    return {VALUE: parse_number(value, field=VALUE)}


def _to_decimal(exact: Fraction, places: int) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        quotient = Decimal(exact.numerator) / Decimal(exact.denominator)
        rounded = quotient.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return abs(rounded) if rounded == 0 else rounded


def _implausible(
    definition: MeasureDefinition,
    component: ComponentDefinition,
    shown: Decimal,
    shown_unit: Unit,
    entered: Decimal | None,
    entered_unit: Unit,
) -> InvalidMeasure:
    text = f"{component.phrase} de {format_quantity(shown, shown_unit.label)}"
    if entered is not None:
        text += f" ({format_quantity(entered, entered_unit.label)})"
    low = format_number(component.minimum)
    high = format_quantity(component.maximum, definition.unit_label)
    if definition.unit_label.startswith("/"):
        low = format_quantity(component.minimum, definition.unit_label)
    return InvalidMeasure(
        f"{text} n'est pas plausible (entre {low} et {high}).", field=component.key, code="value"
    )


def _plausible(
    definition: MeasureDefinition, component: ComponentDefinition, raw: Decimal, unit: Unit
) -> Decimal:
    if raw.adjusted() > _MAX_ADJUSTED_EXPONENT:
        raise _implausible(definition, component, raw, unit, None, unit)
    raw = raw.quantize(_INPUT_QUANTUM, ROUND_HALF_UP)
    canonical = _to_decimal(unit.to_canonical(raw), definition.decimals)
    if not component.minimum <= canonical <= component.maximum:
        converted = not unit.is_identity
        raise _implausible(
            definition,
            component,
            canonical if converted else raw,
            definition.canonical_unit,
            raw if converted else None,
            unit,
        )
    return canonical


def check_date(at: object, *, now: dt.datetime | None = None) -> dt.date | dt.datetime:
    """The date of a measure: aware if it has a time, not in the future, not before 1900."""
    now = now or clock.now()
    if isinstance(at, dt.datetime):
        if at.utcoffset() is None:
            raise InvalidMeasure(
                "La date et l'heure de la mesure doivent préciser le fuseau horaire.",
                field="at",
                code="value",
            )
        future = at > now + FUTURE_TOLERANCE
        day = at.date()
    elif isinstance(at, dt.date):
        future = at > (now.astimezone(dt.UTC) + _AHEAD_MOST).date()
        day = at
    else:
        raise InvalidMeasure("La date de la mesure est obligatoire.", field="at", code="required")
    if future:
        raise InvalidMeasure(
            "La date de la mesure ne peut pas être dans le futur.", field="at", code="value"
        )
    if day < EARLIEST_DATE:
        raise InvalidMeasure(
            "La date de la mesure ne peut pas être antérieure au 1er janvier 1900.",
            field="at",
            code="value",
        )
    return at


def _check_moment(definition: MeasureDefinition, code: str | None) -> str | None:
    if code is None or not code.strip():
        return None
    if not definition.moments:
        raise InvalidMeasure(
            "Le moment de la mesure ne s'applique qu'à la glycémie.",
            field="moment",
            code="business-rule",
        )
    moment = definition.moment(code.strip())
    if moment is None:
        raise InvalidMeasure(
            f"Moment de la mesure « {_echo(code)} » inconnu.", field="moment", code="code-invalid"
        )
    return moment.code


def _check_reason(reason: str | None) -> str | None:
    if reason is None or not reason.strip():
        return None
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidMeasure(
            f"Le motif de la mesure ne doit pas dépasser {REASON_MAX_LENGTH} caractères.",
            field="reason",
            code="value",
        )
    return reason


def validate_measure(
    key: str,
    value: Number | Mapping[str, Number],
    unit: str | None = None,
    *,
    at: dt.date | dt.datetime,
    moment: str | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> MeasureValue:
    """Check a measure entered by the holder or sent by an app and normalise it.

    `value` is a number (or a French-formatted string) for single-value measures and a mapping
    `{"systolic": …, "diastolic": …}` for blood pressure; `unit` is a UCUM code among the
    measure's accepted units (the canonical unit when omitted). The value is converted to the
    canonical unit and the entered quantity kept in `original`.

    Raises `InvalidMeasure` (French message, `field`, FHIR IssueType `code`) for an unknown or
    computed measure, a unit not accepted, a value that is not a number or not plausible,
    blood pressure with systolic ≤ diastolic, a date in the future or without time zone, an
    unknown glucose moment, or a reason longer than 500 characters.
    """
    definition = _writable(key)
    accepted = _accepted_unit(definition, unit)
    raw = _raw_values(definition, value)
    values = {
        component.key: _plausible(definition, component, raw[component.key], accepted)
        for component in definition.series
    }
    if definition.key == BLOOD_PRESSURE and values[SYSTOLIC] <= values[DIASTOLIC]:
        label = definition.unit_label
        raise InvalidMeasure(
            f"La pression systolique ({format_quantity(values[SYSTOLIC], label)}) doit être "
            f"supérieure à la pression diastolique ({format_quantity(values[DIASTOLIC], label)}).",
            field=SYSTOLIC,
            code="business-rule",
        )
    original = None
    if not accepted.is_identity and not definition.components:
        original = Quantity(raw[VALUE], accepted.ucum)
    return MeasureValue(
        key=definition.key,
        values=values,
        unit=definition.ucum,
        at=check_date(at, now=now),
        original=original,
        moment=_check_moment(definition, moment),
        reason=_check_reason(reason),
    )


# --- BMI -------------------------------------------------------------------------------------


def compute_bmi(weight_kg: Decimal | int, height_cm: Decimal | int) -> Decimal:
    """Body-mass index in kg/m², one decimal (weight / height²)."""
    weight, height = Decimal(weight_kg), Decimal(height_cm)
    if weight <= 0 or height <= 0:
        raise InvalidMeasure(
            "Le poids et la taille doivent être positifs pour calculer l'IMC.",
            field=BMI,
            code="value",
        )
    metres = height / 100
    return (weight / (metres * metres)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def bmi_from_latest(
    weight: MeasureValue | None, height: MeasureValue | None
) -> MeasureValue | None:
    """The BMI of the latest weight and height, dated by the later of the two.

    None when either is missing or when they give an implausible BMI (a child's old height with
    today's weight, say): showing no BMI beats showing a wrong one.
    """
    if weight is None or height is None:
        return None
    if weight.key != WEIGHT or height.key != HEIGHT:
        raise ValueError("bmi_from_latest expects a weight and a height")
    definition = get_measure(BMI)
    bmi = compute_bmi(weight.value, height.value)
    if not definition.minimum <= bmi <= definition.maximum:
        return None
    at = max(weight.at, height.at, key=instant)
    return MeasureValue(key=BMI, values={VALUE: bmi}, unit=definition.ucum, at=at)
