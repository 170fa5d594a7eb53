"""FHIR base routes: the CapabilityStatement and Patient read."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from carnet.core.requests import api_actor
from carnet.fhir import capability
from carnet.fhir.outcome import fhir_response
from carnet.fhir.patient import patient_resource
from carnet.identity import services as identity

router = Router(tags=["FHIR"])

capability.declare("Patient", interactions=["read"])


@router.get("/metadata", auth=None, include_in_schema=False)
def metadata(request: HttpRequest) -> HttpResponse:
    return fhir_response(capability.capability_statement())


@router.get("/Patient/{patient_id}", include_in_schema=False)
def patient_read(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = api_actor(request)
    holder = identity.read_patient(actor, patient_id)
    return fhir_response(patient_resource(holder))
