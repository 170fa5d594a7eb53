"""`GET /fhir/R4/Patient?identifier=…` (DMP TD0.2): a professional learns whether they may use the
space of this INS, and nothing more than the policy allows."""

from __future__ import annotations

import time

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carnet.access import services as access
from carnet.fhir import capability
from tests.access.helpers import holder_actor
from tests.factories import register_issuer
from tests.identity import jwt_factory as jf

pytestmark = pytest.mark.django_db


@pytest.fixture
def software(settings):
    settings.CARNET_JWT_AUDIENCE = jf.AUDIENCE
    register_issuer(issuer=jf.ISSUER, name="LPS", jwks=jf.jwks(jf.rsa_key()))


def bearer(professional, **claims):
    now = int(time.time())
    values = {
        "iat": now,
        "exp": now + 300,
        "rpps": professional.rpps,
        "sub": "8" + professional.rpps,
        "profession": professional.profession_code,
        **claims,
    }
    without = () if professional.profession_code == "10" else ("specialty",)
    token = jf.mint_token(jf.rsa_key(), jf.professional_claims(without=without, **values))
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def search(client, holder, headers, identifier=None):
    value = identifier or f"urn:oid:{holder.ins_oid}|{holder.ins_matricule}"
    return client.get("/fhir/R4/Patient", {"identifier": value}, **headers)


def _bundle(response):
    assert response.status_code == 200, response.content
    body = response.json()
    Bundle.model_validate(body)
    return body


def test_the_medecin_traitant_learns_the_space_and_the_basis_of_access(client, software, personas):
    body = _bundle(search(client, personas.patient, bearer(personas.doctor)))
    assert body["total"] == 1
    patient, outcome = (entry["resource"] for entry in body["entry"])
    assert patient["identifier"][0]["value"] == personas.patient.ins_matricule
    codes = {c["system"]: c["code"] for c in outcome["issue"][0]["details"]["coding"]}
    assert codes == {
        "urn:carnet:access-decision": "medecin-traitant",
        "urn:carnet:access-mode": "normal",
    }
    assert body["entry"][1]["search"]["mode"] == "outcome"


def test_without_a_right_the_answer_is_the_same_as_for_no_space(client, software, personas):
    unrelated = _bundle(search(client, personas.patient, bearer(personas.unrelated_pro)))
    nobody = _bundle(
        search(
            client,
            personas.patient,
            bearer(personas.unrelated_pro),
            identifier="urn:oid:1.2.250.1.213.1.4.10|279035121518989",
        )
    )
    assert unrelated["total"] == nobody["total"] == 0
    assert "entry" not in unrelated
    assert "entry" not in nobody


def test_emergency_access_is_named_in_the_answer(client, software, personas):
    headers = bearer(
        personas.emergency_doctor, purpose_of_use="bris_de_glace", emergency_reason="détresse"
    )
    body = _bundle(search(client, personas.patient, headers))
    codes = {c["code"] for c in body["entry"][1]["resource"]["issue"][0]["details"]["coding"]}
    assert codes == {"break-glass", "bris_de_glace"}


def test_a_blocked_professional_is_told(client, software, personas):
    access.block_professional(
        holder_actor(personas.patient),
        patient_id=str(personas.patient.pk),
        professional_id=str(personas.doctor.pk),
    )
    response = search(client, personas.patient, bearer(personas.doctor))
    assert response.status_code == 403
    OperationOutcome.model_validate(response.json())


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"identifier": "279035121518989"},
        {"identifier": "http://example.org|279035121518989"},
        {"identifier": "urn:oid:1.2.250.1.213.1.4.10|"},
        {"identifier": "urn:oid:1.2.3|279035121518989"},
        {"identifier": "urn:oid:1.2.250.1.213.1.4.10|123"},
    ],
)
def test_malformed_searches_get_an_operation_outcome(client, software, personas, query):
    response = client.get("/fhir/R4/Patient", query, **bearer(personas.doctor))
    assert response.status_code == 400
    OperationOutcome.model_validate(response.json())


def test_twice_the_identifier_is_refused(client, software, personas):
    value = f"urn:oid:{personas.patient.ins_oid}|{personas.patient.ins_matricule}"
    response = client.get(
        f"/fhir/R4/Patient?identifier={value}&identifier={value}", **bearer(personas.doctor)
    )
    assert response.status_code == 400


def test_the_holder_finds_their_own_space(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    body = _bundle(search(client, personas.patient, {}))
    assert body["total"] == 1
    assert _bundle(search(client, personas.other_patient, {}))["total"] == 0


def test_the_search_is_declared(client):
    patient = capability.declared()["Patient"]
    assert "search-type" in patient.interactions
    assert "identifier" in {name for name, _type, _doc in patient.search_params}
