"""Health measures through the FHIR API: `POST Observation` for every measure (valid,
implausible, wrong unit, converted unit), the ANS examples, the feeding Bundle posted to the
base URL, read, search, correction; every refusal an OperationOutcome."""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from carnet.audit.models import AuditEvent
from carnet.fhir import capability
from carnet.profile import measures
from carnet.profile.models import Measure, MeasureSource
from carnet.profile.observations import OBSERVATION_CATEGORY, UCUM
from tests.paths import FHIR_DIR
from tests.profile.conftest import outcome

pytestmark = pytest.mark.django_db

MESURES = FHIR_DIR / "mesures"
WHEN = "2025-03-09T08:30:00+01:00"

# measure → (valid value(s), stored, implausible value(s))
CASES = {
    "body-weight": (72.5, {"value": "72.500"}, 725),
    "body-height": (176, {"value": "176.0"}, 2800),
    "head-circumference": (35.5, {"value": "35.5"}, 150),
    "waist-circumference": (88, {"value": "88.0"}, 8),
    "heart-rate": (62, {"value": "62"}, 350),
    "blood-pressure": (
        {"systolic": 128, "diastolic": 82},
        {"systolic": "128", "diastolic": "82"},
        {"systolic": 400, "diastolic": 82},
    ),
    "body-temperature": (37.8, {"value": "37.8"}, 378),
    "glucose": (95, {"value": "95"}, 9500),
    "steps": (10500, {"value": "10500"}, 250000),
    "pain": (4, {"value": "4.0"}, 11),
    "oxygen-saturation": (97, {"value": "97.0"}, 30),
    "respiratory-rate": (16, {"value": "16"}, 150),
    "hba1c": (6.8, {"value": "6.8"}, 68),
}
CONVERTED = {
    "body-weight": (72500, "g", "72.500"),
    "body-height": (1.76, "m", "176.0"),
    "head-circumference": (355, "mm", "35.5"),
    "waist-circumference": (0.88, "m", "88.0"),
    "body-temperature": (100.4, "[degF]", "38.0"),
    "glucose": (6.2, "mmol/L", "112"),
    "hba1c": (53, "mmol/mol", "7.0"),
}


def _quantity(value, unit):
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def observation(key, value, pid, unit=None):
    definition = measures.get_measure(key)
    unit = unit or definition.ucum
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": definition.loinc}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": WHEN,
    }
    if definition.components:
        resource["component"] = [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": c.loinc}]},
                "valueQuantity": _quantity(value[c.key], unit),
            }
            for c in definition.components
        ]
    else:
        resource["valueQuantity"] = _quantity(value, unit)
    return resource


def _example(name, pid):
    resource = json.loads((MESURES / name).read_text(encoding="utf-8"))
    # The example's patient is not a space of this server: the same example, for ours.
    for candidate in [resource] + [e["resource"] for e in resource.get("entry", [])]:
        if "subject" in candidate:
            candidate["subject"] = {"reference": f"Patient/{pid}"}
    return resource


@pytest.mark.parametrize("key", sorted(CASES))
def test_a_valid_observation_is_created_and_read_back(fhir, personas, pid, key):
    value, stored, _bad = CASES[key]
    response = fhir.post("Observation", observation(key, value, pid))
    assert response.status_code == 201
    body = response.json()
    Observation.model_validate(body)
    assert response["Location"].endswith(f"/fhir/R4/Observation/{body['id']}/_history/1")
    row = Measure.objects.get(pk=body["id"])
    assert row.values == stored
    assert row.patient_id == personas.patient.pk
    assert row.source == MeasureSource.HOLDER
    read = fhir.get(f"Observation/{body['id']}")
    assert read.status_code == 200
    assert read.json()["meta"]["profile"] == [measures.get_measure(key).profile]
    assert read.json()["subject"] == {"reference": f"Patient/{pid}"}


@pytest.mark.parametrize("key", sorted(CASES))
def test_an_implausible_observation_is_an_operation_outcome(fhir, pid, key):
    _value, _stored, bad = CASES[key]
    response = fhir.post("Observation", observation(key, bad, pid))
    assert response.status_code == 400
    issue = outcome(response)
    assert "plausible" in issue["diagnostics"] or "supérieure" in issue["diagnostics"]
    assert issue["expression"][0].startswith("Observation.")
    assert not Measure.objects.exists()


@pytest.mark.parametrize("key", sorted(CASES))
def test_a_unit_the_guide_does_not_accept_is_refused(fhir, pid, key):
    value, _stored, _bad = CASES[key]
    response = fhir.post("Observation", observation(key, value, pid, unit="[lb_av]"))
    assert response.status_code == 400
    issue = outcome(response)
    assert "non acceptée" in issue["diagnostics"]
    assert issue["expression"][0].endswith(".code")


@pytest.mark.parametrize("key", sorted(CONVERTED))
def test_a_converted_unit_is_stored_canonically_with_its_original(fhir, pid, key):
    value, unit, canonical = CONVERTED[key]
    response = fhir.post("Observation", observation(key, value, pid, unit=unit))
    assert response.status_code == 201
    body = response.json()
    assert body["valueQuantity"]["code"] == measures.get_measure(key).ucum
    assert Decimal(str(body["valueQuantity"]["value"])) == Decimal(canonical)
    original = next(e for e in body["extension"] if e["url"].endswith("mesures-original-data"))
    sent = next(p for p in original["extension"] if p["url"] == "original-value")
    assert sent["valueQuantity"]["code"] == unit


def test_the_ans_blood_pressure_example_is_accepted(fhir, pid):
    response = fhir.post(
        "Observation", _example("Observation-ExampleMesFrObservationBP001.json", pid)
    )
    assert response.status_code == 201
    body = response.json()
    values = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in body["component"]
    }
    assert values == {"8480-6": 107, "8462-4": 60}
    assert body["effectiveDateTime"] == "2012-09-17"


def test_the_ans_glucose_example_is_refused_for_its_code_and_unit_mismatch(fhir, pid):
    response = fhir.post(
        "Observation", _example("Observation-ExampleMesObservationGlucose001.json", pid)
    )
    assert response.status_code == 400
    issue = outcome(response)
    assert issue["code"] == "invalid"
    assert "mg/dL" in issue["diagnostics"]
    assert not Measure.objects.exists()


def test_the_ans_feeding_bundle_is_accepted_at_the_base_url(fhir, pid):
    bundle = _example("Bundle-bundle-example.json", pid)
    response = fhir.post("", bundle)
    assert response.status_code == 200
    answer = response.json()
    Bundle.model_validate(answer)
    assert answer["type"] == "transaction-response"
    statuses = [entry["response"]["status"] for entry in answer["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    location = answer["entry"][1]["response"]["location"]
    row = Measure.objects.get()
    assert location == f"Observation/{row.pk}/_history/1"
    assert row.source == MeasureSource.DEVICE
    assert row.device["manufacturer"] == "OMRONHEALTHCARE"
    read = fhir.get(f"Observation/{row.pk}").json()
    assert read["device"] == {"display": "Ma balance"}
    assert read["valueQuantity"]["value"] == 71

    # The same Bundle sent again is recognised: nothing is stored twice.
    again = fhir.post("", bundle).json()
    assert [entry["response"]["status"] for entry in again["entry"]] == ["200 OK", "200 OK"]
    assert Measure.objects.count() == 1


def test_a_feeding_bundle_with_an_implausible_value_is_refused_whole(fhir, pid):
    bundle = _example("Bundle-bundle-example.json", pid)
    bundle["entry"][1]["resource"]["valueQuantity"]["value"] = 7100
    response = fhir.post("", bundle)
    assert response.status_code == 400
    assert outcome(response)["expression"][0].startswith("Bundle.entry[1].resource.valueQuantity")
    assert not Measure.objects.exists()


@pytest.mark.parametrize(
    ("body", "diagnostic"),
    [
        ({"resourceType": "Patient"}, "Bundle"),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, "transaction"),
        ({"resourceType": "Bundle", "type": "transaction", "entry": []}, "Aucun flux"),
        (
            {"resourceType": "Bundle", "type": "transaction", "entry": 5},
            "",
        ),  # any flow may refuse it
        ("[1, 2]", "objet JSON"),
        ("{not json", "JSON valide"),
    ],
)
def test_the_base_url_refuses_what_it_cannot_dispatch(fhir, body, diagnostic):
    response = fhir.post("", body)
    assert response.status_code == 400
    assert diagnostic in outcome(response)["diagnostics"]


def test_the_base_url_needs_fhir_json(fhir, pid):
    response = fhir.post("", _example("Bundle-bundle-example.json", pid), content_type="text/plain")
    assert response.status_code == 400
    assert "application/fhir+json" in outcome(response)["diagnostics"]


def test_the_bmi_is_computed_never_written(fhir, pid):
    resource = observation("body-weight", 70, pid)
    resource["code"]["coding"][0]["code"] = "39156-5"
    resource["valueQuantity"] = _quantity(24, "kg/m2")
    response = fhir.post("Observation", resource)
    assert response.status_code == 400
    assert "poids et la taille" in outcome(response)["diagnostics"]


def test_search_by_patient_code_date_and_category(fhir, pid, personas):
    for when, value in (("2024-12-01", 74), ("2025-02-01", 73), ("2025-03-01", 72)):
        resource = observation("body-weight", value, pid)
        resource["effectiveDateTime"] = when
        fhir.post("Observation", resource)
    fhir.post("Observation", observation("heart-rate", 60, pid))
    found = fhir.get(
        "Observation", patient=pid, code="http://loinc.org|29463-7", date="ge2025-01-01"
    )
    assert found.status_code == 200
    bundle = found.json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset"
    assert [e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]] == [72, 73]
    assert bundle["total"] == 2
    vital = fhir.get("Observation", patient=pid, category="vital-signs").json()
    assert vital["total"] == 4
    assert fhir.get("Observation", patient=pid, category="social-history").json()["total"] == 0
    assert fhir.get("Observation", patient=pid, date="lt2024-01-01").json()["total"] == 0


def test_search_parameters_are_checked(fhir, pid):
    assert fhir.get("Observation", patient=pid, date="hier").status_code == 400
    response = fhir.get("Observation", patient=pid, _sort="date")
    assert response.status_code == 400
    assert "_sort" in outcome(response)["diagnostics"]


def test_a_search_in_another_space_finds_nothing_and_is_traced(fhir, personas, logged_in_client):
    other_pid = str(personas.other_patient.pk)
    other = logged_in_client(personas.other_patient.user)
    other.post(
        "/fhir/R4/Observation",
        json.dumps(observation("heart-rate", 60, other_pid)),
        content_type="application/fhir+json",
    )
    mine = logged_in_client(personas.patient.user)
    found = mine.get("/fhir/R4/Observation", {"patient": other_pid}).json()
    assert found["total"] == 0
    assert AuditEvent.objects.filter(
        patient_id=other_pid, actor_id=str(personas.patient.user.pk), outcome="denied"
    ).exists()
    unknown = mine.get("/fhir/R4/Observation", {"patient": "00000000-0000-0000-0000-000000000000"})
    assert unknown.json()["total"] == 0


def test_reading_or_writing_another_holders_measure_is_a_404(fhir, personas, logged_in_client):
    other_pid = str(personas.other_patient.pk)
    other = logged_in_client(personas.other_patient.user)
    created = other.post(
        "/fhir/R4/Observation",
        json.dumps(observation("heart-rate", 60, other_pid)),
        content_type="application/fhir+json",
    ).json()
    mine = logged_in_client(personas.patient.user)
    assert mine.get(f"/fhir/R4/Observation/{created['id']}").status_code == 404
    # Writing into another space is refused the same way.
    response = mine.post(
        "/fhir/R4/Observation",
        json.dumps(observation("heart-rate", 61, other_pid)),
        content_type="application/fhir+json",
    )
    assert response.status_code == 404
    assert Measure.objects.count() == 1
    refusal = AuditEvent.objects.filter(patient_id=other_pid, outcome="denied").latest("seq")
    assert refusal.action in {"profile:measure:read", "profile:measure:create"}


def test_a_measure_is_corrected_with_an_amended_observation(fhir, pid):
    created = fhir.post("Observation", observation("body-temperature", 38.5, pid)).json()
    corrected = copy.deepcopy(created)
    corrected["status"] = "amended"
    corrected["valueQuantity"]["value"] = 37.5
    response = fhir.put(f"Observation/{created['id']}", corrected)
    assert response.status_code == 200
    assert response.json()["status"] == "amended"
    assert response.json()["meta"]["versionId"] == "2"
    assert Measure.objects.get().values == {"value": "37.5"}
    other_measure = copy.deepcopy(corrected)
    other_measure["code"]["coding"][0]["code"] = "8867-4"
    other_measure["valueQuantity"] = _quantity(60, "/min")
    refused = fhir.put(f"Observation/{created['id']}", other_measure)
    assert refused.status_code == 400
    assert outcome(refused)["code"] == "invalid"


def test_the_capability_statement_lists_the_measure_profiles(client, db):
    body = client.get("/fhir/R4/metadata").json()
    observation_entry = next(r for r in body["rest"][0]["resource"] if r["type"] == "Observation")
    assert {"read", "search-type", "create", "update"} == {
        i["code"] for i in observation_entry["interaction"]
    }
    assert measures.get_measure("body-weight").profile in observation_entry["supportedProfile"]
    assert {p["name"] for p in observation_entry["searchParam"]} == {
        "patient",
        "category",
        "code",
        "date",
    }
    assert {"code": "transaction"} in body["rest"][0]["interaction"]
    assert "Observation" in capability.declared()
