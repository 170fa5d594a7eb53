"""Fixtures of the medical profile tests: the holder's actor and portal client, JSON calls to
the FHIR API with the portal session or a professional's (or the insurer's) bearer token."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from carnet.access.actors import Actor
from carnet.identity.services import actor_for_user
from tests.factories import register_issuer
from tests.identity import jwt_factory as jf

FHIR = "application/fhir+json"
INSURER_ISSUER = "urn:carnet:test:assurance-maladie"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The personas' accounts get a fast hash here: these tests log in with `force_login`, and
    Argon2 (tested in tests/identity) would cost seconds per test for nothing they check."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def holder(personas) -> Actor:
    return actor_for_user(personas.patient.user)


@pytest.fixture
def other_holder(personas) -> Actor:
    return actor_for_user(personas.other_patient.user)


@pytest.fixture
def pid(personas) -> str:
    return str(personas.patient.pk)


@pytest.fixture
def portal(logged_in_client, personas):
    """The patient's portal client (session cookie)."""
    return logged_in_client(personas.patient.user)


@dataclass
class FhirCaller:
    client: Any
    headers: dict[str, str]

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/fhir/R4/{path}", params, **self.headers)

    def post(self, path: str, body: Any, content_type: str = FHIR) -> Any:
        payload = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(
            f"/fhir/R4/{path}", payload, content_type=content_type, **self.headers
        )

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(
            f"/fhir/R4/{path}", json.dumps(body), content_type=FHIR, **self.headers
        )


@pytest.fixture
def fhir(portal) -> FhirCaller:
    """FHIR calls with the holder's portal session."""
    return FhirCaller(portal, {})


def _token(key: jf.SigningKey, without: tuple[str, ...] = (), **claims: Any) -> str:
    now = int(time.time())
    return jf.mint_token(
        key, jf.professional_claims(iat=now, exp=now + 300, without=without, **claims)
    )


@pytest.fixture
def pro_fhir(client, settings, db):
    """FHIR calls with the bearer token of a professional's software: `pro_fhir(professional)`."""
    settings.CARNET_JWT_AUDIENCE = jf.AUDIENCE
    register_issuer(issuer=jf.ISSUER, name="Logiciel du cabinet", jwks=jf.jwks(jf.rsa_key()))

    def caller(professional) -> FhirCaller:
        specialty = (
            {"specialty": professional.specialty_code} if professional.specialty_code else {}
        )
        token = _token(
            jf.rsa_key(),
            without=() if specialty else ("specialty",),
            **specialty,
            rpps=professional.rpps,
            sub="8" + professional.rpps,
            profession=professional.profession_code,
            given_name=professional.given_name,
            family_name=professional.family_name,
        )
        return FhirCaller(client, {"HTTP_AUTHORIZATION": f"Bearer {token}"})

    return caller


@pytest.fixture
def insurer_fhir(client, settings, db) -> FhirCaller:
    """FHIR calls with the insurer's system token (its issuer is registered as the insurer)."""
    settings.CARNET_JWT_AUDIENCE = jf.AUDIENCE
    key = jf.rsa_key("insurer")
    register_issuer(
        issuer=INSURER_ISSUER, name="Assurance Maladie", jwks=jf.jwks(key), is_insurer=True
    )
    return FhirCaller(client, {"HTTP_AUTHORIZATION": f"Bearer {_token(key, iss=INSURER_ISSUER)}"})


def outcome(response) -> dict[str, Any]:
    """The first issue of an OperationOutcome response (checked with fhir.resources)."""
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    OperationOutcome.model_validate(body)
    return dict(body["issue"][0])
