"""Catalogue, validation and unit conversion of the health measures (`carnet.profile.measures`)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.core.errors import InvalidInput
from carnet.profile.measures import (
    NBSP,
    PARIS,
    VALUE,
    InvalidMeasure,
    MeasureValue,
    Quantity,
    bmi_from_latest,
    catalogue,
    compute_bmi,
    format_measure,
    format_number,
    get_measure,
    measure_for_loinc,
    validate_measure,
)
from tests.paths import TERMINOLOGY_DIR, needs_reference_data

NOW = dt.datetime(2025, 3, 10, 11, 0, tzinfo=dt.UTC)
AT = dt.datetime(2025, 3, 9, 8, 30, tzinfo=PARIS)

# The measures the issue lists, by key: a catalogue that loses or gains one fails here.
EXPECTED_KEYS = {
    "body-weight",
    "body-height",
    "bmi",
    "body-temperature",
    "blood-pressure",
    "heart-rate",
    "oxygen-saturation",
    "respiratory-rate",
    "glucose",
    "hba1c",
    "head-circumference",
    "waist-circumference",
    "pain",
    "steps",
}

# A typical value of each writable measure, in its canonical unit.
VALID = {
    "body-weight": Decimal("72.5"),
    "body-height": Decimal("175"),
    "body-temperature": Decimal("37.8"),
    "blood-pressure": {"systolic": Decimal(128), "diastolic": Decimal(82)},
    "heart-rate": Decimal(64),
    "oxygen-saturation": Decimal(97),
    "respiratory-rate": Decimal(16),
    "glucose": Decimal(105),
    "hba1c": Decimal("6.8"),
    "head-circumference": Decimal("35.5"),
    "waist-circumference": Decimal(92),
    "pain": Decimal(4),
    "steps": Decimal(8432),
}

# A unit each measure must refuse, and the units the message must offer instead.
WRONG_UNITS = {
    "body-weight": ("lb", "utilisez kg ou g."),
    "body-height": ("[in_i]", "utilisez cm, m ou mm."),
    "body-temperature": ("K", "utilisez Cel ou [degF]."),
    "blood-pressure": ("kPa", "utilisez mm[Hg]."),
    "heart-rate": ("Hz", "utilisez /min."),
    "oxygen-saturation": ("1", "utilisez %."),
    "respiratory-rate": ("/s", "utilisez /min."),
    # JDV_J163 allows "%", but for the IGG and HbA1c, never for a glucose concentration.
    "glucose": ("%", "utilisez mg/dL, g/L ou mmol/L."),
    "hba1c": ("mg/dL", "utilisez % ou mmol/mol."),
    "head-circumference": ("[in_i]", "utilisez cm ou mm."),
    "waist-circumference": ("[in_i]", "utilisez cm ou m."),
    "pain": ("%", "utilisez 1."),
    "steps": ("km", "utilisez 1/(24.h)."),
}

# (measure, value entered, unit entered, expected canonical value, original kept?)
CONVERSIONS = [
    ("body-weight", "70000", "g", Decimal(70), True),
    ("body-weight", "3450", "g", Decimal("3.45"), True),
    ("body-height", "1.75", "m", Decimal(175), True),
    ("body-height", "1755", "mm", Decimal("175.5"), True),
    ("head-circumference", "352", "mm", Decimal("35.2"), True),
    ("waist-circumference", "0.85", "m", Decimal(85), True),
    ("body-temperature", "98.6", "[degF]", Decimal("37.0"), True),
    ("body-temperature", "104", "[degF]", Decimal("40.0"), True),
    ("glucose", "1.0", "g/L", Decimal(100), True),
    ("glucose", "1,26", "g/L", Decimal(126), True),
    ("glucose", "5.5", "mmol/L", Decimal(99), True),
    ("hba1c", "48", "mmol/mol", Decimal("6.5"), True),
    ("hba1c", "53", "mmol/mol", Decimal("7.0"), True),
    # UCUM synonyms apps send: same value, nothing to keep.
    ("heart-rate", "72", "{beats}/min", Decimal(72), False),
    ("respiratory-rate", "16", "{breaths}/min", Decimal(16), False),
    ("steps", "8000", "/d", Decimal(8000), False),
    ("pain", "4", "{score}", Decimal(4), False),
]
# Measures whose guide unit is the only one: converting them would be guessing.
NO_ALTERNATIVE_UNIT = {"blood-pressure", "oxygen-saturation"}


def _validate(key: str, value: object, unit: str | None = None, **kwargs: object) -> MeasureValue:
    kwargs.setdefault("at", AT)
    return validate_measure(key, value, unit, now=NOW, **kwargs)  # type: ignore[arg-type]


def _reference_rows(name: str) -> list[dict[str, str]]:
    with (TERMINOLOGY_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --- Catalogue -------------------------------------------------------------------------------


def test_catalogue_has_the_measures_of_the_issue():
    assert set(catalogue()) == EXPECTED_KEYS
    writable = {key for key, measure in catalogue().items() if measure.writable}
    assert writable == EXPECTED_KEYS - {"bmi"}
    assert set(VALID) == writable
    assert set(WRONG_UNITS) == writable
    converted = {key for key, *_ in CONVERSIONS}
    assert converted | NO_ALTERNATIVE_UNIT == writable


@needs_reference_data
def test_catalogue_matches_the_reference_terminology_table():
    reference = {row["key"]: row for row in _reference_rows("measures.csv")}
    for key, measure in catalogue().items():
        row = reference[key]
        assert measure.profile == row["profile_canonical"]
        assert measure.label.startswith(row["label_fr"])
        assert measure.loinc in row["loinc"]
        assert all(alias in row["note"] for alias in measure.loinc_aliases)
        assert measure.ucum in row["ucum_unit"]


def test_every_measure_has_its_unit_first_and_loinc_codes_are_unique():
    codes: list[str] = []
    for measure in catalogue().values():
        assert measure.canonical_unit.ucum == measure.ucum
        assert measure.canonical_unit.is_identity
        assert measure.minimum < measure.maximum
        codes.extend(measure.loinc_codes)
        codes.extend(component.loinc for component in measure.components)
        assert measure_for_loinc(measure.loinc) is measure
    assert len(codes) == len(set(codes))


def test_blood_pressure_has_systolic_and_diastolic_components():
    bp = get_measure("blood-pressure")
    assert [(c.key, c.loinc) for c in bp.components] == [
        ("systolic", "8480-6"),
        ("diastolic", "8462-4"),
    ]
    assert [s.key for s in get_measure("body-weight").series] == [VALUE]


@needs_reference_data
def test_glucose_moments_are_those_of_jdv_j157():
    j157 = {
        row["code"]
        for row in _reference_rows("measures-value-sets.csv")
        if "J157" in row["value_set"]
    }
    assert {moment.code for moment in get_measure("glucose").moments} == j157
    assert all(not measure.moments for key, measure in catalogue().items() if key != "glucose")


@needs_reference_data
def test_guide_units_for_glucose_stay_within_jdv_j163():
    j163 = {
        row["code"]
        for row in _reference_rows("measures-value-sets.csv")
        if "J163" in row["value_set"]
    }
    assert j163 == {"mg/dL", "%"}
    # What we write (the canonical unit) is always allowed by the closed list.
    assert get_measure("glucose").ucum in j163
    assert get_measure("hba1c").ucum in j163


def test_unknown_measure_is_refused():
    with pytest.raises(InvalidMeasure) as caught:
        _validate("cholesterol", 2)
    assert caught.value.field == "key"
    assert isinstance(caught.value, InvalidInput)


# --- Each measure: valid, out of range (both ends), wrong unit, converted unit ----------------


@pytest.mark.parametrize("key", sorted(VALID))
def test_valid_value_is_kept_in_the_guide_unit(key):
    value = VALID[key]
    measure = _validate(key, value)
    definition = get_measure(key)
    expected = value if isinstance(value, dict) else {VALUE: value}
    assert measure.values == expected
    assert measure.unit == definition.ucum
    assert measure.original is None
    assert measure.at == AT


@pytest.mark.parametrize("key", sorted(VALID))
def test_bounds_are_accepted_and_values_beyond_refused(key):
    definition = get_measure(key)
    step = Decimal(1).scaleb(-definition.decimals)
    for component in definition.series:
        for inside, outside in (
            (component.minimum, component.minimum - step),
            (component.maximum, component.maximum + step),
        ):
            values = _values_with(key, component.key, inside)
            assert _validate(key, values).values[component.key] == inside
            with pytest.raises(InvalidMeasure) as caught:
                _validate(key, _values_with(key, component.key, outside))
            assert caught.value.field == component.key
            assert caught.value.code == "value"
            assert "n'est pas plausible" in caught.value.message


def _values_with(key: str, component: str, value: Decimal) -> object:
    """VALID[key] with one series replaced, keeping systolic > diastolic possible."""
    if component == VALUE:
        return value
    other = "diastolic" if component == "systolic" else "systolic"
    bp = get_measure(key)
    bounds = {c.key: c for c in bp.components}
    # Pair an extreme systolic with the lowest diastolic and the reverse, so only range counts.
    if component == "systolic":
        return {component: value, other: bounds[other].minimum}
    return {component: value, other: bounds[other].maximum}


# Expected texts use plain spaces; the messages put non-breaking ones between number and unit.
TYPING_ERRORS = [
    ("body-weight", 900, "kg", "Un poids de 900 kg n'est pas plausible (entre 0,2 et 500 kg)."),
    (
        "body-temperature",
        375,
        None,
        "Une température de 375 °C n'est pas plausible (entre 25 et 45 °C).",
    ),
    (
        "glucose",
        "1,1",
        "mg/dL",
        "Une glycémie de 1,1 mg/dL n'est pas plausible (entre 10 et 2 000 mg/dL).",
    ),
    (
        "glucose",
        120,
        "mmol/L",
        "Une glycémie de 2 162 mg/dL (120 mmol/L) n'est pas plausible (entre 10 et 2 000 mg/dL).",
    ),
    ("pain", 12, None, "Un niveau de douleur de 12/10 n'est pas plausible (entre 0/10 et 10/10)."),
    (
        "oxygen-saturation",
        "0.97",
        None,
        "Une saturation en oxygène de 0,97 % n'est pas plausible (entre 50 et 100 %).",
    ),
]


@pytest.mark.parametrize(("key", "value", "unit", "message"), TYPING_ERRORS)
def test_typing_errors_get_a_clear_french_message(key, value, unit, message):
    with pytest.raises(InvalidMeasure) as caught:
        _validate(key, value, unit)
    assert caught.value.message.replace(NBSP, " ") == message
    assert f" {NBSP}" not in caught.value.message


@pytest.mark.parametrize("key", sorted(WRONG_UNITS))
def test_wrong_unit_is_refused_with_the_accepted_ones(key):
    unit, advice = WRONG_UNITS[key]
    with pytest.raises(InvalidMeasure) as caught:
        _validate(key, VALID[key], unit)
    assert caught.value.field == "unit"
    assert caught.value.code == "code-invalid"
    definition = get_measure(key)
    assert caught.value.message == (
        f"Unité « {unit} » non acceptée pour {definition.subject} : {advice}"
    )


def test_wrong_unit_message_for_weight_in_pounds():
    with pytest.raises(InvalidMeasure) as caught:
        _validate("body-weight", 154, "lb")
    assert caught.value.message == "Unité « lb » non acceptée pour le poids : utilisez kg ou g."


@pytest.mark.parametrize(("key", "entered", "unit", "expected", "keeps_original"), CONVERSIONS)
def test_converted_unit_is_normalised_and_original_kept(
    key, entered, unit, expected, keeps_original
):
    measure = _validate(key, entered, unit)
    assert measure.value == expected
    assert measure.unit == get_measure(key).ucum
    if keeps_original:
        assert measure.original == Quantity(Decimal(entered.replace(",", ".")), unit)
    else:
        assert measure.original is None


@pytest.mark.parametrize("key", sorted(NO_ALTERNATIVE_UNIT))
def test_measures_without_alternative_unit(key):
    assert [unit.ucum for unit in get_measure(key).listed_units] == [get_measure(key).ucum]


def test_out_of_range_is_judged_after_conversion():
    # 900 g is a plausible newborn weight; 900 kg is not.
    assert _validate("body-weight", 900, "g").value == Decimal("0.9")
    with pytest.raises(InvalidMeasure):
        _validate("body-weight", 600000, "g")
    # 45 mmol/L (811 mg/dL) is a real hyperglycaemia; 45 mg/dL too, for a hypoglycaemia.
    assert _validate("glucose", 45, "mmol/L").value == Decimal(811)
    assert _validate("glucose", 45, "mg/dL").value == Decimal(45)


@given(data=st.data())
def test_any_plausible_value_round_trips_and_anything_beyond_is_refused(data):
    key = data.draw(st.sampled_from(sorted(k for k, v in VALID.items() if not isinstance(v, dict))))
    definition = get_measure(key)
    inside = data.draw(
        st.decimals(definition.minimum, definition.maximum, places=definition.decimals)
    )
    assert _validate(key, inside).value == inside
    step = Decimal(1).scaleb(-definition.decimals)
    above = data.draw(
        st.decimals(
            definition.maximum + step, definition.maximum * 1000, places=definition.decimals
        )
    )
    with pytest.raises(InvalidMeasure):
        _validate(key, above)


@given(data=st.data())
def test_every_alternative_unit_converts_into_the_guide_unit(data):
    key = data.draw(st.sampled_from(sorted({k for k, *_ in CONVERSIONS})))
    definition = get_measure(key)
    unit = data.draw(st.sampled_from(definition.units))
    target = data.draw(
        st.decimals(definition.minimum, definition.maximum, places=definition.decimals)
    )
    # Enter the target in `unit` (inverse conversion), then check we land back on it.
    entered = (target - Decimal(unit.offset.numerator) / unit.offset.denominator) / (
        Decimal(unit.factor.numerator) / unit.factor.denominator
    )
    try:
        measure = _validate(key, entered.quantize(Decimal("1e-9")), unit.ucum)
    except InvalidMeasure:
        # Rounding the entered value may push a bound value just outside: only at the bounds.
        assert target in (definition.minimum, definition.maximum)
        return
    tolerance = Decimal(1).scaleb(-definition.decimals)
    assert abs(measure.value - target) <= tolerance


# --- Values, blood pressure, dates, moments, reasons ------------------------------------------


@pytest.mark.parametrize(
    ("entered", "expected"),
    [
        ("72,5", Decimal("72.5")),
        (" 72.5 ", Decimal("72.5")),
        (72.5, Decimal("72.5")),
        (72, Decimal(72)),
    ],
)
def test_numbers_are_read_the_french_way_too(entered, expected):
    assert _validate("body-weight", entered).value == expected


def test_steps_accept_thousands_separators():
    assert _validate("steps", f"12{NBSP}345").value == Decimal(12345)
    assert _validate("steps", "12 345").value == Decimal(12345)


@pytest.mark.parametrize(
    "entered", ["abc", "", "7O", "1e3", True, None, float("nan"), Decimal("Infinity"), [72]]
)
def test_what_is_not_a_number_is_refused(entered):
    with pytest.raises(InvalidMeasure) as caught:
        _validate("body-weight", entered)
    assert caught.value.field == VALUE


def test_huge_numbers_are_refused_without_exhausting_memory():
    with pytest.raises(InvalidMeasure) as caught:
        _validate("body-weight", Decimal("1E+999999999"))
    assert "n'est pas plausible" in caught.value.message
    # Tiny ones round to zero, below every minimum.
    with pytest.raises(InvalidMeasure):
        _validate("body-weight", Decimal("1E-999999999"))


def test_blood_pressure_needs_both_components():
    with pytest.raises(InvalidMeasure) as caught:
        _validate("blood-pressure", {"systolic": 120})
    assert caught.value.field == "diastolic"
    with pytest.raises(InvalidMeasure) as caught:
        _validate("blood-pressure", 120)
    assert caught.value.field == VALUE
    with pytest.raises(InvalidMeasure) as caught:
        _validate("blood-pressure", {"systolic": 120, "diastolic": 80, "mean": 93})
    assert caught.value.field == VALUE


@pytest.mark.parametrize(("systolic", "diastolic"), [(80, 120), (90, 90)])
def test_blood_pressure_systolic_must_exceed_diastolic(systolic, diastolic):
    with pytest.raises(InvalidMeasure) as caught:
        _validate("blood-pressure", {"systolic": systolic, "diastolic": diastolic})
    assert caught.value.field == "systolic"
    assert caught.value.message == (
        f"La pression systolique ({systolic}{NBSP}mmHg) doit être supérieure à la pression "
        f"diastolique ({diastolic}{NBSP}mmHg)."
    )


def test_blood_pressure_component_out_of_range_names_it():
    with pytest.raises(InvalidMeasure) as caught:
        _validate("blood-pressure", {"systolic": 400, "diastolic": 80})
    assert caught.value.field == "systolic"
    assert caught.value.message.startswith(f"Une pression systolique de 400{NBSP}mmHg")


def test_blood_pressure_is_formatted_as_a_pair():
    measure = _validate("blood-pressure", {"systolic": "121", "diastolic": "79"})
    assert format_measure(measure) == f"121/79{NBSP}mmHg"
    with pytest.raises(ValueError, match="components"):
        _ = measure.value


@pytest.mark.parametrize(
    "at",
    [
        NOW + dt.timedelta(hours=1),
        dt.date(2025, 3, 12),
        dt.datetime(1899, 12, 31, 12, tzinfo=dt.UTC),
        dt.date(1850, 1, 1),
        dt.datetime(2025, 3, 9, 8, 30),  # noqa: DTZ001 - a naive datetime is the error under test
        "2025-03-09",
    ],
)
def test_impossible_dates_are_refused(at):
    with pytest.raises(InvalidMeasure) as caught:
        _validate("body-weight", 70, at=at)
    assert caught.value.field == "at"


@pytest.mark.parametrize(
    "at",
    [
        NOW + dt.timedelta(minutes=3),  # a device clock slightly ahead
        dt.date(2025, 3, 10),
        dt.date(2025, 3, 11),  # already the 11th in Nouméa or Kiritimati
        dt.date(1900, 1, 1),
    ],
)
def test_dates_on_the_edge_are_accepted(at):
    assert _validate("body-weight", 70, at=at).at == at


def test_bare_date_sorts_at_noon_in_paris():
    measure = _validate("body-weight", 70, at=dt.date(2025, 3, 1))
    assert measure.instant == dt.datetime(2025, 3, 1, 12, tzinfo=PARIS)


def test_glucose_moment_is_checked_against_jdv_j157():
    measure = _validate("glucose", 92, moment="53049-3")
    assert measure.moment == "53049-3"
    with pytest.raises(InvalidMeasure) as caught:
        _validate("glucose", 92, moment="12345-6")
    assert caught.value.field == "moment"
    with pytest.raises(InvalidMeasure) as caught:
        _validate("body-weight", 70, moment="53049-3")
    assert caught.value.field == "moment"


def test_reason_is_trimmed_and_bounded():
    assert _validate("body-weight", 70, reason="  suivi  ").reason == "suivi"
    assert _validate("body-weight", 70, reason="   ").reason is None
    with pytest.raises(InvalidMeasure) as caught:
        _validate("body-weight", 70, reason="x" * 501)
    assert caught.value.field == "reason"


def test_echoed_input_is_cut_short():
    with pytest.raises(InvalidMeasure) as caught:
        _validate("body-weight", 70, "<script>" + "a" * 200)
    assert len(caught.value.message) < 120


# --- BMI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight", "height", "bmi"),
    [
        (70, 175, Decimal("22.9")),
        (Decimal("3.5"), 50, Decimal("14.0")),
        (120, 180, Decimal("37.0")),
    ],
)
def test_compute_bmi(weight, height, bmi):
    assert compute_bmi(weight, height) == bmi


def test_compute_bmi_refuses_zero_height():
    with pytest.raises(InvalidMeasure):
        compute_bmi(70, 0)


def test_bmi_is_computed_never_written():
    with pytest.raises(InvalidMeasure) as caught:
        _validate("bmi", 22)
    assert caught.value.code == "business-rule"
    assert "calculé à partir du poids et de la taille" in caught.value.message


def test_bmi_from_latest_weight_and_height():
    weight = _validate("body-weight", "81.2", at=dt.datetime(2025, 3, 9, 7, tzinfo=PARIS))
    height = _validate("body-height", 180, at=dt.date(2020, 6, 1))
    bmi = bmi_from_latest(weight, height)
    assert bmi is not None
    assert bmi.value == Decimal("25.1")
    assert bmi.unit == "kg/m2"
    assert bmi.at == weight.at
    assert bmi_from_latest(weight, None) is None
    assert bmi_from_latest(None, height) is None


def test_bmi_from_mismatched_weight_and_height_is_not_shown():
    # A newborn's length with an adult's weight gives a BMI no one has.
    weight = _validate("body-weight", 95)
    height = _validate("body-height", 50)
    assert bmi_from_latest(weight, height) is None


# --- Formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (Decimal("70.500"), None, "70,5"),
        (Decimal("12345"), None, f"12{NBSP}345"),
        (Decimal("1234567.25"), None, f"1{NBSP}234{NBSP}567,25"),
        (Decimal("-0.000"), None, "0"),
        (Decimal("2.5"), 2, "2,50"),
        (Decimal("1E+3"), None, f"1{NBSP}000"),
    ],
)
def test_format_number_french(value, places, text):
    assert format_number(value, places) == text
