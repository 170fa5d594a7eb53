"""`POST /fhir/R4/Consent`: a professional declares the holder's consent during care; the
declaration is stored, dated, traced, opens a right, and is refused with an OperationOutcome
when the resource is wrong or the professional is blocked."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carnet.access import services as access
from carnet.access.models import CareTeamMember, ConsentDeclaration
from carnet.audit.models import AuditEvent
from carnet.core import clock
from carnet.fhir import capability
from tests.access.helpers import holder_actor
from tests.factories import register_issuer
from tests.identity import jwt_factory as jf

pytestmark = pytest.mark.django_db

URL = "/fhir/R4/Consent"
TODAY = clock.today().isoformat()
IN_SIX_MONTHS = (clock.today() + dt.timedelta(days=182)).isoformat()


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
        "family_name": professional.family_name,
        "given_name": professional.given_name,
        **claims,
    }
    without = () if professional.profession_code == "10" else ("specialty",)
    claims_set = jf.professional_claims(without=without, **values)
    return {"HTTP_AUTHORIZATION": "Bearer " + jf.mint_token(jf.rsa_key(), claims_set)}


def consent(holder, **changes):
    body = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {
            "identifier": {"system": f"urn:oid:{holder.ins_oid}", "value": holder.ins_matricule}
        },
        "provision": {"type": "permit", "period": {"start": TODAY, "end": IN_SIX_MONTHS}},
    }
    body.update(changes)
    return body


def post(client, body, headers, content_type="application/fhir+json"):
    return client.post(URL, json.dumps(body), content_type=content_type, **headers)


def _outcome(response):
    body = response.json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]


def test_a_declared_consent_is_created_and_opens_a_right(client, software, personas):
    nurse = personas.unrelated_pro
    response = post(client, consent(personas.patient), bearer(nurse))
    assert response.status_code == 201, response.content
    resource = response.json()
    Consent.model_validate(resource)
    assert response["Location"].endswith(f"/fhir/R4/Consent/{resource['id']}")
    assert resource["provision"]["actor"][0]["reference"]["identifier"]["value"] == "8" + nurse.rpps
    assert resource["organization"][0]["display"] == "Maison de santé des Tilleuls"
    declaration = ConsentDeclaration.objects.get(pk=resource["id"])
    assert declaration.source["resourceType"] == "Consent"
    assert declaration.channel == "api"
    assert declaration.period_end.date() > clock.today() + dt.timedelta(days=181)
    right = CareTeamMember.objects.get(professional=nurse)
    assert (right.basis, right.declaration_id) == ("consentement_declare", declaration.pk)
    event = AuditEvent.objects.filter(action="access:consent:create").get()
    assert (event.outcome, event.mode) == ("allowed", "consentement_declare")
    # The holder sees it in "Partage".
    rows = access.sharing_overview(
        holder_actor(personas.patient), patient_id=str(personas.patient.pk)
    )
    declared = next(r for r in rows.authorisations if r.basis == "consentement_declare")
    assert declared.declared_at is not None


def test_the_capability_statement_declares_consent_creation(client):
    assert "create" in capability.declared()["Consent"].interactions
    body = client.get("/fhir/R4/metadata").json()
    consent_entry = next(r for r in body["rest"][0]["resource"] if r["type"] == "Consent")
    assert {"code": "create"} in consent_entry["interaction"]


def test_the_profile_s_consents_are_not_declarations(client, software, personas):
    """Advance directives also post a Consent: they never open an access right."""
    body = consent(
        personas.patient,
        scope={
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "adr"}
            ]
        },
    )
    response = post(client, body, bearer(personas.unrelated_pro))
    assert response.status_code >= 400
    assert not ConsentDeclaration.objects.exists()


@pytest.mark.parametrize(
    ("change", "status", "expression"),
    [
        ({"resourceType": "Patient"}, 400, "resourceType"),
        ({"status": "draft"}, 400, "status"),
        ({"scope": {"coding": [{"system": "x", "code": "research"}]}}, 400, "scope"),
        ({"category": None}, 400, "category"),
        ({"patient": {"reference": "Patient/1"}}, 400, "patient.identifier"),
        ({"provision": {"type": "deny"}}, 400, "provision.type"),
        ({"provision": {"period": {"start": "hier"}}}, 400, "provision.period"),
        ({"provision": {"period": {"end": "2001-01-01"}}}, 400, "period.end"),
        (
            {"patient": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "12"}}},
            400,
            None,
        ),
        (
            {
                "patient": {
                    "identifier": {
                        "system": "urn:oid:1.2.250.1.213.1.4.10",
                        "value": "279035121518989",
                    }
                }
            },
            404,
            None,
        ),
    ],
)
def test_bad_declarations_get_an_operation_outcome(
    client, software, personas, change, status, expression
):
    body = consent(personas.patient, **change)
    body = {k: v for k, v in body.items() if v is not None}
    response = post(client, body, bearer(personas.unrelated_pro))
    assert response.status_code == status, response.content
    issue = _outcome(response)
    if expression:
        assert expression in issue.get("expression", [""])[0]
    assert not ConsentDeclaration.objects.exists()


def test_wrong_content_type_and_json_are_refused(client, software, personas):
    headers = bearer(personas.unrelated_pro)
    assert (
        post(client, consent(personas.patient), headers, content_type="text/plain").status_code
        == 400
    )
    response = client.post(URL, "{pas du json", content_type="application/fhir+json", **headers)
    assert response.status_code == 400
    _outcome(response)


def test_a_blocked_professional_is_told_even_with_consent(client, software, personas):
    access.block_professional(
        holder_actor(personas.patient),
        patient_id=str(personas.patient.pk),
        professional_id=str(personas.unrelated_pro.pk),
    )
    response = post(client, consent(personas.patient), bearer(personas.unrelated_pro))
    assert response.status_code == 403
    assert "bloqué" in _outcome(response)["diagnostics"]


def test_a_holder_session_cannot_declare_consent(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    client.handler.enforce_csrf_checks = False
    response = client.post(
        URL, json.dumps(consent(personas.patient)), content_type="application/fhir+json"
    )
    assert response.status_code == 403
    assert not ConsentDeclaration.objects.exists()


def test_declaring_needs_credentials(client, personas):
    response = post(client, consent(personas.patient), {})
    assert response.status_code == 401
