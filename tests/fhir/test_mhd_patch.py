"""PDSm metadata updates: only status, securityLabel and the isArchived extension may change (any
other path is a 405); each change is a new version; only the author deletes."""

from __future__ import annotations

import pytest

from tests.documents.helpers import ans_test_patient
from tests.fhir import mhd_support as m

pytestmark = pytest.mark.django_db

INS = f"{m.INS_TEST}|{m.ANS_INS}"
UNIQUE_ID = "1.2.250.1.999.2.1"


@pytest.fixture
def holder(settings):
    m.fast_passwords(settings)
    return ans_test_patient()


@pytest.fixture
def pro(client, settings, holder):
    m.register_software(settings)
    return m.professional(client)


@pytest.fixture
def document_id(pro):
    response = pro.provide(m.provide_bundle([(m.docref(UNIQUE_ID, content=m.pdf(1)), m.pdf(1))]))
    assert response.status_code == 200, response.content
    return response.json()["entry"][1]["response"]["location"].split("/")[1]


def _labels(resource):
    return [c["coding"][0]["code"] for c in resource["securityLabel"]]


def test_masking_and_unmasking_are_new_versions(pro, document_id):
    masked = pro.patch(
        f"/DocumentReference/{document_id}",
        [
            {
                "op": "add",
                "path": "/securityLabel/-",
                "value": {"coding": [{"system": m.VISIBILITY, "code": "MASQUE_PS"}]},
            }
        ],
    )
    assert masked.status_code == 200, masked.content
    body = masked.json()
    assert (body["meta"]["versionId"], _labels(body)) == ("2", ["N", "MASQUE_PS"])
    assert masked["ETag"] == 'W/"2"'
    shown = pro.patch(
        f"/DocumentReference/{document_id}", [{"op": "remove", "path": "/securityLabel/1"}]
    )
    assert (shown.json()["meta"]["versionId"], _labels(shown.json())) == ("3", ["N"])


def test_archiving_through_the_extension(pro, document_id):
    response = pro.patch(
        f"/DocumentReference/{document_id}",
        [
            {
                "op": "replace",
                "path": "/extension/0",
                "value": {"url": m.IS_ARCHIVED, "valueBoolean": True},
            }
        ],
    )
    assert response.status_code == 200, response.content
    assert response.json()["extension"] == [{"url": m.IS_ARCHIVED, "valueBoolean": True}]


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "/description", "value": "autre"},
        {"op": "replace", "path": "/content/0/attachment/title", "value": "Autre titre"},
        {"op": "replace", "path": "/type/coding/0/code", "value": "11490-0"},
        {"op": "replace", "path": "/subject/reference", "value": "Patient/x"},
        {"op": "remove", "path": "/meta"},
        {"op": "add", "path": "/extension/-", "value": {"url": "http://autre", "valueString": "x"}},
        {"op": "replace", "path": "/status/x", "value": "current"},
    ],
)
def test_any_other_path_is_refused_with_405(pro, document_id, operation):
    response = pro.patch(f"/DocumentReference/{document_id}", [operation])
    assert response.status_code == 405, response.content
    (issue,) = m.outcome(response)
    assert issue["code"] == "not-supported"
    assert "status, securityLabel" in issue["diagnostics"]
    assert pro.get(f"/DocumentReference/{document_id}").json()["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ([], m.JSON_PATCH, 400),
        ({"op": "replace"}, m.JSON_PATCH, 400),
        (b"not json", m.JSON_PATCH, 400),
        ([{"op": "move", "from": "/status", "path": "/status"}], m.JSON_PATCH, 400),
        ([{"op": "replace", "path": "status", "value": "x"}], m.JSON_PATCH, 400),
        ([{"op": "replace", "path": "/status"}], m.JSON_PATCH, 400),
        ([{"op": "replace", "path": "/status", "value": "superseded"}], m.JSON_PATCH, 400),
        ([{"op": "replace", "path": "/status", "value": "current"}], m.JSON_PATCH, 400),
        ([{"op": "test", "path": "/status", "value": "superseded"}], m.JSON_PATCH, 412),
        ([{"op": "remove", "path": "/securityLabel/7"}], m.JSON_PATCH, 400),
        (
            [{"op": "replace", "path": "/extension/0/valueBoolean", "value": "oui"}],
            m.JSON_PATCH,
            400,
        ),
        (
            [{"op": "replace", "path": "/securityLabel/0", "value": {"coding": [{"code": "R"}]}}],
            m.JSON_PATCH,
            400,
        ),
        (
            [
                {
                    "op": "add",
                    "path": "/securityLabel/-",
                    "value": {"coding": [{"code": "MASQUE_PS"}]},
                },
                {
                    "op": "add",
                    "path": "/securityLabel/-",
                    "value": {"coding": [{"code": "INVISIBLE_PATIENT"}]},
                },
            ],
            m.JSON_PATCH,
            400,
        ),
        (
            [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [{"code": "TOP"}]}}],
            m.JSON_PATCH,
            400,
        ),
        ("{}", "text/plain", 415),
    ],
)
def test_malformed_or_refused_patches(pro, document_id, body, content_type, status):
    response = pro.patch(f"/DocumentReference/{document_id}", body, content_type=content_type)
    assert response.status_code == status, response.content
    m.outcome(response)


def test_if_match_protects_against_lost_updates(pro, document_id):
    stale = pro.patch(
        f"/DocumentReference/{document_id}",
        [{"op": "replace", "path": "/extension/0/valueBoolean", "value": True}],
        HTTP_IF_MATCH='W/"7"',
    )
    assert stale.status_code == 412
    fresh = pro.patch(
        f"/DocumentReference/{document_id}",
        [{"op": "replace", "path": "/extension/0/valueBoolean", "value": True}],
        HTTP_IF_MATCH='W/"1"',
    )
    assert fresh.status_code == 200


def test_the_author_deletes_and_the_document_disappears(pro, document_id):
    response = pro.patch(
        f"/DocumentReference/{document_id}",
        [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "entered-in-error"
    assert pro.get(f"/DocumentReference/{document_id}").status_code == 404
    assert pro.get(f"/Binary/{document_id}").status_code == 404
    assert pro.get("/DocumentReference", {"patient.identifier": INS}).json()["total"] == 0


def test_another_professional_can_neither_delete_nor_change(pro, client, document_id):
    other = m.professional(client, rpps=m.OTHER_RPPS, organisation="1" + m.jf.with_luhn("75000002"))
    for operations in (
        [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
        [{"op": "replace", "path": "/extension/0/valueBoolean", "value": True}],
    ):
        response = other.patch(f"/DocumentReference/{document_id}", operations)
        assert response.status_code in {403, 404}
        m.outcome(response)
    assert pro.get(f"/DocumentReference/{document_id}").json()["meta"]["versionId"] == "1"


def test_the_fhirpath_patch_of_the_mhd_examples(pro, document_id):
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "type", "valueCode": "replace"},
                    {"name": "path", "valueString": "DocumentReference.status"},
                    {"name": "value", "valueCode": "entered-in-error"},
                ],
            }
        ],
    }
    elsewhere = {**parameters, "parameter": [dict(parameters["parameter"][0])]}
    elsewhere["parameter"][0]["part"] = [
        {"name": "type", "valueCode": "replace"},
        {"name": "path", "valueString": "DocumentReference.description"},
        {"name": "value", "valueString": "x"},
    ]
    refused = pro.patch(f"/DocumentReference/{document_id}", elsewhere, content_type=m.FHIR_JSON)
    assert refused.status_code == 405
    response = pro.patch(f"/DocumentReference/{document_id}", parameters, content_type=m.FHIR_JSON)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "entered-in-error"


def test_conditional_patch_by_entry_uuid_or_unique_id(pro, document_id):
    archive = [{"op": "replace", "path": "/extension/0/valueBoolean", "value": True}]
    by_uuid = pro.patch(
        f"/DocumentReference?identifier=urn:ietf:rfc:3986|urn:uuid:{document_id}", archive
    )
    assert by_uuid.status_code == 200, by_uuid.content
    unarchive = [{"op": "replace", "path": "/extension/0/valueBoolean", "value": False}]
    query = f"identifier=urn:ietf:rfc:3986|urn:oid:{UNIQUE_ID}&patient.identifier={INS}"
    by_unique_id = pro.patch(f"/DocumentReference?{query}", unarchive)
    assert by_unique_id.status_code == 200, by_unique_id.content
    assert by_unique_id.json()["meta"]["versionId"] == "3"
    alone = pro.patch(f"/DocumentReference?identifier=urn:oid:{UNIQUE_ID}", archive)
    assert alone.status_code == 400
    assert m.outcome(alone)[0]["expression"] == ["patient.identifier"]
    unknown = pro.patch(
        f"/DocumentReference?identifier=urn:oid:1.2.3.404&patient.identifier={INS}", archive
    )
    assert unknown.status_code == 404
    assert pro.patch("/DocumentReference", archive).status_code == 400


@pytest.mark.parametrize(
    "document", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1%27%20OR%201=1"]
)
def test_unknown_documents_are_404(pro, document):
    response = pro.patch(
        f"/DocumentReference/{document}",
        [{"op": "replace", "path": "/status", "value": "entered-in-error"}],
    )
    assert response.status_code == 404
    assert pro.get(f"/DocumentReference/{document}").status_code == 404
    assert pro.get(f"/Binary/{document}").status_code == 404


def test_delete_is_not_an_http_method_here(pro, document_id):
    response = pro.client.delete(
        f"/fhir/R4/DocumentReference/{document_id}", HTTP_AUTHORIZATION=f"Bearer {pro.bearer}"
    )
    assert response.status_code == 405
    m.outcome(response)
