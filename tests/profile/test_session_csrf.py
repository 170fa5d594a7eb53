"""FHIR writes authenticated by the portal session need the session's CSRF token: without it a
cross-site form could post an Observation with only the holder's cookie."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from django.test import Client

from carnet.profile.models import Measure
from tests.profile.test_measures_fhir import observation

pytestmark = pytest.mark.django_db

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def browser(personas):
    """The holder's browser: Django's CSRF checks enforced, as in real life."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.patient.user)
    return client


def _post(client, pid, **headers):
    body = json.dumps(observation("body-weight", 72.5, pid))
    return client.post("/fhir/R4/Observation", body, content_type=FHIR_JSON, **headers)


def test_a_cross_site_post_with_only_the_cookie_is_refused(browser, pid):
    response = _post(browser, pid, HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "CSRF" in outcome["issue"][0]["diagnostics"]
    assert not Measure.objects.exists()


def test_the_same_post_with_the_csrf_token_is_accepted(browser, pid):
    browser.get("/")  # the portal sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = _post(browser, pid, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    assert Measure.objects.count() == 1


def test_reads_need_no_token(browser, pid):
    assert browser.get(f"/fhir/R4/Observation?patient={pid}").status_code == 200


def test_a_professional_bearer_token_needs_no_csrf(pro_fhir, personas, pid):
    # software authenticates with its bearer token, which a cross-site form cannot send
    software = replace(pro_fhir(personas.doctor), client=Client(enforce_csrf_checks=True))
    response = software.post("Observation", observation("body-weight", 72.5, pid))
    # refused by the policy (measures are the holder's to enter), not by a CSRF check
    assert "titulaire" in response.json()["issue"][0]["diagnostics"]
    assert "CSRF" not in response.json()["issue"][0]["diagnostics"]
