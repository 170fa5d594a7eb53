"""Professional bearer tokens over HTTP: accepted, or 401 with an OperationOutcome saying why."""

import time

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carnet.identity.models import RegisteredIssuer
from tests.factories import register_issuer
from tests.identity import jwt_factory as jf

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered(settings):
    settings.CARNET_JWT_AUDIENCE = jf.AUDIENCE
    register_issuer(issuer=jf.ISSUER, name="Logiciel test", jwks=jf.jwks(jf.rsa_key()))


def _claims(**overrides):
    now = int(time.time())
    return jf.professional_claims(**{"iat": now, "exp": now + 300, **overrides})


def _call(client, token):
    return client.get("/api/v1/ping", HTTP_AUTHORIZATION=f"Bearer {token}")


def _fhir_call(client, token, path="/fhir/R4/metadata"):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def _reason(response):
    assert response.status_code == 401
    body = response.json()
    OperationOutcome.model_validate(body)
    return body["issue"][0]["diagnostics"]


def test_a_valid_token_authenticates_a_professional(client, registered):
    response = _call(client, jf.mint_token(jf.rsa_key(), _claims()))
    assert response.status_code == 200
    assert response.json() == {"actor": "professional"}


@pytest.mark.parametrize(
    ("claims", "key", "reason"),
    [
        ({"iss": "urn:unknown"}, None, "unknown-issuer"),
        ({}, "other", "bad-signature"),
        ({"iat": 1_000_000, "exp": 1_000_300}, None, "expired"),
        ({"aud": "https://someone-else.example"}, None, "wrong-audience"),
    ],
)
def test_each_refusal_says_which_check_failed(client, registered, claims, key, reason):
    signing = jf.rsa_key() if key is None else jf.rsa_key(kid="rsa-1", bits=3072)
    response = _call(client, jf.mint_token(signing, _claims(**claims)))
    assert reason in _reason(response)


@pytest.mark.parametrize(
    "claim", ["rpps", "profession", "purpose_of_use", "organisation", "aud", "exp"]
)
def test_missing_claim_is_named(client, registered, claim):
    now = int(time.time())
    claims = jf.professional_claims(iat=now, exp=now + 300, without=[claim])
    assert claim in _reason(_call(client, jf.mint_token(jf.rsa_key(), claims)))


def test_garbage_token_is_malformed(client, registered):
    assert "malformed" in _reason(_call(client, "not.a.jwt"))


def test_a_professional_has_no_access_to_a_patient_yet(client, registered, personas):
    response = _fhir_call(
        client, jf.mint_token(jf.rsa_key(), _claims()), f"/fhir/R4/Patient/{personas.patient.pk}"
    )
    assert response.status_code == 404


def test_inactive_issuer_is_unknown(client, registered):
    RegisteredIssuer.objects.update(is_active=False)
    assert "unknown-issuer" in _reason(_call(client, jf.mint_token(jf.rsa_key(), _claims())))
