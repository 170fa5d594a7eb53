"""FHIR Observations and feeding Bundles ⇄ measures (`carnet.profile.observations`)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from carnet.profile.measures import (
    PARIS,
    VALUE,
    InvalidMeasure,
    MeasureValue,
    Quantity,
    bmi_from_latest,
    catalogue,
    get_measure,
    validate_measure,
)
from carnet.profile.observations import (
    EXT_MOMENT,
    EXT_ORIGINAL,
    EXT_REASON,
    observation_from_fhir,
    observation_to_fhir,
    parse_feeding_bundle,
)
from tests.paths import FHIR_DIR

NOW = dt.datetime(2025, 3, 10, 11, 0, tzinfo=dt.UTC)
AT = dt.datetime(2025, 3, 9, 8, 30, tzinfo=PARIS)
MESURES = FHIR_DIR / "mesures"
PATIENT = "Patient/ExamplefrPatient001"

SAMPLES: dict[str, Any] = {
    "body-weight": ("72.5", None),
    "body-height": ("1.76", "m"),
    "body-temperature": ("100.4", "[degF]"),
    "blood-pressure": ({"systolic": 131, "diastolic": 84}, None),
    "heart-rate": (58, None),
    "oxygen-saturation": ("96.5", None),
    "respiratory-rate": (18, None),
    "glucose": ("1,12", "g/L"),
    "hba1c": ("7.1", None),
    "head-circumference": ("34.5", None),
    "waist-circumference": (88, None),
    "pain": (6, None),
    "steps": (10500, None),
}


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MESURES / name).read_text(encoding="utf-8"))
    return loaded


def _measure(key: str, **kwargs: Any) -> MeasureValue:
    value, unit = SAMPLES[key]
    kwargs.setdefault("at", AT)
    return validate_measure(key, value, unit, now=NOW, **kwargs)


def _to_fhir(measure: MeasureValue, **kwargs: Any) -> dict[str, Any]:
    return observation_to_fhir(measure, id="obs-1", patient_reference=PATIENT, **kwargs)


def _refused(resource: dict[str, Any]) -> InvalidMeasure:
    with pytest.raises(InvalidMeasure) as caught:
        observation_from_fhir(resource, now=NOW)
    return caught.value


# --- The ANS examples ------------------------------------------------------------------------


def test_ans_feeding_bundle_example_is_accepted():
    parsed = parse_feeding_bundle(_example("Bundle-bundle-example.json"), now=NOW)
    measure = parsed.observation
    assert measure.key == "body-weight"
    assert measure.value == Decimal(71)
    assert measure.unit == "kg"
    assert measure.at == dt.datetime(
        2022, 8, 22, 1, 56, 16, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert measure.reason == "Mon nouveau poids !"
    assert parsed.observation_full_url == "urn:uuid:5138af77-df7e-4b9d-ba17-07ba3ebb950a"
    device = parsed.device
    assert device is not None
    assert device.full_url == "urn:uuid:d36bfdb6-b1b1-4efd-9cb9-d217a8696575"
    assert (device.name, device.manufacturer, device.model_number) == (
        "Ma balance",
        "OMRONHEALTHCARE",
        "HEM-9200T",
    )
    assert device.system_id == "FE-ED-AB-AA-DE-AD-77-C5"
    assert device.resource["resourceType"] == "Device"


def test_ans_blood_pressure_example_is_accepted():
    measure = observation_from_fhir(_example("Observation-ExampleMesFrObservationBP001.json"))
    assert measure.key == "blood-pressure"
    assert measure.values == {"systolic": Decimal(107), "diastolic": Decimal(60)}
    assert measure.unit == "mm[Hg]"
    # The example gives the day only: it stays a date, not a made-up midnight.
    assert measure.at == dt.date(2012, 9, 17)


def test_ans_glucose_example_is_refused_because_its_code_and_unit_disagree():
    """The guide's glucose example codes LOINC 4548-4 (HbA1c, in %) but gives 92 mg/dL, a blood
    glucose. Storing it as an HbA1c of 92 % would be false, and relabelling it as a glucose would
    be guessing: a national record must do neither. We refuse it, naming the unit of the element
    at fault: this example of the guide breaks the guide's own bindings (JDV_J154 / JDV_J163)."""
    error = _refused(_example("Observation-ExampleMesObservationGlucose001.json"))
    assert error.field == "Observation.valueQuantity.code"
    assert error.code == "code-invalid"
    assert error.message == "Unité « mg/dL » non acceptée pour l'HbA1c : utilisez % ou mmol/mol."


def test_ans_glucose_example_with_a_glucose_code_is_accepted_with_its_moment():
    # The rest of the example is sound: with the blood-glucose code it goes through, its moment
    # (coded in the NOS copy of LOINC) and its reason kept; number of days is not modelled.
    example = _example("Observation-ExampleMesObservationGlucose001.json")
    example["code"]["coding"][0]["code"] = "2345-7"
    measure = observation_from_fhir(example, now=NOW)
    assert measure.key == "glucose"
    assert measure.value == Decimal(92)
    assert measure.moment == "16915-1"
    assert measure.reason == "Malaise du patient"
    assert measure.at == dt.date(2022, 11, 6)


# --- Writing, and the round trip -------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_round_trip_gives_the_same_measure(key):
    measure = _measure(key, reason="Suivi mensuel")
    resource = _to_fhir(measure, performer_reference=PATIENT)
    # Valid FHIR R4, plain JSON (numbers are numbers), and our own parser takes it back whole.
    Observation.model_validate(resource)
    assert json.loads(json.dumps(resource)) == resource
    assert observation_from_fhir(resource, now=NOW) == measure


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_written_observation_follows_the_guide_profile(key):
    definition = get_measure(key)
    resource = _to_fhir(_measure(key))
    assert resource["meta"]["profile"] == [definition.profile]
    assert resource["status"] == "final"
    assert resource["category"][0]["coding"][0]["code"] == "vital-signs"
    assert resource["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": definition.loinc,
        "display": definition.loinc_display,
    }
    quantities = [c["valueQuantity"] for c in resource.get("component", [])] or [
        resource["valueQuantity"]
    ]
    for quantity in quantities:
        assert quantity["system"] == "http://unitsofmeasure.org"
        assert quantity["code"] == definition.ucum
        assert quantity["unit"] == definition.ucum_display


def test_written_units_follow_the_ig_patterns_for_steps_and_pain():
    steps = _to_fhir(_measure("steps"))["valueQuantity"]
    assert (steps["code"], steps["unit"]) == ("1/(24.h)", "steps/day")
    pain = _to_fhir(_measure("pain"))["valueQuantity"]
    assert (pain["code"], pain["unit"]) == ("1", "Level")


def test_head_circumference_carries_both_loinc_codes_of_the_guide():
    resource = _to_fhir(_measure("head-circumference"))
    assert [c["code"] for c in resource["code"]["coding"]] == ["9843-4", "8287-5"]
    resource["code"]["coding"] = [{"system": "http://loinc.org", "code": "8287-5"}]
    assert observation_from_fhir(resource, now=NOW).key == "head-circumference"


def test_converted_value_carries_its_original_data():
    measure = _measure("glucose")
    assert measure.value == Decimal(112)
    resource = _to_fhir(measure)
    assert resource["valueQuantity"]["code"] == "mg/dL"
    [original] = [e for e in resource["extension"] if e["url"] == EXT_ORIGINAL]
    parts = {part["url"]: part for part in original["extension"]}
    assert parts["has-been-converted"]["valueBoolean"] is True
    assert parts["original-code"]["valueCodeableConcept"]["coding"][0]["code"] == "2345-7"
    assert parts["original-value"]["valueQuantity"]["value"] == 1.12
    assert parts["original-value"]["valueQuantity"]["code"] == "g/L"


def test_converted_unit_from_an_app_is_accepted_and_kept_as_original():
    resource = _to_fhir(_measure("body-weight"))
    resource["valueQuantity"] = {"value": 70500, "unit": "g", "system": UCUM, "code": "g"}
    measure = observation_from_fhir(resource, now=NOW)
    assert measure.value == Decimal("70.5")
    assert measure.original == Quantity(Decimal(70500), "g")


def test_original_data_sent_by_the_device_wins():
    measure = _measure("body-weight")
    resource = _to_fhir(measure)
    resource["extension"] = [
        {
            "url": EXT_ORIGINAL,
            "extension": [
                {"url": "has-been-converted", "valueBoolean": True},
                {
                    "url": "original-value",
                    "valueQuantity": {"value": 159.8, "system": UCUM, "code": "[lb_av]"},
                },
            ],
        }
    ]
    assert observation_from_fhir(resource, now=NOW).original == Quantity(
        Decimal("159.8"), "[lb_av]"
    )


def test_glucose_moment_is_written_and_read_back():
    measure = _measure("glucose", moment="MED-1278")
    resource = _to_fhir(measure)
    [moment] = [e for e in resource["extension"] if e["url"] == EXT_MOMENT]
    assert moment["valueCodeableConcept"]["coding"][0]["system"] == (
        "https://mos.esante.gouv.fr/NOS/TRE_R308-TAASIP/FHIR/TRE-R308-TAASIP"
    )
    assert observation_from_fhir(resource, now=NOW).moment == "MED-1278"


def test_device_reference_is_written():
    resource = _to_fhir(_measure("heart-rate"), device_reference="urn:uuid:1234")
    assert resource["device"] == {"reference": "urn:uuid:1234"}


def test_computed_bmi_is_written_but_refused_on_input():
    weight = _measure("body-weight")
    height = validate_measure("body-height", 170, at=dt.date(2024, 1, 5), now=NOW)
    bmi = bmi_from_latest(weight, height)
    assert bmi is not None
    resource = _to_fhir(bmi)
    Observation.model_validate(resource)
    assert resource["valueQuantity"]["value"] == 25.1
    error = _refused(resource)
    assert error.field == "Observation.code"
    assert error.code == "business-rule"


# --- Refusals name the FHIR element ----------------------------------------------------------

UCUM = "http://unitsofmeasure.org"
Mutation = Callable[[dict[str, Any]], object]


def _set(path: str, value: Any) -> Mutation:
    def mutate(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = resource
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()

REFUSALS: list[tuple[str, str, Mutation, str]] = [
    ("body-weight", "status", _set("status", "preliminary"), "Observation.status"),
    ("body-weight", "no category", _set("category", _DELETE), "Observation.category"),
    (
        "body-weight",
        "laboratory category",
        _set("category.0.coding.0.code", "laboratory"),
        "Observation.category",
    ),
    (
        "body-weight",
        "unknown LOINC",
        _set("code.coding", [{"system": "http://loinc.org", "code": "2093-3"}]),
        "Observation.code.coding",
    ),
    (
        "body-weight",
        "no LOINC system",
        _set("code.coding", [{"system": "http://snomed.info/sct", "code": "27113001"}]),
        "Observation.code.coding",
    ),
    (
        "body-weight",
        "profile of another measure",
        _set("meta.profile", [get_measure("body-height").profile]),
        "Observation.meta.profile",
    ),
    ("body-weight", "no subject", _set("subject", _DELETE), "Observation.subject"),
    (
        "body-weight",
        "period instead of dateTime",
        lambda r: r.update(
            effectiveDateTime=None, effectivePeriod={"start": "2025-03-09T08:00:00+01:00"}
        ),
        "Observation.effectiveDateTime",
    ),
    (
        "body-weight",
        "month only",
        _set("effectiveDateTime", "2025-03"),
        "Observation.effectiveDateTime",
    ),
    (
        "body-weight",
        "future",
        _set("effectiveDateTime", "2025-03-12T08:00:00+01:00"),
        "Observation.effectiveDateTime",
    ),
    (
        "body-weight",
        "no time zone",
        _set("effectiveDateTime", "2025-03-09T08:00:00"),
        "Observation.effectiveDateTime",
    ),
    ("body-weight", "no value", _set("valueQuantity", _DELETE), "Observation.valueQuantity"),
    (
        "body-weight",
        "string value",
        lambda r: r.update(valueQuantity=None, valueString="72 kg"),
        "Observation.valueQuantity",
    ),
    (
        "body-weight",
        "not UCUM",
        _set("valueQuantity.system", "http://example.org/units"),
        "Observation.valueQuantity.system",
    ),
    (
        "body-weight",
        "no unit code",
        _set("valueQuantity.code", _DELETE),
        "Observation.valueQuantity.code",
    ),
    (
        "body-weight",
        "pounds",
        _set("valueQuantity.code", "[lb_av]"),
        "Observation.valueQuantity.code",
    ),
    (
        "body-weight",
        "implausible",
        _set("valueQuantity.value", 720),
        "Observation.valueQuantity.value",
    ),
    (
        "body-weight",
        "comparator",
        _set("valueQuantity.comparator", "<"),
        "Observation.valueQuantity.comparator",
    ),
    (
        "body-weight",
        "malformed value",
        _set("valueQuantity.value", "lourd"),
        "Observation.valueQuantity.value",
    ),
    ("body-weight", "unknown element", _set("poids", 72), "Observation.poids"),
    (
        "body-weight",
        "data absent",
        lambda r: r.update(
            valueQuantity=None,
            dataAbsentReason={"coding": [{"system": "http://x.org", "code": "unknown"}]},
        ),
        "Observation.dataAbsentReason",
    ),
    (
        "body-weight",
        "not an Observation",
        _set("resourceType", "Patient"),
        "Observation.resourceType",
    ),
    (
        "blood-pressure",
        "no diastolic",
        lambda r: r["component"].pop(1),
        "Observation.component",
    ),
    (
        "blood-pressure",
        "swapped",
        _set("component.1.valueQuantity.value", 150),
        "Observation.component[0].valueQuantity.value",
    ),
    (
        "blood-pressure",
        "systolic implausible",
        _set("component.0.valueQuantity.value", 400),
        "Observation.component[0].valueQuantity.value",
    ),
    (
        "blood-pressure",
        "diastolic in kPa",
        _set("component.1.valueQuantity.code", "kPa"),
        "Observation.component[1].valueQuantity.code",
    ),
    (
        "blood-pressure",
        "both in kPa",
        lambda r: [c["valueQuantity"].update(code="kPa") for c in r["component"]],
        "Observation.component[0].valueQuantity.code",
    ),
    (
        "blood-pressure",
        "value outside components",
        _set("valueQuantity", {"value": 120, "system": UCUM, "code": "mm[Hg]"}),
        "Observation.valueQuantity",
    ),
    (
        "glucose",
        "unknown moment",
        lambda r: r.setdefault("extension", []).append(
            {
                "url": EXT_MOMENT,
                "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "1-8"}]},
            }
        ),
        "Observation.extension[1].valueCodeableConcept",
    ),
    (
        "glucose",
        "interstitial glucose",
        _set(
            "code.coding",
            [
                {
                    "system": "https://mos.esante.gouv.fr/NOS/TRE_R308-TAASIP/FHIR/TRE-R308-TAASIP",
                    "code": "MED-969",
                }
            ],
        ),
        "Observation.code.coding",
    ),
    (
        "body-weight",
        "reason too long",
        lambda r: r.update(extension=[{"url": EXT_REASON, "valueString": "x" * 501}]),
        "Observation.extension[0].valueString",
    ),
]


@pytest.mark.parametrize(
    ("key", "mutation", "field"),
    [(key, mutation, field) for key, _, mutation, field in REFUSALS],
    ids=[f"{key}: {label}" for key, label, _, _ in REFUSALS],
)
def test_refusal_names_the_fhir_element(key, mutation, field):
    resource = _to_fhir(_measure(key))
    mutation(resource)
    resource = {k: v for k, v in resource.items() if v is not None}
    error = _refused(resource)
    assert error.field == field
    assert error.message
    assert "lourd" not in error.message  # hostile input is not echoed through structure errors


def test_amended_and_corrected_observations_are_accepted():
    for status in ("amended", "corrected"):
        resource = _to_fhir(_measure("heart-rate")) | {"status": status}
        assert observation_from_fhir(resource, now=NOW).value == Decimal(58)


def test_ens_profile_of_the_earlier_generation_is_not_held_against_the_code():
    resource = _to_fhir(_measure("body-weight"))
    resource["meta"]["profile"] = [
        "http://esante.gouv.fr/ci-sis/fhir/StructureDefinition/ENS_FrObservationBodyWeight"
    ]
    assert observation_from_fhir(resource, now=NOW).key == "body-weight"


def test_hba1c_is_accepted_under_the_glucose_profile():
    resource = _to_fhir(_measure("hba1c"))
    resource["meta"]["profile"] = [get_measure("glucose").profile]
    assert observation_from_fhir(resource, now=NOW).value == Decimal("7.1")


def test_non_mapping_input_is_refused():
    with pytest.raises(InvalidMeasure) as caught:
        observation_from_fhir([1, 2])  # type: ignore[arg-type]
    assert caught.value.field == "Observation.resourceType"


# --- Feeding Bundle --------------------------------------------------------------------------


def _bundle() -> dict[str, Any]:
    return _example("Bundle-bundle-example.json")


def _bundle_refused(bundle: dict[str, Any]) -> InvalidMeasure:
    with pytest.raises(InvalidMeasure) as caught:
        parse_feeding_bundle(bundle, now=NOW)
    return caught.value


def test_bundle_device_may_be_referenced_by_its_full_url():
    bundle = _bundle()
    bundle["entry"][1]["resource"]["device"]["reference"] = bundle["entry"][0]["fullUrl"]
    assert parse_feeding_bundle(bundle, now=NOW).device is not None


def test_bundle_without_device_is_accepted():
    bundle = _bundle()
    del bundle["entry"][0]
    del bundle["entry"][0]["resource"]["device"]
    parsed = parse_feeding_bundle(bundle, now=NOW)
    assert parsed.device is None
    assert parsed.observation.value == Decimal(71)


def test_bundle_built_from_our_own_observation_is_accepted():
    measure = _measure("blood-pressure")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0c6a9a40-7d29-4a44-9d41-5b6d0d1f7c1e",
                "resource": _to_fhir(measure),
                "request": {"method": "POST", "url": "Observation"},
            }
        ],
    }
    Bundle.model_validate(bundle)
    assert parse_feeding_bundle(bundle, now=NOW).observation == measure


BUNDLE_REFUSALS: list[tuple[str, Mutation, str]] = [
    ("batch", _set("type", "batch"), "Bundle.type"),
    ("no entry", _set("entry", _DELETE), "Bundle.entry"),
    (
        "two observations",
        lambda b: b["entry"].append(copy.deepcopy(b["entry"][1])),
        "Bundle.entry",
    ),
    ("two devices", lambda b: b["entry"].append(copy.deepcopy(b["entry"][0])), "Bundle.entry"),
    ("only a device", lambda b: b["entry"].pop(1), "Bundle.entry"),
    (
        "a patient",
        lambda b: b["entry"].append({"resource": {"resourceType": "Patient"}}),
        "Bundle.entry[2].resource",
    ),
    (
        "unknown resource type",
        _set("entry.0.resource.resourceType", "Foo"),
        "Bundle.entry[0].resource",
    ),
    ("PUT", _set("entry.1.request.method", "PUT"), "Bundle.entry[1].request"),
    ("wrong url", _set("entry.0.request.url", "Observation"), "Bundle.entry[0].request"),
    (
        "device not referenced",
        _set("entry.1.resource.device", _DELETE),
        "Bundle.entry[1].resource.device.reference",
    ),
    (
        "another device referenced",
        _set("entry.1.resource.device.reference", "Device/elsewhere"),
        "Bundle.entry[1].resource.device.reference",
    ),
    (
        "wrong unit inside",
        _set("entry.1.resource.valueQuantity.code", "[lb_av]"),
        "Bundle.entry[1].resource.valueQuantity.code",
    ),
    (
        "malformed inside",
        _set("entry.1.resource.valueQuantity.value", "beaucoup"),
        "Bundle.entry[1].resource.valueQuantity.value",
    ),
    ("not a bundle", _set("resourceType", "Observation"), "Bundle.resourceType"),
]


@pytest.mark.parametrize(
    ("mutation", "field"),
    [(mutation, field) for _, mutation, field in BUNDLE_REFUSALS],
    ids=[label for label, _, _ in BUNDLE_REFUSALS],
)
def test_bundle_refusal_names_the_element(mutation, field):
    bundle = _bundle()
    mutation(bundle)
    assert _bundle_refused(bundle).field == field


def test_bundle_observation_without_device_entry_may_not_reference_one():
    bundle = _bundle()
    del bundle["entry"][0]
    error = _bundle_refused(bundle)
    assert error.field == "Bundle.entry[0].resource.device.reference"


def test_every_writable_measure_has_a_round_trip_sample():
    assert set(SAMPLES) == {key for key, m in catalogue().items() if m.writable}
    assert all(VALUE in _measure(k).values or get_measure(k).components for k in SAMPLES)


def test_a_feeding_bundle_entry_with_a_non_text_resource_type_is_refused():
    bundle = _example("Bundle-bundle-example.json")
    bundle["entry"][0]["resource"]["resourceType"] = []
    with pytest.raises(InvalidMeasure) as caught:
        parse_feeding_bundle(bundle, now=NOW)
    assert caught.value.field == "Bundle.entry[0].resource"
