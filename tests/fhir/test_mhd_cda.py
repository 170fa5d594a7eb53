"""Every ANS example CDA (reference data) deposited through ITI-65 with the metadata an LPS
builds from its header, then retrieved through ITI-68 byte for byte; the CDA whose INS key is
wrong is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from carnet.identity import services as identity
from carnet.identity.ins import OID_NIR
from tests.documents.helpers import ans_test_patient
from tests.fhir import mhd_support as m
from tests.paths import CDA_DIR, reference_cases

pytestmark = pytest.mark.django_db

WRONG_INS_KEY = "CSE-MDE_2023.01.xml"  # INS 222127505611201: key 01, should be 47
OTHER_PATIENT = "eDISP-MED_2024.01.xml"  # NESSI Ruth, production INS OID, a valid key
INSURER_FEED = "CNAM-HR_2021.01.xml"  # REMB, author ALIM_AM: the insurer deposits it
DEPOSITED = reference_cases(
    lambda: sorted(p.name for p in CDA_DIR.glob("*.xml") if p.name != WRONG_INS_KEY)
)


@pytest.fixture
def registered(settings):
    m.fast_passwords(settings)
    m.register_software(settings)
    return ans_test_patient()


def _register_nessi() -> None:
    holder = identity.register_holder(
        matricule="277076322082910",
        oid=OID_NIR,
        traits=identity.BirthTraits(
            birth_family_name="NESSI",
            birth_given_names="RUTH",
            birth_date=dt.date(1977, 7, 14),
            sex="F",
            birth_place_code="51215",
        ),
    )
    identity.activate_space(holder, email="nessi@exemple.test", password="correct horse battery")


@pytest.mark.parametrize("name", DEPOSITED)
def test_each_cda_is_deposited_and_retrieved_byte_for_byte(client, registered, name):
    if name == OTHER_PATIENT:
        _register_nessi()
    software = m.insurer(client) if name == INSURER_FEED else m.professional(client)
    document, data, header = m.cda_docref(name)
    response = software.provide(m.provide_bundle([(document, data)]))
    assert response.status_code == 200, response.content[:3000]
    answers = [e["response"] for e in response.json()["entry"]]
    assert [a["status"] for a in answers] == ["201 Created"] * 3
    document_id = answers[1]["location"].split("/")[1]
    # The insurer reads nothing back; the deposit is read by an author-side professional.
    reader = m.professional(client) if name != INSURER_FEED else None
    if reader is None:
        assert software.get(f"/Binary/{document_id}").status_code == 404
        return
    raw = reader.get(f"/Binary/{document_id}")
    assert raw.status_code == 200
    assert raw["Content-Type"] == "text/xml"
    assert b"".join(raw.streaming_content) == data
    stored = reader.get(f"/DocumentReference/{document_id}").json()
    assert stored["masterIdentifier"]["value"] == f"urn:oid:{header.unique_id}"
    assert stored["type"]["coding"][0]["code"] == header.type_code
    assert stored["content"][0]["attachment"]["title"] == header.title
    assert stored["content"][0]["attachment"]["size"] == len(data)
    assert stored["content"][0]["format"]["code"] == header.format_code
    assert dt.datetime.fromisoformat(stored["date"]) == header.effective_time
    facility = stored["context"]["facilityType"]["coding"][0]["code"]
    assert header.healthcare_facility_type is not None
    assert facility == header.healthcare_facility_type.code


def test_the_cda_with_a_wrong_ins_key_is_refused_with_the_ins_message(client, registered):
    software = m.professional(client)
    document, data, _ = m.cda_docref(WRONG_INS_KEY)
    # As its header says: the subject's INS is refused before anything is stored.
    response = software.provide(m.provide_bundle([(document, data)]))
    assert response.status_code == 400
    issues = {i["expression"][0]: i["diagnostics"] for i in m.outcome(response)}
    assert (
        "La clé du matricule INS est fausse : 01 au lieu de 47."
        in (issues["Bundle.entry[1].resource.subject"])
    )
    # Sent for our patient instead: the CDA header's INS is refused all the same.
    document["subject"] = dict(m.SUBJECT)
    document["contained"][1] = m.source_patient()
    response = software.provide(m.provide_bundle([(document, data)]))
    assert response.status_code == 422
    (issue,) = m.outcome(response)
    assert issue["expression"] == ["Bundle.entry[1].resource.content[0].attachment"]
    assert issue["diagnostics"].startswith("INS du document CDA invalide")
    assert "La clé du matricule INS est fausse" in issue["diagnostics"]
    found = software.get("/DocumentReference", {"patient.identifier": f"{m.INS_TEST}|{m.ANS_INS}"})
    assert found.json()["total"] == 0


def test_a_cda_of_another_patient_is_refused(client, registered):
    """eDISP-MED names NESSI Ruth: sent for the ANS test patient, it is refused (identity)."""
    document, data, _ = m.cda_docref(OTHER_PATIENT)
    document["subject"] = dict(m.SUBJECT)
    document["contained"][1] = m.source_patient()
    response = m.professional(client).provide(m.provide_bundle([(document, data)]))
    assert response.status_code == 422
    (issue,) = m.outcome(response)
    assert "ne correspond pas" in issue["diagnostics"]
