"""ITI-67 (DocumentReference search) and ITI-66 (SubmissionSet List search): each parameter,
paging links and totals, and what the access policy lets each actor see."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fhir.resources.R4B.bundle import Bundle

from carnet.documents import services
from carnet.identity.models import Organisation
from carnet.identity.services import actor_for_user
from tests.documents.helpers import ans_test_patient
from tests.factories import make_professional
from tests.fhir import mhd_support as m

pytestmark = pytest.mark.django_db

INS = f"{m.INS_TEST}|{m.ANS_INS}"
# (unique id, type, class, creation date, act period start) of the five deposits.
DEPOSITS = [
    ("1.2.250.1.999.1.1", "11488-4", "10", "2024-01-15T10:00:00+01:00"),
    ("1.2.250.1.999.1.2", "11488-4", "10", "2024-03-15T10:00:00+01:00"),
    ("1.2.250.1.999.1.3", "11490-0", "10", "2024-06-15T10:00:00+02:00"),
    ("1.2.250.1.999.1.4", "60591-5", "11", "2024-09-15T10:00:00+02:00"),
    ("1.2.250.1.999.1.5", "57833-6", "42", "2025-01-15T10:00:00+01:00"),
]


@pytest.fixture
def holder(settings):
    m.fast_passwords(settings)
    return ans_test_patient()


@pytest.fixture
def pro(client, settings, holder):
    """A professional's software that deposited the five documents in one submission set."""
    m.register_software(settings)
    # in the directory, member of the organisation its tokens name: the deposits carry it
    organisation = Organisation.objects.get(idnst="1" + m.jf.FINESS)
    make_professional(
        "10",
        rpps=m.jf.RPPS,
        family_name="Médecin-Test",
        given_name="Camille",
        organisation=organisation,
    )
    software = m.professional(client)
    documents = [
        (
            m.docref(
                unique_id,
                content=m.pdf(number),
                type_code=type_code,
                class_code=class_code,
                date=date,
                title=f"Document {number}",
            ),
            m.pdf(number),
        )
        for number, (unique_id, type_code, class_code, date) in enumerate(DEPOSITS, start=1)
    ]
    response = software.provide(m.provide_bundle(documents, "1.2.250.1.999.1.0"))
    assert response.status_code == 200, response.content
    return software


def _search(software, **params):
    response = software.get("/DocumentReference", {"patient.identifier": INS, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    Bundle.model_validate(body)
    return body


def _unique_ids(body):
    return [
        e["resource"]["masterIdentifier"]["value"].removeprefix("urn:oid:")
        for e in body["entry"]
        if e["search"]["mode"] == "match"
    ]


def _bad(software, params):
    response = software.get("/DocumentReference", params)
    assert response.status_code == 400, response.content
    return m.outcome(response)[0]


def test_the_patient_is_named_by_ins_or_by_id(pro, holder):
    by_ins = _search(pro)
    by_id = pro.get("/DocumentReference", {"patient": f"Patient/{holder.pk}"}).json()
    assert by_ins["total"] == by_id["total"] == 5
    assert _unique_ids(by_ins) == _unique_ids(by_id)


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({}, "patient"),
        ({"patient.identifier": f"{m.INS_TEST}|123456789012345"}, "patient.identifier"),
        ({"patient.identifier": "urn:oid:1.2.3|279035121518989"}, "patient.identifier"),
        ({"patient.identifier": INS, "patient": "Patient/x"}, "patient"),
        ({"patient.identifier": INS, "status": "deleted"}, "status"),
        ({"patient.identifier": INS, "date": "2024-13-01"}, "date"),
        ({"patient.identifier": INS, "date": "sa2024-01-01"}, "date"),
        ({"patient.identifier": INS, "date": "2024-01-01T10:00"}, "date"),
        ({"patient.identifier": INS, "period": "hier"}, "period"),
        ({"patient.identifier": INS, "_sort": "title"}, "_sort"),
        ({"patient.identifier": INS, "_count": "abc"}, "_count"),
        ({"patient.identifier": INS, "_count": "-1"}, "_count"),
        ({"patient.identifier": INS, "_offset": "-5"}, "_offset"),
        ({"patient.identifier": INS, "_count": "9" * 40}, "_count"),
        ({"patient.identifier": INS, "isArchived": "maybe"}, "isArchived"),
        (
            {"patient.identifier": INS, "author.identifier": "urn:oid:1.2.250.1.71.4.2.1|8123"},
            "author.identifier",
        ),
        ({"patient.identifier": INS, "type": ""}, "type"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(pro, params, expression):
    assert _bad(pro, params)["expression"] == [expression]


def test_a_repeated_token_parameter_is_refused(pro):
    response = pro.client.get(
        "/fhir/R4/DocumentReference?patient.identifier=" + INS + "&type=a&type=b",
        HTTP_AUTHORIZATION=f"Bearer {pro.bearer}",
    )
    assert response.status_code == 400
    assert m.outcome(response)[0]["expression"] == ["type"]


def test_an_unknown_space_is_an_empty_result(pro):
    body = _search(pro, **{"patient.identifier": "urn:oid:1.2.250.1.213.1.4.8|180017505600103"})
    assert (body["total"], body["entry"]) == (0, [])


def test_type_category_and_identifier(pro):
    assert _search(pro, type="http://loinc.org|11488-4")["total"] == 2
    assert _search(pro, type="11490-0,57833-6")["total"] == 2
    assert _unique_ids(_search(pro, category="11")) == ["1.2.250.1.999.1.4"]
    assert _search(pro, category=f"{m.CLASS}|10")["total"] == 3
    found = _search(pro, identifier="urn:ietf:rfc:3986|urn:oid:1.2.250.1.999.1.3")
    assert _unique_ids(found) == ["1.2.250.1.999.1.3"]
    assert _search(pro, identifier="urn:oid:1.2.250.1.999.404")["total"] == 0


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        (["ge2024-06-15"], {"3", "4", "5"}),
        (["gt2024-06-15"], {"4", "5"}),
        (["le2024-03-15"], {"1", "2"}),
        (["lt2024-03-15"], {"1"}),
        (["2024-06"], {"3"}),
        (["eq2024"], {"1", "2", "3", "4"}),
        (["ge2024-02-01", "lt2024-07-01"], {"2", "3"}),
        (["ge2024-06-15T08:00:00Z"], {"3", "4", "5"}),
        (["gt2024-06-15T08:00:00Z"], {"4", "5"}),
    ],
)
def test_date_prefixes(pro, dates, expected):
    response = pro.client.get(
        "/fhir/R4/DocumentReference",
        {"patient.identifier": INS, "date": dates},
        HTTP_AUTHORIZATION=f"Bearer {pro.bearer}",
    )
    found = {u.rsplit(".", 1)[-1] for u in _unique_ids(response.json())}
    assert found == expected


def test_period_of_the_acts(pro):
    # Each document's act period starts (and has no end) at its creation date.
    assert _search(pro, period="le2024-03-31")["total"] == 2
    assert _search(pro, period="le2024-01-15")["total"] == 1


def test_author_by_name_or_organisation(pro, client):
    assert _search(pro, author="médecin-test")["total"] == 5
    assert _search(pro, author="Inconnu")["total"] == 0
    idnst = f"urn:oid:1.2.250.1.71.4.2.2|1{m.jf.FINESS}"
    assert _search(pro, **{"author.identifier": idnst})["total"] == 5
    other = f"urn:oid:1.2.250.1.71.4.2.2|1{m.jf.with_luhn('75000009')}"
    assert _search(pro, **{"author.identifier": other})["total"] == 0


def test_sort_and_default_order(pro):
    newest_first = [u[-1] for u in _unique_ids(_search(pro))]
    assert newest_first == ["5", "4", "3", "2", "1"]
    assert [u[-1] for u in _unique_ids(_search(pro, _sort="date"))] == ["1", "2", "3", "4", "5"]
    assert [u[-1] for u in _unique_ids(_search(pro, _sort="-date"))] == newest_first


def test_paging_links_walk_every_result_once(pro):
    page = _search(pro, _count="2")
    assert page["total"] == 5
    links = {link["relation"]: link["url"] for link in page["link"]}
    assert set(links) == {"self", "next"}
    seen = _unique_ids(page)
    while "next" in links:
        split = urlsplit(links["next"])
        assert split.path == "/fhir/R4/DocumentReference"
        params = {k: v[0] for k, v in parse_qs(split.query).items()}
        page = pro.get("/DocumentReference", params).json()
        links = {link["relation"]: link["url"] for link in page["link"]}
        assert "previous" in links
        seen += _unique_ids(page)
    assert sorted(seen) == sorted(u for u, *_ in DEPOSITS)
    assert len(seen) == 5


def test_a_huge_count_is_capped_with_a_warning(pro):
    body = _search(pro, _count="100000")
    assert body["total"] == 5
    outcome = [e for e in body["entry"] if e["search"]["mode"] == "outcome"]
    (warning,) = outcome[0]["resource"]["issue"]
    assert (warning["severity"], warning["expression"]) == ("warning", ["_count"])
    assert "_count=100" in body["link"][0]["url"]


def test_unknown_parameters_are_ignored_with_a_warning_unless_strict(pro):
    body = _search(pro, _elements="id", colour="blue")
    assert body["total"] == 5
    (outcome,) = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "outcome"]
    assert [i["expression"][0] for i in outcome["issue"]] == ["_elements", "colour"]
    strict = pro.get(
        "/DocumentReference",
        {"patient.identifier": INS, "colour": "blue"},
        HTTP_PREFER="handling=strict",
    )
    assert strict.status_code == 400
    assert m.outcome(strict)[0]["expression"] == ["colour"]


def test_status_and_archived(pro):
    first = _search(pro, _sort="date")["entry"][0]["resource"]
    archived = pro.patch(
        f"/DocumentReference/{first['id']}",
        [{"op": "replace", "path": "/extension/0/valueBoolean", "value": True}],
    )
    assert archived.status_code == 200, archived.content
    assert _unique_ids(_search(pro, isArchived="true")) == ["1.2.250.1.999.1.1"]
    assert _search(pro, isArchived="false")["total"] == 4
    assert _search(pro, status="current")["total"] == 5
    assert _search(pro, status="superseded")["total"] == 0


def test_a_professional_without_access_right_finds_nothing(pro, client):
    """Not the author, no access right (the policy decides through the gate): an empty
    searchset, total 0, and the documents themselves are "not found"."""
    stranger = m.professional(
        client, rpps=m.OTHER_RPPS, organisation="1" + m.jf.with_luhn("75000002")
    )
    body = _search(stranger)
    assert (body["total"], body["entry"]) == (0, [])
    document_id = _search(pro)["entry"][0]["resource"]["id"]
    assert stranger.get(f"/DocumentReference/{document_id}").status_code == 404
    assert stranger.get(f"/Binary/{document_id}").status_code == 404
    lists = stranger.get("/List", {"patient.identifier": INS}).json()
    assert lists["total"] == 0


def test_the_holder_sees_every_document_through_the_api(pro, holder, logged_in_client):
    """Including what they uploaded in the portal (author: the patient), all valid PDSm."""
    services.deposit_holder_document(
        actor_for_user(holder.user),
        patient_id=str(holder.pk),
        content=m.pdf(99),
        mime_type="application/pdf",
        title="Mon ordonnance",
        category="ordonnances-et-soins",
    )
    client = logged_in_client(holder.user)
    body = client.get("/fhir/R4/DocumentReference", {"patient": str(holder.pk)}).json()
    assert body["total"] == 6
    uploads = [
        e["resource"]
        for e in body["entry"]
        if e["resource"]["type"]["coding"][0]["code"] == "DOCPAT02"
    ]
    (upload,) = uploads
    assert upload["context"]["facilityType"]["coding"][0]["code"] == "EXP_PATIENT"
    raw = client.get(f"/fhir/R4/Binary/{upload['id']}")
    assert b"".join(raw.streaming_content) == m.pdf(99)
    # The professional still finds only what they authored, not the upload.
    assert _search(pro)["total"] == 5


# --- ITI-66 -------------------------------------------------------------------------------


def test_submission_sets_are_found_and_read(pro, holder):
    for number in (6, 7):
        document = m.docref(f"1.2.250.1.999.1.{number}", content=m.pdf(number))
        bundle = m.provide_bundle([(document, m.pdf(number))], f"1.2.250.1.999.2.{number}")
        assert pro.provide(bundle).status_code == 200
    response = pro.get(
        "/List",
        {
            "patient.identifier": INS,
            "code": f"{m.MHD_LIST_TYPES}|submissionset",
            "status": "current",
        },
    )
    body = response.json()
    Bundle.model_validate(body)
    assert body["total"] == 3
    lists = {e["resource"]["identifier"][0]["value"]: e["resource"] for e in body["entry"]}
    assert set(lists) == {
        "urn:oid:1.2.250.1.999.1.0",
        "urn:oid:1.2.250.1.999.2.6",
        "urn:oid:1.2.250.1.999.2.7",
    }
    first = lists["urn:oid:1.2.250.1.999.1.0"]
    assert first["subject"] == {"reference": f"Patient/{holder.pk}"}
    assert len(first["entry"]) == 5
    document = pro.get("/" + first["entry"][0]["item"]["reference"]).json()
    assert document["resourceType"] == "DocumentReference"
    read = pro.get(f"/List/{first['id']}")
    assert read.status_code == 200
    assert read.json() == first
    paged = pro.get("/List", {"patient.identifier": INS, "_count": "2", "_offset": "2"}).json()
    assert (paged["total"], len(paged["entry"])) == (3, 1)
    assert [link["relation"] for link in paged["link"]] == ["self", "previous"]


@pytest.mark.parametrize(
    "params",
    [
        {"code": f"{m.MHD_LIST_TYPES}|folder"},
        {"status": "retired"},
    ],
)
def test_lists_other_than_current_submission_sets_are_not_found(pro, params):
    assert pro.get("/List", {"patient.identifier": INS, **params}).json()["total"] == 0


@pytest.mark.parametrize(
    "list_id", ["nope", "0" * 64, "f" * 63, "../../etc", "00000000000000000000000000000000zz"]
)
def test_unknown_lists_are_404(pro, list_id):
    response = pro.get(f"/List/{list_id}")
    assert response.status_code == 404
    m.outcome(response)


def test_list_search_needs_a_patient(pro):
    response = pro.get("/List", {"code": "submissionset"})
    assert response.status_code == 400
    assert m.outcome(response)[0]["expression"] == ["patient"]
