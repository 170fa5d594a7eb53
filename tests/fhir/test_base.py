"""FHIR base: truthful CapabilityStatement, Patient read for the holder, OperationOutcome errors."""

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from carnet.audit.models import AuditEvent
from carnet.fhir import capability

pytestmark = pytest.mark.django_db


def _outcome(response):
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]


def test_metadata_is_public_and_valid(client):
    response = client.get("/fhir/R4/metadata")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.fhirVersion == "4.0.1"


def test_metadata_lists_exactly_what_the_routers_declare(client):
    body = client.get("/fhir/R4/metadata").json()
    listed = {r["type"]: {i["code"] for i in r["interaction"]} for r in body["rest"][0]["resource"]}
    declared = {name: set(entry.interactions) for name, entry in capability.declared().items()}
    assert listed == declared
    assert listed["Patient"] == {"read", "search-type"}


def test_every_declared_read_answers_something_other_than_404_for_an_existing_id(
    logged_in_client, personas
):
    client = logged_in_client(personas.patient.user)
    for name, entry in capability.declared().items():
        if "read" in entry.interactions and name == "Patient":
            assert client.get(f"/fhir/R4/{name}/{personas.patient.pk}").status_code == 200


def test_holder_reads_own_patient_resource(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    response = client.get(f"/fhir/R4/Patient/{personas.patient.pk}")
    assert response.status_code == 200
    patient = Patient.model_validate(response.json())
    identifier = patient.identifier[0]
    assert identifier.system == "urn:oid:1.2.250.1.213.1.4.10"
    assert identifier.value == personas.patient.ins_matricule
    assert patient.name[0].family == "PAT-TROIS"
    assert patient.gender == "female"


def test_representative_reads_the_minor(logged_in_client, personas):
    client = logged_in_client(personas.parent)
    assert client.get(f"/fhir/R4/Patient/{personas.minor.pk}").status_code == 200


def test_holder_cannot_read_another_holder_and_the_refusal_is_audited(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    response = client.get(f"/fhir/R4/Patient/{personas.other_patient.pk}")
    assert response.status_code == 404
    assert _outcome(response)["code"] == "not-found"
    refusal = AuditEvent.objects.filter(patient_id=personas.other_patient.pk).latest("seq")
    assert refusal.outcome == "denied"
    assert refusal.actor_id == str(personas.patient.user.pk)
    assert refusal.action == "identity:patient:read"


def test_unknown_and_malformed_ids_are_404_like_forbidden_ones(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    for patient_id in ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "1' OR '1'='1"]:
        response = client.get(f"/fhir/R4/Patient/{patient_id}")
        assert response.status_code == 404
        assert _outcome(response)["diagnostics"] == "Ressource introuvable."


def test_unauthenticated_read_is_401_with_operation_outcome(client, personas):
    response = client.get(f"/fhir/R4/Patient/{personas.patient.pk}")
    assert response.status_code == 401
    assert _outcome(response)["code"] == "login"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_route_and_wrong_method_are_operation_outcomes(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    unknown = client.get("/fhir/R4/Nothing/here/at/all")
    assert unknown.status_code == 404
    _outcome(unknown)
    wrong_method = client.delete("/fhir/R4/metadata")
    assert wrong_method.status_code == 405
    _outcome(wrong_method)
