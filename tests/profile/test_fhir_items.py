"""Profile items through the FHIR API, for every resource type: create, read, search by patient,
category, code and date, update; refusals as OperationOutcome; a truthful CapabilityStatement."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from fhir.resources.R4B.bundle import Bundle

from carnet.audit.models import AuditEvent
from carnet.fhir import capability
from carnet.profile import items, kinds
from carnet.profile.models import AuthorKind, ProfileItem
from tests.profile.conftest import FhirCaller, outcome
from tests.profile.samples import ITEMS

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 22)
# One kind per resource type (the Observation kinds share their type with the measures).
BY_TYPE = {
    "AllergyIntolerance": "allergie",
    "CareTeam": "professionnel",
    "Condition": "maladie",
    "Consent": "directives-anticipees",
    "Coverage": "piece-administrative",
    "FamilyMemberHistory": "antecedent-familial",
    "Immunization": "vaccination",
    "MedicationStatement": "traitement",
    "Procedure": "hospitalisation",
    "RelatedPerson": "contact-urgence",
    "Observation": "tabac",
}


def resource_of(key, pid, which=0):
    kind = kinds.get_kind(key)
    data = items.clean_data(kind, ITEMS[key][which], today=TODAY)
    return items.build_resource(kind, data, patient_reference=f"Patient/{pid}", today=TODAY)


def _valid(body):
    module = importlib.import_module(f"fhir.resources.R4B.{body['resourceType'].lower()}")
    getattr(module, body["resourceType"]).model_validate(body)


@pytest.mark.parametrize("resource_type", sorted(BY_TYPE))
def test_create_read_search_and_update_each_resource_type(fhir, personas, pid, resource_type):
    key = BY_TYPE[resource_type]
    created = fhir.post(resource_type, resource_of(key, pid))
    assert created.status_code == 201, created.content
    body = created.json()
    _valid(body)
    assert created["Location"].endswith(f"/fhir/R4/{resource_type}/{body['id']}/_history/1")
    assert created["ETag"] == 'W/"1"'
    item = ProfileItem.objects.get(pk=body["id"])
    assert (item.kind, item.author_kind) == (key, AuthorKind.HOLDER)

    read = fhir.get(f"{resource_type}/{body['id']}")
    assert read.status_code == 200
    assert read.json()["meta"]["versionId"] == "1"
    assert read.json()[items.PATIENT_PATHS[resource_type]] == {"reference": f"Patient/{pid}"}

    found = fhir.get(resource_type, patient=pid)
    Bundle.model_validate(found.json())
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [body["id"]]
    assert found.json()["entry"][0]["fullUrl"].endswith(f"/{resource_type}/{body['id']}")

    changed = resource_of(key, pid, which=1)
    changed["id"] = body["id"]
    updated = fhir.put(f"{resource_type}/{body['id']}", changed)
    assert updated.status_code == 200
    assert updated.json()["meta"]["versionId"] == "2"
    item.refresh_from_db()
    assert item.title == ITEMS[key][2]


def test_search_by_code_category_and_date(fhir, pid):
    fhir.post("AllergyIntolerance", resource_of("allergie", pid))
    food = resource_of("allergie", pid)
    food["code"] = {"text": "Arachide"}
    food["category"] = ["food"]
    food["onsetDateTime"] = "2019-05"
    fhir.post("AllergyIntolerance", food)
    assert fhir.get("AllergyIntolerance", patient=pid, category="food").json()["total"] == 1
    assert (
        fhir.get("AllergyIntolerance", patient=pid, category="food,medication").json()["total"] == 1
    )
    assert fhir.get("AllergyIntolerance", patient=pid, date="ge2019-01-01").json()["total"] == 1
    assert fhir.get("AllergyIntolerance", patient=pid, date="lt2019-01").json()["total"] == 0

    fhir.post("Immunization", resource_of("vaccination", pid))
    atc = "http://www.whocc.no/atc|J07BB"
    assert fhir.get("Immunization", patient=pid, code=atc).json()["total"] == 1
    assert fhir.get("Immunization", patient=pid, code="J07BN").json()["total"] == 0

    fhir.post("Observation", resource_of("tabac", pid))
    social = fhir.get("Observation", patient=pid, category="social-history").json()
    assert [e["resource"]["code"]["coding"][0]["code"] for e in social["entry"]] == ["72166-2"]


def test_a_holder_searches_their_spaces_without_naming_the_patient(fhir, pid):
    fhir.post("Condition", resource_of("maladie", pid))
    assert fhir.get("Condition").json()["total"] == 1


def test_a_resource_at_the_address_of_another_type_is_refused(fhir, pid):
    response = fhir.post("Condition", resource_of("allergie", pid))
    assert response.status_code == 400
    assert "Condition" in outcome(response)["diagnostics"]


def test_malformed_fhir_is_refused_with_its_path(fhir, pid):
    resource = resource_of("maladie", pid)
    resource["onsetDateTime"] = "l'an dernier"
    response = fhir.post("Condition", resource)
    assert response.status_code == 400
    assert outcome(response)["expression"] == ["Condition.onsetDateTime"]
    assert not ProfileItem.objects.exists()


def test_a_resource_matching_no_section_is_refused(fhir, pid):
    habit = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "social-history",
                    }
                ]
            }
        ],
        "code": {"text": "Jardinage"},
        "subject": {"reference": f"Patient/{pid}"},
        "valueString": "le dimanche",
    }
    response = fhir.post("Observation", habit)
    assert response.status_code == 400
    assert outcome(response)["code"] == "invalid"
    assert "aucune rubrique" in outcome(response)["diagnostics"]


def test_post_consent_still_reaches_the_declaration_of_consent(fhir, pid):
    """A Consent that is no profile wish (here, research) is not the profile's: it goes to the
    professionals' declaration of consent, which explains what it expects."""
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}
            ]
        },
        "category": [{"text": "Recherche"}],
        "patient": {"reference": f"Patient/{pid}"},
    }
    response = fhir.post("Consent", consent)
    assert response.status_code == 400
    assert "patient-privacy" in outcome(response)["diagnostics"]
    assert not ProfileItem.objects.exists()


def test_a_single_kind_posted_twice_is_a_conflict(fhir, pid):
    assert fhir.post("Observation", resource_of("tabac", pid)).status_code == 201
    response = fhir.post("Observation", resource_of("tabac", pid))
    assert response.status_code == 409
    assert "déjà renseigné" in outcome(response)["diagnostics"]


def test_an_update_cannot_move_an_item_to_another_patient(fhir, pid, personas):
    created = fhir.post("Condition", resource_of("maladie", pid)).json()
    moved = resource_of("maladie", str(personas.other_patient.pk))
    response = fhir.put(f"Condition/{created['id']}", moved)
    assert response.status_code == 400
    assert "ni le patient" in outcome(response)["diagnostics"]
    assert (
        fhir.put(f"AllergyIntolerance/{created['id']}", resource_of("allergie", pid)).status_code
        == 404
    )


def test_another_holders_items_are_404_and_traced(personas, logged_in_client):
    other_pid = str(personas.other_patient.pk)
    other = FhirCaller(logged_in_client(personas.other_patient.user), {})
    created = other.post("Condition", resource_of("maladie", other_pid)).json()
    mine = FhirCaller(logged_in_client(personas.patient.user), {})
    response = mine.get(f"Condition/{created['id']}")
    assert response.status_code == 404
    assert outcome(response)["code"] == "not-found"
    assert mine.post("Condition", resource_of("maladie", other_pid)).status_code == 404
    assert mine.get("Condition", patient=other_pid).json()["total"] == 0
    denied = AuditEvent.objects.filter(patient_id=other_pid, outcome="denied").values_list(
        "action", flat=True
    )
    assert {"profile:item:read", "profile:item:create", "profile:item:search"} <= set(denied)


def test_hidden_items_say_so_to_their_holder(fhir, pid, personas, holder):
    from carnet.profile import services

    created = fhir.post("Condition", resource_of("maladie", pid)).json()
    services.set_item_hidden(holder, created["id"], hidden=True)
    read = fhir.get(f"Condition/{created['id']}").json()
    assert read["meta"]["security"][0]["code"] == "R"


def test_the_holder_cannot_write_the_care_history(fhir, pid):
    from carnet.profile.services import care_history_resource

    claim = care_history_resource(
        claim_id="1", patient_id=pid, date=dt.date(2025, 1, 2), act="Consultation", provider="Dr A"
    )
    response = fhir.post("ExplanationOfBenefit", claim)
    assert response.status_code == 422
    assert "Assurance Maladie" in outcome(response)["diagnostics"]
    assert not ProfileItem.objects.exists()


def test_the_capability_statement_lists_every_profile_type_truthfully(client, db):
    body = client.get("/fhir/R4/metadata").json()
    listed = {r["type"]: {i["code"] for i in r["interaction"]} for r in body["rest"][0]["resource"]}
    for resource_type in set(BY_TYPE) - {"Observation"}:
        assert listed[resource_type] == {"read", "search-type", "create", "update"}
    assert listed["ExplanationOfBenefit"] == {"read", "search-type", "create"}
    declared = capability.declared()
    condition = {p[0] for p in declared["Condition"].search_params}
    assert condition == {"patient", "category", "code", "date"}
    assert "category" not in {p[0] for p in declared["Immunization"].search_params}


def test_every_declared_item_interaction_is_served(fhir, pid):
    """Each type the statement declares answers read, search and create (not a 404/405)."""
    for resource_type, key in BY_TYPE.items():
        created = fhir.post(
            resource_type, resource_of(key, pid) if key != "tabac" else resource_of("alcool", pid)
        )
        assert created.status_code == 201, resource_type
        assert fhir.get(f"{resource_type}/{created.json()['id']}").status_code == 200
        assert fhir.get(resource_type, patient=pid).status_code == 200
    assert fhir.get("ExplanationOfBenefit", patient=pid).status_code == 200
