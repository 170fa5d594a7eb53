"""The insurer's system client (a registered issuer flagged as insurer) deposits through the same
ITI-65 / ITI-105 endpoints: reimbursement history and certificates land in "Données de
remboursement" / "Pièces administratives"; it reads nothing back."""

from __future__ import annotations

import pytest

from carnet.documents import services
from carnet.identity.models import SpaceStatus
from carnet.identity.services import actor_for_user
from tests.documents.helpers import ans_test_patient
from tests.fhir import mhd_support as m

pytestmark = pytest.mark.django_db

TRE_A05 = "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"


@pytest.fixture
def holder(settings):
    m.fast_passwords(settings)
    return ans_test_patient()


@pytest.fixture
def insurer(client, settings, holder):
    m.register_software(settings)
    return m.insurer(client)


def _insurer_document(unique_id, number, type_code, class_code, title):
    document = m.docref(
        unique_id,
        content=m.pdf(number),
        type_code=type_code,
        type_system=TRE_A05,
        class_code=class_code,
        title=title,
        facility="SA24",
        practice="AMO",
    )
    document["contained"][0] = {
        "resourceType": "Organization",
        "id": "auteur",
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "318003502400041"}],
        "name": "Assurance Maladie",
    }
    return document


@pytest.mark.parametrize(
    ("type_code", "class_code", "title", "holder_category", "dmp_space"),
    [
        (
            "REMB",
            "60",
            "Relevé de remboursements",
            "pieces-administratives",
            "donnees-de-remboursement",
        ),
        (
            "ATTEST-DROITS-AM",
            "95",
            "Attestation de droits",
            "pieces-administratives",
            "certificats",
        ),
        (
            "CERT_DECL",
            "52",
            "Déclaration de médecin traitant",
            "certificats-medicaux",
            "certificats",
        ),
    ],
)
def test_insurer_deposits_land_in_their_categories(
    insurer, holder, type_code, class_code, title, holder_category, dmp_space
):
    document = _insurer_document("1.2.250.1.213.1.1.9.1", 1, type_code, class_code, title)
    response = insurer.provide(m.provide_bundle([(document, m.pdf(1))]))
    assert response.status_code == 200, response.content
    document_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
    entry = services.get_document(actor_for_user(holder.user), document_id)
    assert (entry.holder_category, entry.dmp_space) == (holder_category, dmp_space)
    assert entry.depositor_kind == "insurer"
    assert entry.author["organisation_name"] == "Assurance Maladie"


def test_insurer_simplified_publish(insurer, holder):
    document = _insurer_document("1.2.250.1.213.1.1.9.2", 2, "REMB", "60", "Relevé")
    document["content"][0]["attachment"]["data"] = m.binary(m.pdf(2))["data"]
    del document["content"][0]["attachment"]["url"]
    response = insurer.post("/DocumentReference", document)
    assert response.status_code == 201, response.content
    assert response.json()["category"][0]["coding"][0]["code"] == "60"


def test_the_insurer_reads_and_searches_nothing(insurer, holder):
    document = _insurer_document("1.2.250.1.213.1.1.9.3", 3, "REMB", "60", "Relevé")
    response = insurer.provide(m.provide_bundle([(document, m.pdf(3))]))
    document_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
    assert insurer.get(f"/DocumentReference/{document_id}").status_code == 404
    assert insurer.get(f"/Binary/{document_id}").status_code == 404
    found = insurer.get("/DocumentReference", {"patient.identifier": f"{m.INS_TEST}|{m.ANS_INS}"})
    assert found.json()["total"] == 0
    patch = insurer.patch(
        f"/DocumentReference/{document_id}",
        [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
    )
    assert patch.status_code == 404


def test_the_insurer_cannot_feed_a_closed_space(insurer, holder):
    holder.space_status = SpaceStatus.CLOSED
    holder.save()
    document = _insurer_document("1.2.250.1.213.1.1.9.4", 4, "REMB", "60", "Relevé")
    response = insurer.provide(m.provide_bundle([(document, m.pdf(4))]))
    assert response.status_code in {404, 409}
    m.outcome(response)


def test_the_insurer_cannot_deposit_a_clinical_document(insurer, holder):
    document = m.docref("1.2.250.1.213.1.1.9.5", content=m.pdf(5))  # a consultation report
    response = insurer.provide(m.provide_bundle([(document, m.pdf(5))]))
    assert response.status_code in {403, 404}
