"""Holder → FHIR Patient (FR Core INS slices), validated with fhir.resources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fhir.resources.R4B.patient import Patient

from carnet.fhir import emitted
from carnet.identity.ins import OID_KINDS

if TYPE_CHECKING:
    from carnet.identity.models import Holder

FR_CORE_IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
FR_CORE_BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
FR_CORE_INSEE_CODE = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code"
FR_CORE_IDENTITY_RELIABILITY = (
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
)


def patient_resource(holder: Holder) -> dict[str, Any]:
    kind = OID_KINDS[holder.ins_oid]
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(holder.pk),
        "extension": [
            {
                "url": FR_CORE_IDENTITY_RELIABILITY,
                "extension": [
                    {
                        "url": "identityStatus",
                        "valueCoding": {
                            "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status",
                            "code": holder.identity_status,
                        },
                    }
                ],
            },
            {
                "url": FR_CORE_BIRTH_PLACE,
                "valueAddress": {
                    "extension": [
                        {
                            "url": FR_CORE_INSEE_CODE,
                            "valueCoding": {"code": holder.birth_place_code},
                        }
                    ]
                },
            },
        ],
        "identifier": [
            {
                "use": "temp" if kind.value == "INS-NIA" else "official",
                "type": {"coding": [{"system": FR_CORE_IDENTIFIER_TYPE, "code": kind.value}]},
                "system": f"urn:oid:{holder.ins_oid}",
                "value": holder.ins_matricule,
            }
        ],
        "name": [
            {
                "use": "official",
                "family": holder.birth_family_name,
                "given": holder.birth_given_names.split(" "),
            }
        ],
        "gender": {"M": "male", "F": "female"}[holder.sex],
        "birthDate": holder.birth_date.isoformat(),
    }
    if holder.used_family_name or holder.used_given_name:
        usual: dict[str, Any] = {"use": "usual"}
        if holder.used_family_name:
            usual["family"] = holder.used_family_name
        if holder.used_given_name:
            usual["given"] = [holder.used_given_name]
        resource["name"].append(usual)
    emitted.check(Patient, resource)
    return resource
