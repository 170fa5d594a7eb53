from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "carnet.fhir"
    label = "fhir"
