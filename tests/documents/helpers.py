"""Building blocks for document tests: the ANS test patient's space and submissions."""

from __future__ import annotations

import datetime as dt

from carnet.documents.services import DocumentSubmission, PatientIdentity
from carnet.identity import services as identity
from carnet.identity.ins import OID_NIR_TEST
from carnet.identity.models import Holder
from tests.paths import CDA_DIR

ANS_INS = "279035121518989"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def ans_test_patient(email: str = "ans@exemple.test") -> Holder:
    """The patient of the ANS example CDA documents (INS-NIR test OID, PAT-TROIS Dominique)."""
    holder = identity.register_holder(
        matricule=ANS_INS,
        oid=OID_NIR_TEST,
        traits=identity.BirthTraits(
            birth_family_name="PAT-TROIS",
            birth_given_names="DOMINIQUE MARIE-LOUISE",
            birth_date=dt.date(1979, 3, 28),
            sex="F",
            birth_place_code="51215",
        ),
    )
    identity.activate_space(holder, email=email, password="correct horse battery staple")
    holder.refresh_from_db()
    return holder


def identity_of(holder: Holder, **traits: object) -> PatientIdentity:
    return PatientIdentity(matricule=holder.ins_matricule, oid=holder.ins_oid, **traits)  # type: ignore[arg-type]


def cda_bytes(name: str) -> bytes:
    return (CDA_DIR / name).read_bytes()


def pdf_submission(unique_id: str = "1.2.250.1.999.1.1", **overrides: object) -> DocumentSubmission:
    values: dict[str, object] = {
        "unique_id": unique_id,
        "type_code": "11488-4",
        "title": "Compte rendu de consultation",
        "created_at_source": dt.datetime(2025, 1, 10, 9, 30, tzinfo=dt.UTC),
        "mime_type": "application/pdf",
        "format_code": "urn:ihe:iti:xds-sd:pdf:2008",
        "facility_type": "SA07",
        "practice_setting": "AMBULATOIRE",
    }
    values.update(overrides)
    return DocumentSubmission(**values)  # type: ignore[arg-type]
