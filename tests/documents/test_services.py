"""The documents service: deposits (all or nothing, idempotent), identity vigilance, encrypted
content returned byte for byte, searches through the gate, metadata versions, deletion."""

from __future__ import annotations

import datetime as dt

import pytest

from carnet.audit.models import AuditEvent
from carnet.core.errors import InvalidInput, NotFound
from carnet.documents import services
from carnet.documents.models import DocumentEntry, DocumentVersion, Status
from carnet.documents.services import MetadataChange, SearchFilters
from carnet.identity.errors import IdentityMismatch
from carnet.identity.models import SpaceStatus
from carnet.identity.services import actor_for_user
from tests.documents.helpers import PDF, ans_test_patient, cda_bytes, identity_of, pdf_submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder():
    return ans_test_patient()


@pytest.fixture
def actor(holder):
    return actor_for_user(holder.user)


def _deposit(actor, holder, submission=None, content=PDF):
    return services.deposit_documents(
        actor, patient=identity_of(holder), documents=[(submission or pdf_submission(), content)]
    )[0]


def test_a_deposit_stores_encrypted_content_returned_byte_for_byte(actor, holder, content_store):
    result = _deposit(actor, holder)
    assert result.created
    entry, data = services.read_content(actor, str(result.document.pk))
    assert data == PDF
    assert entry.size == len(PDF)
    stored = b"".join(p.read_bytes() for p in content_store.rglob("*") if p.is_file())
    assert b"%PDF" not in stored
    assert b"trailer" not in stored


def test_the_deposit_is_classified_and_audited(actor, holder):
    entry = _deposit(actor, holder).document
    assert (entry.class_code, entry.holder_category, entry.dmp_space) == (
        "10",
        "comptes-rendus",
        "espace-personnel",
    )
    event = AuditEvent.objects.filter(
        patient_id=holder.pk, action="documents:document:create"
    ).latest("seq")
    assert event.outcome == "allowed"
    assert event.details["documents"] == [str(entry.pk)]


def test_the_same_unique_id_twice_returns_the_existing_document(actor, holder):
    first = _deposit(actor, holder)
    again = _deposit(actor, holder)
    assert not again.created
    assert again.document.pk == first.document.pk
    assert DocumentEntry.objects.count() == 1


def test_the_same_content_and_type_under_another_id_is_a_duplicate(actor, holder):
    first = _deposit(actor, holder)
    again = _deposit(actor, holder, pdf_submission("1.2.250.1.999.1.2"))
    assert not again.created
    assert again.document.pk == first.document.pk


def test_a_unique_id_reused_for_other_content_is_refused_and_stores_nothing(
    actor, holder, content_store
):
    _deposit(actor, holder)
    files_before = sorted(p for p in content_store.rglob("*") if p.is_file())
    with pytest.raises(services.DuplicateUniqueId):
        _deposit(actor, holder, content=PDF + b"%changed")
    assert sorted(p for p in content_store.rglob("*") if p.is_file()) == files_before


def test_a_batch_is_all_or_nothing(actor, holder, content_store):
    good = (pdf_submission("1.2.250.1.999.2.1"), PDF)
    bad = (pdf_submission("1.2.250.1.999.2.2", type_code="NOT-A-TYPE"), PDF + b"2")
    with pytest.raises(InvalidInput, match="Type de document inconnu"):
        services.deposit_documents(actor, patient=identity_of(holder), documents=[good, bad])
    assert DocumentEntry.objects.count() == 0
    assert not [p for p in content_store.rglob("*") if p.is_file()]


def test_results_come_in_request_order(actor, holder):
    docs = [(pdf_submission(f"1.2.250.1.999.3.{i}"), PDF + str(i).encode()) for i in range(3)]
    results = services.deposit_documents(actor, patient=identity_of(holder), documents=docs)
    assert [r.document.unique_id for r in results] == [f"1.2.250.1.999.3.{i}" for i in range(3)]


@pytest.mark.parametrize(
    ("traits", "field"),
    [
        ({"birth_family_name": "MARTIN"}, "nom de naissance"),
        ({"birth_date": dt.date(1980, 1, 1)}, "date de naissance"),
        ({"sex": "M"}, "sexe"),
        ({"birth_place_code": "75056"}, "lieu de naissance"),
    ],
)
def test_traits_that_do_not_match_the_space_are_refused(actor, holder, traits, field):
    with pytest.raises(IdentityMismatch, match=field):
        services.deposit_documents(
            actor, patient=identity_of(holder, **traits), documents=[(pdf_submission(), PDF)]
        )
    assert DocumentEntry.objects.count() == 0


def test_an_unknown_ins_and_an_invalid_ins_are_refused(actor, holder):
    other = services.PatientIdentity(matricule="180017512345616", oid=holder.ins_oid)
    with pytest.raises((NotFound, InvalidInput)):
        services.deposit_documents(actor, patient=other, documents=[(pdf_submission(), PDF)])
    wrong_key = services.PatientIdentity(matricule="279035121518988", oid=holder.ins_oid)
    with pytest.raises(InvalidInput, match="clé"):
        services.deposit_documents(actor, patient=wrong_key, documents=[(pdf_submission(), PDF)])


@pytest.mark.parametrize("status", [SpaceStatus.OPPOSED, SpaceStatus.CLOSED])
def test_a_closed_or_opposed_space_refuses_deposits_with_its_own_error(actor, holder, status):
    holder.space_status = status
    holder.save()
    with pytest.raises(services.SpaceClosed, match="opposé"):
        _deposit(actor, holder)


def test_an_ans_cda_is_ingested_with_its_header_checked(actor, holder):
    data = cda_bytes("DOC_NON_STRUCTURE_CDA-R2-N1.xml")
    from carnet.documents.cda import read_cda_header

    header = read_cda_header(data)
    submission = pdf_submission(
        header.unique_id,
        type_code=header.type_code,
        mime_type="text/xml",
        format_code=None,
        title=header.title,
    )
    entry = _deposit(actor, holder, submission, data).document
    assert entry.cda_level == "N1"
    assert entry.format_code == "urn:ihe:iti:xds-sd:pdf:2008"
    _, rendition = services.holder_rendition(actor, str(entry.pk))
    assert rendition.mime_type == "application/pdf"
    assert rendition.content.startswith(b"%PDF-")


def test_cda_metadata_that_contradicts_the_header_is_refused(actor, holder):
    data = cda_bytes("DOC_NON_STRUCTURE_CDA-R2-N1.xml")
    submission = pdf_submission("1.2.3.4.wrong", mime_type="text/xml", format_code=None)
    with pytest.raises(InvalidInput, match="en-tête CDA"):
        _deposit(actor, holder, submission, data)


def test_a_cda_for_another_patient_is_refused(personas):
    actor = actor_for_user(personas.patient.user)
    data = cda_bytes("DOC_NON_STRUCTURE_CDA-R2-N1.xml")
    from carnet.documents.cda import read_cda_header

    header = read_cda_header(data)
    submission = pdf_submission(
        header.unique_id, type_code=header.type_code, mime_type="text/xml", format_code=None
    )
    with pytest.raises(IdentityMismatch, match="INS du document CDA"):
        services.deposit_documents(
            actor, patient=identity_of(personas.patient), documents=[(submission, data)]
        )


def test_n3_narrative_is_rendered_to_safe_html(actor, holder):
    data = cda_bytes("BIO-CR-BIO_2024.01_TSH_1.xml")
    from carnet.documents.cda import read_cda_header

    header = read_cda_header(data)
    submission = pdf_submission(
        header.unique_id, type_code=header.type_code, mime_type="text/xml", format_code=None
    )
    entry = _deposit(actor, holder, submission, data).document
    _, rendition = services.holder_rendition(actor, str(entry.pk))
    assert rendition.mime_type == "text/html"
    assert "<h" in rendition.html
    assert "<script" not in rendition.html


def test_search_filters_sorts_and_pages(actor, holder):
    for i in range(5):
        _deposit(
            actor,
            holder,
            pdf_submission(
                f"1.2.250.1.999.4.{i}",
                title=f"Doc {i}",
                created_at_source=dt.datetime(2025, 1, 1 + i, tzinfo=dt.UTC),
            ),
            PDF + str(i).encode(),
        )
    page = services.search_documents(
        actor, patient_id=str(holder.pk), filters=SearchFilters(), offset=0, limit=2
    )
    assert page.total == 5
    assert [d.title for d in page.rows] == ["Doc 4", "Doc 3"]
    found = services.search_documents(
        actor, patient_id=str(holder.pk), filters=SearchFilters(text="doc 1")
    )
    assert [d.title for d in found.rows] == ["Doc 1"]
    with pytest.raises(InvalidInput):
        services.search_documents(
            actor, patient_id=str(holder.pk), filters=SearchFilters(sort="nope")
        )


def test_another_holder_sees_nothing_and_cannot_read(actor, holder, personas):
    entry = _deposit(actor, holder).document
    stranger = actor_for_user(personas.other_patient.user)
    page = services.search_documents(stranger, patient_id=str(holder.pk), filters=SearchFilters())
    assert (page.total, page.rows) == (0, [])
    with pytest.raises(NotFound):
        services.get_document(stranger, str(entry.pk))
    refusal = AuditEvent.objects.filter(patient_id=holder.pk, outcome="denied").latest("seq")
    assert refusal.actor_id == str(personas.other_patient.user.pk)


def test_masking_creates_a_new_version(actor, holder):
    entry = _deposit(actor, holder).document
    masked = services.set_masked(actor, str(entry.pk), masked=True)
    assert masked.masked
    assert masked.version == 2
    assert DocumentVersion.objects.get(document=entry).snapshot["masked"] is False
    shown = services.set_masked(actor, str(entry.pk), masked=False)
    assert (shown.masked, shown.version) == (False, 3)


def test_metadata_changes_are_validated(actor, holder):
    entry = _deposit(actor, holder).document
    with pytest.raises(InvalidInput, match="à la fois"):
        services.update_metadata(
            actor,
            str(entry.pk),
            MetadataChange(labels=frozenset({"MASQUE_PS", "INVISIBLE_PATIENT"})),
        )
    with pytest.raises(InvalidInput, match="Aucune modification"):
        services.update_metadata(actor, str(entry.pk), MetadataChange())


def test_holder_upload_checks_format_and_deletion_removes_it(actor, holder, content_store):
    result = services.deposit_holder_document(
        actor,
        patient_id=str(holder.pk),
        content=[PDF[:5], PDF[5:]],
        mime_type="application/pdf",
        title="Mon ordonnance",
        category="ordonnances-et-soins",
    )
    entry = result.document
    assert (entry.type_code, entry.dmp_space, entry.depositor_kind) == (
        "DOCPAT02",
        "espace-personnel",
        "holder",
    )
    with pytest.raises(InvalidInput, match="ne correspond pas"):
        services.deposit_holder_document(
            actor,
            patient_id=str(holder.pk),
            content=b"MZ\x90\x00",
            mime_type="application/pdf",
            title="x",
            category="autres-documents",
        )
    with pytest.raises(InvalidInput, match="Format non accepté"):
        services.deposit_holder_document(
            actor,
            patient_id=str(holder.pk),
            content=b"GIF89a",
            mime_type="image/gif",
            title="x",
            category="autres-documents",
        )
    services.delete_document(actor, str(entry.pk))
    assert DocumentEntry.objects.get(pk=entry.pk).status == Status.DELETED
    with pytest.raises(NotFound):
        services.get_document(actor, str(entry.pk))
    assert not [p for p in content_store.rglob("*") if p.is_file()]


def test_an_oversized_upload_is_refused_and_stores_nothing(actor, holder, settings, content_store):
    settings.CARNET_MAX_DOCUMENT_BYTES = 1024
    with pytest.raises(InvalidInput, match="taille maximale"):
        services.deposit_holder_document(
            actor,
            patient_id=str(holder.pk),
            content=[PDF, b"0" * 2048],
            mime_type="application/pdf",
            title="gros",
            category="autres-documents",
        )
    assert DocumentEntry.objects.count() == 0
    assert not [p for p in content_store.rglob("*") if p.is_file()]


def test_closing_the_space_destroys_the_key(actor, holder):
    entry = _deposit(actor, holder).document
    services.close_space_content(holder.pk)
    with pytest.raises(services.SpaceClosed):
        services.read_content(actor, str(entry.pk))


def test_facets_count_every_visible_document_by_category_type_and_depositor(
    actor, holder, personas
):
    for i, type_code in enumerate(["11488-4", "11488-4", "11502-2"]):
        _deposit(
            actor,
            holder,
            pdf_submission(f"1.2.250.1.999.5.{i}", type_code=type_code),
            PDF + f"facet {i}".encode(),
        )
    facets = services.document_facets(actor, patient_id=str(holder.pk), filters=SearchFilters())
    assert facets.total == 3
    assert facets.categories == {"comptes-rendus": 2, "resultats-de-biologie": 1}
    assert set(facets.types) == {"11488-4", "11502-2"}
    assert [kind for _label, kind, _id in facets.depositors] == ["holder"]
    event = AuditEvent.objects.filter(patient_id=holder.pk).latest("seq")
    assert (event.action, event.outcome, event.details["kind"]) == (
        "documents:document:search",
        "allowed",
        "facets",
    )
    stranger = actor_for_user(personas.other_patient.user)
    hidden = services.document_facets(stranger, patient_id=str(holder.pk), filters=SearchFilters())
    assert (hidden.total, hidden.categories, hidden.depositors) == (0, {}, [])


def test_the_title_search_ignores_accents_and_case(actor, holder):
    _deposit(
        actor,
        holder,
        pdf_submission("1.2.250.1.999.6.1", title="Échographie abdominale — cœur"),
        PDF + b"echo",
    )
    _deposit(actor, holder, pdf_submission("1.2.250.1.999.6.2", title="Radio du genou"), PDF + b"x")
    for text in ("echographie", "ÉCHO", "Abdominale", "coeur"):
        found = services.search_documents(
            actor, patient_id=str(holder.pk), filters=SearchFilters(text=text)
        )
        assert [d.title for d in found.rows] == ["Échographie abdominale — cœur"], text


def test_the_portal_list_is_one_search_for_its_page_and_its_facets(actor, holder):
    for i, type_code in enumerate(["11488-4", "11502-2", "11502-2"]):
        _deposit(
            actor,
            holder,
            pdf_submission(f"1.2.250.1.999.7.{i}", type_code=type_code),
            PDF + f"list {i}".encode(),
        )
    before = AuditEvent.objects.filter(patient_id=holder.pk).count()
    page, facets = services.document_list(
        actor,
        patient_id=str(holder.pk),
        filters=SearchFilters(holder_category="resultats-de-biologie"),
        limit=1,
    )
    assert (page.total, len(page.rows)) == (2, 1)
    assert facets.total == 3  # the choices count the whole space, not the filtered page
    events = AuditEvent.objects.filter(patient_id=holder.pk).order_by("seq")[before:]
    assert [(e.action, e.details["kind"]) for e in events] == [
        ("documents:document:search", "list+facets")
    ]
