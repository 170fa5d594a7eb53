"""ITI-65 and ITI-105 deposits: all or nothing, answers in request order, idempotent re-sends,
replacement, every faulty element named at once, and never a 500 for bad input."""

from __future__ import annotations

import copy
import json

import pytest

from carnet.identity.models import SpaceStatus
from tests.documents.helpers import ans_test_patient, cda_bytes
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


def _stored_files(content_store):
    return [p for p in content_store.rglob("*") if p.is_file()]


def _total(pro):
    found = pro.get("/DocumentReference", {"patient.identifier": f"{m.INS_TEST}|{m.ANS_INS}"})
    return found.json()["total"]


def _issues(response, status=400):
    assert response.status_code == status, response.content[:2000]
    return {issue["expression"][0]: issue["diagnostics"] for issue in m.outcome(response)}


def _three():
    return [
        (m.docref(f"1.2.250.1.999.3.{n}", content=m.pdf(n), title=f"Doc {n}"), m.pdf(n))
        for n in range(3)
    ]


# --- ITI-65 ---------------------------------------------------------------------------------------


def test_answers_come_one_per_entry_in_request_order(pro):
    bundle = m.provide_bundle(_three())
    # Entries in an unusual order: Binaries first, the List last.
    bundle["entry"] = bundle["entry"][2::2] + bundle["entry"][1::2] + bundle["entry"][:1]
    response = pro.provide(bundle)
    assert response.status_code == 200, response.content
    answers = [e["response"] for e in response.json()["entry"]]
    assert len(answers) == len(bundle["entry"])
    for request, answer in zip(bundle["entry"], answers, strict=True):
        kind = request["resource"]["resourceType"]
        assert answer["location"].split("/")[0] == kind
        assert answer["status"] == "201 Created"
        if kind == "DocumentReference":
            stored = pro.get("/" + answer["location"].rsplit("/_history", 1)[0]).json()
            assert stored["masterIdentifier"] == request["resource"]["masterIdentifier"]
            assert answer["etag"] == 'W/"1"'


def test_a_resent_bundle_stores_nothing_new(pro):
    bundle = m.provide_bundle(_three())
    first = pro.provide(bundle).json()
    again = pro.provide(copy.deepcopy(bundle))
    assert again.status_code == 200
    answers = [e["response"] for e in again.json()["entry"]]
    assert {a["status"] for a in answers} == {"200 OK"}
    assert [a["location"] for a in answers] == [e["response"]["location"] for e in first["entry"]]
    assert _total(pro) == 3


def test_one_bad_document_stores_nothing_and_is_named(pro, content_store):
    documents = _three()
    documents[1][0]["type"]["coding"][0]["code"] = "NOT-A-TYPE"
    issues = _issues(pro.provide(m.provide_bundle(documents)))
    assert list(issues) == ["Bundle.entry[3].resource.type"]
    assert "inconnu" in issues["Bundle.entry[3].resource.type"]
    assert _total(pro) == 0
    assert _stored_files(content_store) == []


def test_a_refusal_by_the_service_also_stores_nothing(pro, content_store):
    """The second document is a CDA whose metadata contradict its header (found only once its
    content is read, by the service): the first, valid one is not kept either."""
    cda, data, _ = m.cda_docref("LDL-SES_2022.01.xml")
    cda["type"]["coding"][0]["code"] = "11488-4"  # the header says 11490-0
    documents = [(m.docref("1.2.250.1.999.4.1", content=m.pdf(1)), m.pdf(1)), (cda, data)]
    issues = _issues(pro.provide(m.provide_bundle(documents)))
    assert list(issues) == ["Bundle.entry.resource.content[0].attachment"]
    assert "en-tête CDA" in issues["Bundle.entry.resource.content[0].attachment"]
    assert _total(pro) == 0
    assert _stored_files(content_store) == []


def test_every_faulty_mandatory_element_is_named_in_one_answer(pro):
    document = m.docref("1.2.250.1.999.5.1", content=m.pdf(1))
    for element in ("masterIdentifier", "status", "date", "author", "securityLabel", "subject"):
        del document[element]
    document["type"]["coding"][0]["code"] = "34133-9"  # a Synthèse (11), category says 10
    attachment = document["content"][0]["attachment"]
    for element in ("contentType", "title", "language", "size", "hash"):
        del attachment[element]
    del document["content"][0]["format"]
    document["context"] = {"sourcePatientInfo": {"reference": "#patient"}}
    bundle = m.provide_bundle([(m.docref("1.2.250.1.999.5.1", content=m.pdf(1)), m.pdf(1))])
    document["content"][0]["attachment"]["url"] = bundle["entry"][2]["fullUrl"]
    bundle["entry"][1]["resource"] = document
    issues = _issues(pro.provide(bundle))
    path = "Bundle.entry[1].resource"
    assert set(issues) >= {
        f"{path}.masterIdentifier",
        f"{path}.status",
        f"{path}.category[0]",
        f"{path}.date",
        f"{path}.author",
        f"{path}.securityLabel",
        f"{path}.subject",
        f"{path}.content[0].attachment.contentType",
        f"{path}.content[0].attachment.title",
        f"{path}.content[0].attachment.language",
        f"{path}.content[0].attachment.size",
        f"{path}.content[0].attachment.hash",
        f"{path}.content[0].format",
        f"{path}.context.facilityType",
        f"{path}.context.practiceSetting",
        f"{path}.context.period.start",
    }
    assert all(message.startswith(expression) for expression, message in issues.items())


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (lambda d: d["securityLabel"].append({"coding": [{"code": "SECRET"}]}), "securityLabel[1]"),
        (
            lambda d: d["securityLabel"].extend(
                [
                    {"coding": [{"system": m.VISIBILITY, "code": "MASQUE_PS"}]},
                    {"coding": [{"system": m.VISIBILITY, "code": "INVISIBLE_PATIENT"}]},
                ]
            ),
            "securityLabel",
        ),
        (lambda d: d.update(date="2025-01-10"), "date"),
        (lambda d: d.update(date="2999-01-01T00:00:00+01:00"), "date"),
        (lambda d: d["masterIdentifier"].update(value="urn:oid:1.2.abc"), "masterIdentifier"),
        (lambda d: d["type"]["coding"][0].update(system="http://snomed.info/sct"), "type"),
        (lambda d: d["type"]["coding"][0].update(code="FEUILLE-DE-STYLE"), "type"),
        (lambda d: d["content"][0]["format"].update(code="urn:nope"), "content[0].format"),
        (
            lambda d: d["context"]["facilityType"]["coding"][0].update(code="SA99"),
            "context.facilityType",
        ),
        (lambda d: d["context"]["period"].update(start="hier"), "context.period.start"),
        (lambda d: d.update(relatesTo=[{"code": "appends", "target": {}}]), "relatesTo[0].code"),
        (lambda d: d["content"][0]["attachment"].update(size=3), "content[0].attachment.size"),
        (lambda d: d["content"][0]["attachment"].update(hash="!!"), "content[0].attachment.hash"),
        (lambda d: d["subject"].update(reference="Patient/123"), "subject"),
        (lambda d: d["author"].append({"reference": "#nobody"}), "author[1]"),
        (lambda d: d["contained"][1].update(birthDate="1980-01-01"), None),
    ],
)
def test_each_wrong_value_is_named(pro, change, expression):
    document = m.docref("1.2.250.1.999.5.2", content=m.pdf(2))
    change(document)
    response = pro.provide(m.provide_bundle([(document, m.pdf(2))]))
    if expression is None:  # strict traits that contradict the space: the service says so
        assert response.status_code == 422
        assert "date de naissance" in m.outcome(response)[0]["diagnostics"]
        return
    issues = _issues(response)
    assert f"Bundle.entry[1].resource.{expression}" in issues
    assert _total(pro) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "expression"),
    [
        (b"{not json", m.FHIR_JSON, 400, None),
        (b"[]", m.FHIR_JSON, 400, None),
        (b"\xff\xfe", m.FHIR_JSON, 400, None),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, m.FHIR_JSON, 400, None, id="nested"),
        (json.dumps({"resourceType": "Patient"}).encode(), m.FHIR_JSON, 400, "Bundle.resourceType"),
        (b'{"resourceType": "Bundle", "type": "transaction"}', m.FHIR_JSON, 400, "Bundle.entry"),
        (b"<Bundle/>", "application/fhir+xml", 400, "Content-Type"),
    ],
)
def test_malformed_bundles_get_an_operation_outcome(pro, body, content_type, status, expression):
    response = pro.post("/", body, content_type=content_type)
    assert response.status_code == status
    issues = m.outcome(response)
    if expression:
        assert issues[0]["expression"] == [expression]


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (lambda b: b.update(type="batch"), "Bundle.type"),
        (
            lambda b: b["entry"][2]["resource"].update(data="%%%not base64"),
            "Bundle.entry[2].resource.data",
        ),
        (
            lambda b: b["entry"][2]["resource"].pop("contentType"),
            "Bundle.entry[2].resource.contentType",
        ),
        (
            lambda b: b["entry"][1]["resource"]["content"][0]["attachment"].update(
                url="urn:uuid:0"
            ),
            "Bundle.entry[1].resource.content[0].attachment.url",
        ),
        (lambda b: b["entry"].append(copy.deepcopy(b["entry"][2])), "Bundle.entry[3].fullUrl"),
        (lambda b: b["entry"][0]["resource"]["entry"].clear(), "Bundle.entry[0].resource.entry"),
        (lambda b: b["entry"].pop(0), "Bundle.entry"),
        (lambda b: b["entry"][1]["request"].update(method="PUT"), "Bundle.entry[1].request"),
        (lambda b: b["entry"][1].pop("fullUrl"), "Bundle.entry[1].fullUrl"),
        (
            lambda b: b["entry"].append(
                {"resource": {"resourceType": "Practitioner"}, "request": {"method": "POST"}}
            ),
            "Bundle.entry[3].resource",
        ),
        (
            lambda b: b["entry"].append(
                {
                    "resource": {"resourceType": "Parameters", "parameter": []},
                    "request": {"method": "PATCH", "url": "DocumentReference/x"},
                }
            ),
            "Bundle.entry[3].request",
        ),
        (
            lambda b: b["entry"][0]["resource"].update(status="retired"),
            "Bundle.entry[0].resource.status",
        ),
        (
            lambda b: b["entry"][1]["resource"].update(
                subject={
                    "reference": "Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|180017505600103"
                }
            ),
            "Bundle.entry[1].resource.subject",
        ),
    ],
)
def test_bundles_that_do_not_hold_together_are_refused(pro, change, expression):
    bundle = m.provide_bundle([(m.docref("1.2.250.1.999.6.1", content=m.pdf(1)), m.pdf(1))])
    change(bundle)
    issues = _issues(pro.provide(bundle))
    assert expression in issues
    assert _total(pro) == 0


def test_an_oversized_request_is_refused_with_413(pro, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = pro.provide(
        m.provide_bundle([(m.docref("1.2.250.1.999.6.2", content=b"x" * 2048), b"x" * 2048)])
    )
    assert response.status_code == 413
    assert m.outcome(response)[0]["code"] == "too-costly"


def test_an_unknown_patient_and_a_closed_space_are_refused(pro, holder):
    document = m.docref("1.2.250.1.999.6.3", content=m.pdf(3))
    # 180017505600103: a valid NIR (production OID) for which no space exists.
    document["subject"] = {
        "reference": "Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|180017505600103"
    }
    document["contained"].pop()
    document["context"].pop("sourcePatientInfo")
    bundle = m.provide_bundle([(document, m.pdf(3))])
    response = pro.provide(bundle)
    assert response.status_code == 404
    assert "Aucun espace santé" in m.outcome(response)[0]["diagnostics"]
    holder.space_status = SpaceStatus.CLOSED
    holder.save()
    response = pro.provide(
        m.provide_bundle([(m.docref("1.2.250.1.999.6.4", content=m.pdf(4)), m.pdf(4))])
    )
    assert response.status_code in {404, 409}
    assert m.outcome(response)[0]["severity"] == "error"


# --- Replacement ----------------------------------------------------------------------------------


def _deposit(pro, unique_id, number, **kwargs):
    response = pro.provide(
        m.provide_bundle(
            [(m.docref(unique_id, content=m.pdf(number), **kwargs), m.pdf(number))],
            f"1.2.250.1.999.20.{number}",
        )
    )
    assert response.status_code == 200, response.content
    return response.json()["entry"][1]["response"]["location"].split("/")[1]


def test_a_new_version_replaces_the_old_one(pro):
    old_id = _deposit(pro, "1.2.250.1.999.7.1", 1)
    replacing = m.docref("1.2.250.1.999.7.2", content=m.pdf(2), title="Version 2")
    replacing["relatesTo"] = [
        {"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}
    ]
    response = pro.provide(m.provide_bundle([(replacing, m.pdf(2))], "1.2.250.1.999.20.2"))
    assert response.status_code == 200, response.content
    new_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
    old = pro.get(f"/DocumentReference/{old_id}").json()
    assert (old["status"], old["meta"]["versionId"]) == ("superseded", "2")
    current = pro.get(
        "/DocumentReference",
        {"patient.identifier": f"{m.INS_TEST}|{m.ANS_INS}", "status": "current"},
    )
    assert [e["resource"]["id"] for e in current.json()["entry"]] == [new_id]
    # The replaced one cannot be replaced again.
    again = m.docref("1.2.250.1.999.7.3", content=m.pdf(3))
    again["relatesTo"] = [
        {"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}
    ]
    issues = _issues(pro.provide(m.provide_bundle([(again, m.pdf(3))], "1.2.250.1.999.20.3")))
    assert "Bundle.entry[1].resource.relatesTo.target" in issues


def test_only_the_author_replaces_a_document(pro, client):
    old_id = _deposit(pro, "1.2.250.1.999.8.1", 1)
    other = m.professional(client, rpps=m.OTHER_RPPS, organisation="1" + m.jf.with_luhn("75000002"))
    replacing = m.docref("1.2.250.1.999.8.2", content=m.pdf(2), rpps=m.OTHER_RPPS)
    replacing["relatesTo"] = [
        {"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}
    ]
    response = other.provide(m.provide_bundle([(replacing, m.pdf(2))]))
    assert response.status_code == 404
    assert pro.get(f"/DocumentReference/{old_id}").json()["status"] == "current"


# --- ITI-105 --------------------------------------------------------------------------------------


def test_simplified_publish_creates_then_finds_the_same_document(pro):
    document = m.simplified("1.2.250.1.999.9.1", content=m.pdf(1))
    response = pro.post("/DocumentReference", document)
    assert response.status_code == 201, response.content
    created = response.json()
    assert response["Location"].endswith(f"/DocumentReference/{created['id']}/_history/1")
    assert response["ETag"] == 'W/"1"'
    again = pro.post("/DocumentReference", document)
    assert again.status_code == 200
    assert again.json()["id"] == created["id"]


def test_simplified_publish_derives_what_the_cda_header_says(pro):
    data = cda_bytes("LDL-SES_2022.01.xml")
    document, _, header = m.cda_docref("LDL-SES_2022.01.xml")
    document["content"][0]["attachment"] = {
        "contentType": "text/xml",
        "data": m.binary(data)["data"],
    }
    del document["content"][0]["format"]
    del document["context"]
    del document["category"]
    del document["securityLabel"]
    response = pro.post("/DocumentReference", document)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["content"][0]["attachment"]["title"] == header.title
    assert created["content"][0]["format"]["code"] == "urn:asip:ci-sis:ldl-ses:2017"
    assert created["context"]["facilityType"]["coding"][0]["code"] == "SA01"
    assert created["context"]["practiceSetting"]["coding"][0]["code"] == "ETABLISSEMENT"
    assert created["category"][0]["coding"][0]["code"] == "10"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{", m.FHIR_JSON, 400),
        (json.dumps({"resourceType": "Binary"}).encode(), m.FHIR_JSON, 400),
        (b"{}", "text/plain", 415),
    ],
)
def test_malformed_simplified_publications(pro, body, content_type, status):
    response = pro.post("/DocumentReference", body, content_type=content_type)
    assert response.status_code == status
    m.outcome(response)


def test_simplified_publish_refuses_a_url_and_bad_base64(pro):
    document = m.simplified("1.2.250.1.999.9.2", content=m.pdf(2))
    document["content"][0]["attachment"]["url"] = "http://ailleurs.example/doc"
    document["content"][0]["attachment"]["data"] = "!!"
    issues = _issues(pro.post("/DocumentReference", document))
    assert "DocumentReference.content[0].attachment.url" in issues
    assert "DocumentReference.content[0].attachment.data" in issues


# Shapes that once reached an unguarded corner (found by feeding every element of a valid
# deposit with null, numbers, strings, lists and objects): each is a 4xx OperationOutcome.
@pytest.mark.parametrize(
    "change",
    [
        lambda b: b["entry"][1]["resource"]["contained"][0].update(resourceType=[]),
        lambda b: b["entry"][1]["resource"]["contained"][1].update(resourceType={"a": 1}),
        lambda b: b["entry"][0]["resource"].update(resourceType=[None]),
        lambda b: b.update(entry=5),
        lambda b: b["entry"][1]["resource"].update(date="0001-01-01T00:00:00+14:00"),
    ],
)
def test_hostile_shapes_are_refused_not_crashed(pro, change):
    bundle = m.provide_bundle([(m.docref("1.2.250.1.999.6.9", content=m.pdf(9)), m.pdf(9))])
    change(bundle)
    response = pro.provide(bundle)
    assert 400 <= response.status_code < 500
    m.outcome(response)


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59+14:00", "ge9999", "lt0001-01-01"])
def test_dates_at_the_edge_of_the_calendar_are_refused(pro, value):
    response = pro.get(
        "/DocumentReference", {"patient.identifier": f"{m.INS_TEST}|{m.ANS_INS}", "date": value}
    )
    assert response.status_code == 400
    assert m.outcome(response)[0]["expression"] == ["date"]
