"""What Carnet emits is checked against FHIR R4 when CARNET_FHIR_CHECK_OUTPUT is on (tests,
development), and not re-checked in production unless asked."""

import pytest
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from carnet.fhir import emitted

INVALID = {"resourceType": "Patient", "birthDate": "le 28 mars"}


def test_an_invalid_emitted_resource_is_a_bug_caught_when_checking(settings):
    settings.CARNET_FHIR_CHECK_OUTPUT = True
    with pytest.raises(ValidationError):
        emitted.check(Patient, INVALID)


def test_the_check_can_be_left_off(settings):
    settings.CARNET_FHIR_CHECK_OUTPUT = False
    emitted.check(Patient, INVALID)


def test_tests_run_with_the_check_on(settings):
    assert settings.CARNET_FHIR_CHECK_OUTPUT
