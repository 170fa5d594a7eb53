"""Every PDSm / PDSm4DMP example of the ANS guides (reference data) sent to the document API.

Adaptations are the least each example needs to reach *our* test space, and each is named:
  - subject: the examples name their patient `Patient/fr-patient-123` (a server id of the IG's
    own server) or by the sample INS 123456789012345, whose key is wrong; both become the ANS
    test patient's INS (conditional reference), and contained source Patients get her INS and
    strict traits (the IG's Martin Claire is not her);
  - server-assigned ids: `DocumentReference/doc-old` and `doc-x-id` become the ids our server
    gave the documents deposited first.
What remains wrong is the example's own fault: the test asserts the reasons given (one issue per
faulty element), then corrects exactly those and shows the deposit is accepted, so the list of
reasons is complete.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference

from tests.documents.helpers import ans_test_patient
from tests.fhir import mhd_support as m

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(settings):
    m.fast_passwords(settings)
    return ans_test_patient()


@pytest.fixture
def pro(client, settings, holder):
    m.register_software(settings)
    return m.professional(client)


def _ours(resource: dict[str, Any]) -> dict[str, Any]:
    """Adaptation: every subject names our patient; contained Patients become her (same id)."""
    adapted = copy.deepcopy(resource)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("resourceType") in {"DocumentReference", "List"} and "subject" in node:
                node["subject"] = dict(m.SUBJECT)
            for item in node.get("contained", []):
                if item.get("resourceType") == "Patient":
                    item.update({**m.source_patient(), "id": item["id"]})
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(adapted)
    return adapted


def _own_source_patient(document: dict[str, Any]) -> None:
    """Adaptation: `sourcePatientInfo: Patient/fr-patient-123` (unresolvable here) → contained."""
    document.setdefault("contained", []).append({**m.source_patient(), "id": "source"})
    document["context"]["sourcePatientInfo"] = {"reference": "#source"}


def _refusal(response: Any, status: int = 400) -> dict[str, str]:
    assert response.status_code == status, response.content[:2000]
    return {issue["expression"][0]: issue["diagnostics"] for issue in m.outcome(response)}


def _resource_at(bundle: dict[str, Any], full_url: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e.get("fullUrl") == full_url)


# --- PDSm 3.1.1: the replacement Bundle and the document it replaces ------------------------------


def _doc_old_bundle() -> dict[str, Any]:
    """DocumentReference-doc-old with Binary-6789 as its content, in an ITI-65 Bundle."""
    document = _ours(m.example("pdsm/DocumentReference-doc-old.json"))
    _own_source_patient(document)
    content = m.example("pdsm/Binary-6789.json")
    document["content"][0]["attachment"]["url"] = "urn:uuid:00000000-0000-4000-9000-000000006789"
    del content["id"]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            m.entry(
                "urn:uuid:00000000-0000-4000-8000-0000000000ff",
                m.submission_set(["urn:uuid:00000000-0000-4000-8000-000000000001"]),
            ),
            m.entry("urn:uuid:00000000-0000-4000-8000-000000000001", document),
            m.entry("urn:uuid:00000000-0000-4000-9000-000000006789", content),
        ],
    }


def test_doc_old_is_refused_for_its_own_faults_then_accepted_once_corrected(pro):
    bundle = _doc_old_bundle()
    reasons = _refusal(pro.provide(bundle))
    path = "Bundle.entry[1].resource"
    assert set(reasons) == {
        f"{path}.status",  # "superseded": it shows the document after its replacement
        f"{path}.category[0]",  # class 10, but 34133-9 is a Synthèse (11) in ASS_X04
        f"{path}.content[0].attachment.size",  # 345678 declared, Binary-6789 holds 11 bytes
        f"{path}.content[0].attachment.hash",  # SHA-1 of the empty string
    }
    assert "superseded" in reasons[f"{path}.status"]
    assert "vaut 11" in reasons[f"{path}.category[0]"]
    # Corrected: current, class 11, the Binary's real size and hash.
    document = bundle["entry"][1]["resource"]
    document["status"] = "current"
    document["category"][0]["coding"][0]["code"] = "11"
    document["content"][0]["attachment"].update(size=11, hash=m.sha1_b64(b"Hello World"))
    response = pro.provide(bundle)
    assert response.status_code == 200, response.content
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201 Created"] * 3


def _deposit_doc_old(pro) -> str:
    bundle = _doc_old_bundle()
    document = bundle["entry"][1]["resource"]
    document["status"] = "current"
    document["category"][0]["coding"][0]["code"] = "11"
    document["content"][0]["attachment"].update(size=11, hash=m.sha1_b64(b"Hello World"))
    response = pro.provide(bundle)
    assert response.status_code == 200, response.content
    return response.json()["entry"][1]["response"]["location"].split("/")[1]


def test_the_pdsm_replacement_bundle_is_refused_for_its_faults_then_replaces(pro):
    old_id = _deposit_doc_old(pro)
    bundle = _ours(
        m.example("pdsm/Bundle-bundle-exemple-comprehensiveprovidedocument-replace.json")
    )
    document = bundle["entry"][1]["resource"]
    document["relatesTo"][0]["target"]["reference"] = f"DocumentReference/{old_id}"
    bundle["entry"][2]["request"]["url"] = f"DocumentReference/{old_id}"
    reasons = _refusal(pro.provide(bundle))
    path = "Bundle.entry[1].resource"
    assert set(reasons) == {
        f"{path}.category[0]",  # class 10 for a 34133-9 (Synthèse, 11)
        f"{path}.content[0].attachment.hash",  # the SHA-1 of "hello"; the Binary holds "Hello"
    }
    # Corrected: class 11 and the hash of what the Binary holds.
    document["category"][0]["coding"][0]["code"] = "11"
    document["content"][0]["attachment"]["hash"] = m.sha1_b64(b"Hello")
    response = pro.provide(bundle)
    assert response.status_code == 200, response.content
    answers = [e["response"] for e in response.json()["entry"]]
    # One answer per request entry, in order: List, DocumentReference, PATCH, Binary.
    assert [a["status"] for a in answers] == ["201 Created", "201 Created", "200 OK", "201 Created"]
    assert answers[0]["location"].startswith("List/")
    assert answers[1]["location"].startswith("DocumentReference/")
    assert answers[2]["location"] == f"DocumentReference/{old_id}"
    assert answers[3]["location"].startswith("Binary/")
    # The example's List has no uniqueId: accepted with a warning naming it.
    warning = answers[0]["outcome"]["issue"][0]
    assert warning["severity"] == "warning"
    assert warning["expression"] == ["Bundle.entry[0].resource.identifier"]
    old = pro.get(f"/DocumentReference/{old_id}").json()
    assert old["status"] == "superseded"
    assert old["meta"]["versionId"] == "2"
    new_id = answers[1]["location"].split("/")[1]
    new = pro.get(f"/DocumentReference/{new_id}").json()
    assert new["relatesTo"] == [
        {"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}
    ]
    assert b"".join(pro.get(f"/Binary/{new_id}").streaming_content) == b"Hello"


# --- PDSm4DMP (draft 0.1.0): TD2 and TD2.1 Bundles ----------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "pdsm4dmp/Bundle-example-td2-iti65-lot-soumission.json",
        "pdsm4dmp/Bundle-example-td2-1-remplacement.json",
    ],
)
def test_pdsm4dmp_bundles_are_refused_for_their_own_faults(pro, name):
    as_published = m.example(name)
    reasons = _refusal(pro.provide(as_published))
    path = "Bundle.entry[1].resource"
    # The sample INS 123456789012345 has a wrong key (11, not 45): named on each subject.
    assert "La clé du matricule INS est fausse : 45 au lieu de 11." in reasons[f"{path}.subject"]
    assert "Bundle.entry[0].resource.subject" in reasons
    bundle = _ours(as_published)
    if "remplacement" in name:
        # The replaced document must exist: the LPS deposited it before (our id replaces doc-x-id).
        original = m.docref("1.2.250.1.213.1.4.8.99999.0", content=m.pdf(1), type_code="11488-4")
        first = pro.provide(m.provide_bundle([(original, m.pdf(1))], "1.2.250.1.999.8.1"))
        old_id = first.json()["entry"][1]["response"]["location"].split("/")[1]
        bundle["entry"][1]["resource"]["relatesTo"][0]["target"]["reference"] = (
            f"DocumentReference/{old_id}"
        )
        bundle["entry"][2]["request"]["url"] = f"DocumentReference/{old_id}"
    reasons = _refusal(pro.provide(bundle))
    assert set(reasons) == {
        f"{path}.category[0]",  # class 11 for 11488-4, a Compte rendu (10)
        f"{path}.context.facilityType",  # SNOMED 22232009, not TRE_R02 (JDV_J61)
        f"{path}.context.practiceSetting",  # SNOMED 394802001, not TRE_A01 (JDV_J04)
    }
    # Corrected codes: the last fault is the content, a CDA with no header at all.
    document = bundle["entry"][1]["resource"]
    document["category"][0]["coding"][0]["code"] = "10"
    document["context"]["facilityType"] = {"coding": [{"system": m.FACILITY, "code": "SA01"}]}
    document["context"]["practiceSetting"] = {
        "coding": [{"system": m.PRACTICE, "code": "ETABLISSEMENT"}]
    }
    reasons = _refusal(pro.provide(bundle))
    assert list(reasons) == [f"{path}.content[0].attachment"]
    assert "Document CDA refusé" in reasons[f"{path}.content[0].attachment"]
    assert "« id »" in reasons[f"{path}.content[0].attachment"]


# --- ITI-105 simplified publish ------------------------------------------------------------------


def test_the_pdsm_simplified_example_is_refused_for_its_faults_then_accepted(pro):
    document = _ours(m.example("pdsm/DocumentReference-PDSmSimplifiedExample.json"))
    reasons = _refusal(pro.post("/DocumentReference", document))
    assert set(reasons) == {
        "DocumentReference.masterIdentifier",  # urn:uuid:abcd-efgh-ijkl-mnop is not a UUID
        "DocumentReference.author[0]",  # PractitionerRole/… on the IG's server, not contained
        "DocumentReference.authenticator",  # idem
        "DocumentReference.content[0].attachment.size",  # 250000 declared, 11 sent
        "DocumentReference.content[0].attachment.hash",  # SHA-1 of the empty string
        "DocumentReference.context.period.start",  # serviceStartTime is mandatory (DMP)
    }
    # Corrected.
    document["masterIdentifier"]["value"] = "urn:uuid:6e2b1c9a-1f0c-4f5e-9d3a-2b7c8d9e0f11"
    document["contained"] = [m.author_practitioner()]
    document["author"] = [{"reference": "#auteur"}]
    document["authenticator"] = {"reference": "#auteur"}
    document["content"][0]["attachment"].update(size=11, hash=m.sha1_b64(b"Hello World"))
    document["context"]["period"] = {"start": "2025-04-29T17:00:00+01:00"}
    response = pro.post("/DocumentReference", document)
    assert response.status_code == 201, response.content
    created = response.json()
    DocumentReference.model_validate(created)
    assert created["masterIdentifier"]["value"] == "urn:uuid:6e2b1c9a-1f0c-4f5e-9d3a-2b7c8d9e0f11"
    assert created["category"][0]["coding"][0]["code"] == "10"
    assert b"".join(pro.get(f"/Binary/{created['id']}").streaming_content) == b"Hello World"


def test_the_pdsm4dmp_simplified_publish_example_is_refused(pro):
    as_published = m.example(
        "pdsm4dmp/DocumentReference-example-td2-iti105-publication-simplifiee.json"
    )
    reasons = _refusal(pro.post("/DocumentReference", as_published))
    assert "La clé du matricule INS est fausse" in reasons["DocumentReference.subject"]
    reasons = _refusal(pro.post("/DocumentReference", _ours(as_published)))
    # Its content is a CDA without header: nothing to check, nothing to derive the context from.
    assert set(reasons) == {
        "DocumentReference.content[0].attachment.data",
        "DocumentReference.context.facilityType",
        "DocumentReference.context.practiceSetting",
        "DocumentReference.context.period.start",
    }
    assert "document CDA illisible" in reasons["DocumentReference.content[0].attachment.data"]


@pytest.mark.parametrize(
    "name",
    [
        "pdsm/DocumentReference-doc-old.json",
        "pdsm/DocumentReference-exemple-pdsm-documentreference.json",
        "pdsm4dmp/DocumentReference-doc-x-id.json",
    ],
)
def test_comprehensive_document_references_are_not_simplified_publications(pro, name):
    """These show stored documents (content by url); as ITI-105 they lack the document."""
    reasons = _refusal(pro.post("/DocumentReference", _ours(m.example(name))))
    assert "DocumentReference.content[0].attachment.url" in reasons
    assert "DocumentReference.content[0].attachment.data" in reasons


# --- The other examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expression"),
    [
        ("pdsm/Bundle-a9c10f8a-882d-4000-a280-7150e0aeb478.json", "Bundle.type"),
        ("pdsm4dmp/Bundle-example-annexe-searchset-documentreferences.json", "Bundle.type"),
        ("pdsm4dmp/Bundle-example-annexe-fhir-document.json", "Bundle.type"),
        ("pdsm/List-ExampleSubmissionSet.json", "Bundle.resourceType"),
        ("pdsm/List-ExampleFolder.json", "Bundle.resourceType"),
        ("pdsm/Binary-6789.json", "Bundle.resourceType"),
        ("pdsm/Patient-fr-patient-123.json", "Bundle.resourceType"),
        ("pdsm/Organization-org-example.json", "Bundle.resourceType"),
    ],
)
def test_examples_that_are_not_transactions_are_refused_at_the_base_url(pro, name, expression):
    assert set(_refusal(pro.provide(m.example(name)))) == {expression}


def test_the_example_submission_set_heads_a_deposit(pro, holder):
    """List-ExampleSubmissionSet as the set of an ITI-65 Bundle (subject and item adapted)."""
    submission_set = _ours(m.example("pdsm/List-ExampleSubmissionSet.json"))
    submission_set["entry"] = [
        {"item": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"}}
    ]
    bundle = m.provide_bundle([(m.docref("1.2.250.1.999.7.1", content=m.pdf(7)), m.pdf(7))])
    bundle["entry"][0]["resource"] = submission_set
    response = pro.provide(bundle)
    assert response.status_code == 200, response.content
    found = pro.get(
        "/List", {"patient": str(holder.pk), "code": f"{m.MHD_LIST_TYPES}|submissionset"}
    )
    lists = [e["resource"] for e in found.json()["entry"]]
    assert [lst["identifier"][0]["value"] for lst in lists] == [
        "urn:uuid:11111111-aaaa-bbbb-cccc-222222222222"
    ]
    assert lists[0]["title"] == "Dossier de suivi post-opératoire"
    assert lists[0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "SA05"


def test_a_folder_in_a_deposit_is_refused(pro):
    bundle = m.provide_bundle([(m.docref("1.2.250.1.999.7.2", content=m.pdf(8)), m.pdf(8))])
    folder = _ours(m.example("pdsm/List-ExampleFolder.json"))
    bundle["entry"].append(m.entry("urn:uuid:00000000-0000-4000-8000-00000000f01d", folder))
    reasons = _refusal(pro.provide(bundle))
    assert set(reasons) == {"Bundle.entry[3].resource"}
    assert "classeurs" in reasons["Bundle.entry[3].resource"]


def test_a_patient_entry_without_ins_cannot_be_the_subject(pro):
    """Patient-fr-patient-123 as a Bundle entry: it carries names but no INS."""
    bundle = m.provide_bundle([(m.docref("1.2.250.1.999.7.3", content=m.pdf(9)), m.pdf(9))])
    patient_url = "urn:uuid:00000000-0000-4000-8000-00000000fa71"
    bundle["entry"].append(
        {
            "fullUrl": patient_url,
            "resource": m.example("pdsm/Patient-fr-patient-123.json"),
            "request": {"method": "POST", "url": "Patient"},
        }
    )
    for index in (0, 1):
        bundle["entry"][index]["resource"]["subject"] = {"reference": patient_url}
    reasons = _refusal(pro.provide(bundle))
    assert "ne porte pas d'INS" in reasons["Bundle.entry[0].resource.subject"]
    assert "ne porte pas d'INS" in reasons["Bundle.entry[1].resource.subject"]
    # The same entry with her INS is a valid way to name the patient.
    bundle["entry"][3]["resource"] = {**m.source_patient(), "id": "fr-patient-123"}
    response = pro.provide(bundle)
    assert response.status_code == 200, response.content
    assert response.json()["entry"][3]["response"]["status"] == "200 OK"


def test_the_fhir_document_example_is_deposited_as_content(pro):
    """Bundle-example-annexe-fhir-document is a document, not a transaction: it travels as the
    content of a DocumentReference (application/fhir+json) and comes back byte for byte."""
    content = (m.FHIR_DIR / "pdsm4dmp/Bundle-example-annexe-fhir-document.json").read_bytes()
    document = m.docref(
        "1.2.250.1.213.1.4.8.99999.202",
        content=content,
        type_code="60591-5",
        class_code="11",
        mime_type="application/fhir+json",
        format_code="urn:ihe:iti:xds:2017:mimeTypeSufficient",
        title="Synthèse patient 20/11/2024",
    )
    response = pro.provide(m.provide_bundle([(document, content)]))
    assert response.status_code == 200, response.content
    document_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
    raw = pro.get(f"/Binary/{document_id}")
    assert raw["Content-Type"] == "application/fhir+json"
    assert b"".join(raw.streaming_content) == content
    wrapped = pro.get(f"/Binary/{document_id}", HTTP_ACCEPT="application/fhir+json").json()
    assert base64.b64decode(wrapped["data"]) == content


def test_our_answers_have_the_shape_of_the_published_ones(pro, holder):
    """The transaction-response and searchset examples, against ours."""
    published = m.example("pdsm/Bundle-a9c10f8a-882d-4000-a280-7150e0aeb478.json")
    answer = pro.provide(
        m.provide_bundle([(m.docref("1.2.250.1.999.7.4", content=m.pdf(10)), m.pdf(10))])
    ).json()
    Bundle.model_validate(answer)
    assert answer["type"] == published["type"]
    assert [e["response"]["location"].split("/")[0] for e in answer["entry"]] == [
        e["response"]["location"].split("/")[0] for e in published["entry"]
    ]
    assert all(e["response"]["status"].startswith("201") for e in answer["entry"])
    searchset = m.example("pdsm4dmp/Bundle-example-annexe-searchset-documentreferences.json")
    found = pro.get("/DocumentReference", {"patient": str(holder.pk), "status": "current"}).json()
    Bundle.model_validate(found)
    assert found["type"] == searchset["type"]
    ours = found["entry"][0]
    theirs = searchset["entry"][0]
    assert ours["search"] == theirs["search"]
    shared = set(theirs["resource"]) - {"id", "meta", "contained", "authenticator"}
    assert shared <= set(ours["resource"])
