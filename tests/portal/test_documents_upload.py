"""The holder adds a document: PDF, JPEG or PNG recognised from their content, 20 MB at most,
in one of the 10 categories; refused files get a French message on the same form, with the
holder's input kept, and nothing is stored."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import SkipFile
from django.test import Client
from django.urls import reverse

from carnet.documents import services
from carnet.documents.services import SearchFilters
from carnet.portal.forms_documents import BoundedUploadHandler
from tests.portal import documents_support as support

pytestmark = pytest.mark.django_db

URL = "/documents/ajouter/"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


@pytest.fixture
def holder():
    return support.ans_test_patient()


@pytest.fixture
def holder_client(logged_in_client, holder):
    return logged_in_client(holder.user)


def _file(name: str, content: bytes, content_type: str = "application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def _documents(holder) -> list:
    actor = support.holder_actor(holder)
    return services.search_documents(actor, patient_id=str(holder.pk), filters=SearchFilters()).rows


def _post(client, **fields):
    values = {"titre": "Ordonnance de kiné", "categorie": "ordonnances-et-soins"}
    values.update(fields)
    return client.post(URL, {k: v for k, v in values.items() if v is not None})


def test_the_form_says_what_is_accepted_and_offers_the_ten_categories(holder_client):
    response = holder_client.get(URL, {"categorie": "imagerie"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "PDF, JPEG ou PNG, 20 Mo maximum." in page
    assert page.count("<option value=") == 11  # "Choisissez" + 10 categories
    assert '<option value="imagerie" selected>' in page
    assert 'enctype="multipart/form-data"' in page
    assert reverse("portal:document_upload") == URL


def test_a_pdf_is_added_under_its_category_and_stored_byte_for_byte(holder_client, holder):
    # Bigger than one upload chunk (64 KB), so the file reaches the service in pieces.
    pdf = support.PDF + b"%" + b"x" * 200_000 + b"\n"
    response = _post(holder_client, fichier=_file("scan.pdf", pdf, "application/pdf"))
    assert response.status_code == 302
    assert response["Location"] == "/documents/?categorie=ordonnances-et-soins"
    (document,) = _documents(holder)
    assert (document.title, document.holder_category) == (
        "Ordonnance de kiné",
        "ordonnances-et-soins",
    )
    assert (document.mime_type, document.depositor_kind) == ("application/pdf", "holder")
    page = holder_client.get(response["Location"]).content.decode()
    assert "« Ordonnance de kiné » a été ajouté dans « Ordonnances et soins »." in page
    download = holder_client.get(reverse("portal:document_download", args=[document.pk]))
    assert b"".join(download.streaming_content) == pdf
    assert "filename*=utf-8''Ordonnance%20de%20kin%C3%A9" in download["Content-Disposition"]


@pytest.mark.parametrize(
    ("name", "content", "mime_type"),
    [
        ("photo.jpg", JPEG, "image/jpeg"),
        ("capture.png", support.png_bytes(), "image/png"),
        # The format comes from the content, whatever the name or the browser says.
        ("image.pdf", support.png_bytes(), "image/png"),
    ],
)
def test_images_are_accepted_and_recognised_from_their_content(
    holder_client, holder, name, content, mime_type
):
    response = _post(holder_client, titre="", fichier=_file(name, content, "application/pdf"))
    assert response.status_code == 302
    (document,) = _documents(holder)
    assert document.mime_type == mime_type
    assert document.title == name.rsplit(".", 1)[0]  # no title typed: the file's name


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fichier": None}, "Choisissez un fichier à déposer."),
        ({"fichier": _file("vide.pdf", b"")}, "Le fichier est vide."),
        (
            {"fichier": _file("anim.gif", b"GIF89a\x01\x00\x01\x00", "image/gif")},
            "Format refusé : seuls les fichiers PDF, JPEG et PNG sont acceptés.",
        ),
        (
            {"fichier": _file("facture.pdf", b"MZ\x90\x00\x03", "application/pdf")},
            "Format refusé : seuls les fichiers PDF, JPEG et PNG sont acceptés.",
        ),
        ({"categorie": None}, "Choisissez une catégorie."),
        ({"categorie": "inconnue"}, "Choisissez une des catégories proposées."),
        ({"titre": "t" * 201}, "Titre du document : "),
    ],
)
def test_refusals_are_french_messages_on_the_same_form(holder_client, holder, fields, message):
    fields.setdefault("fichier", _file("scan.pdf", support.PDF, "application/pdf"))
    response = _post(holder_client, **fields)
    page = response.content.decode()
    assert response.status_code == 400
    assert message in page
    assert '<div class="form-errors" role="alert">' in page
    assert _documents(holder) == []


def test_input_is_kept_when_the_file_is_refused(holder_client):
    response = _post(holder_client, fichier=_file("anim.gif", b"GIF89a", "image/gif"))
    page = response.content.decode()
    assert 'value="Ordonnance de kiné"' in page
    assert '<option value="ordonnances-et-soins" selected>' in page
    assert 'aria-invalid="true"' in page


def test_a_file_over_the_limit_is_refused_with_the_input_kept(
    holder_client, holder, settings, content_store
):
    settings.CARNET_MAX_DOCUMENT_BYTES = 100 * 1024
    big = support.PDF + b"0" * (300 * 1024)
    response = _post(holder_client, fichier=_file("gros.pdf", big, "application/pdf"))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Le fichier dépasse la taille maximale de 100,0\xa0Kio." in page
    assert 'value="Ordonnance de kiné"' in page  # fields after the file are still read
    assert _documents(holder) == []
    assert not [path for path in content_store.rglob("*") if path.is_file()]


def test_the_size_guard_stops_receiving_a_file_past_the_limit(rf):
    guard = BoundedUploadHandler(rf.post(URL), limit=10)
    assert guard.receive_data_chunk(b"%PDF-", 0) == b"%PDF-"
    assert not guard.exceeded
    with pytest.raises(SkipFile):
        guard.receive_data_chunk(b"123456", 5)
    assert guard.exceeded


def test_the_limit_is_twenty_megabytes_by_default(holder_client, settings):
    assert settings.CARNET_MAX_DOCUMENT_BYTES == 20 * 1024 * 1024
    page = holder_client.get(URL).content.decode()
    assert "20 Mo maximum" in page


def test_the_same_file_twice_leads_to_the_existing_document(holder_client, holder):
    _post(holder_client, fichier=_file("scan.pdf", support.PDF, "application/pdf"))
    again = _post(holder_client, fichier=_file("scan.pdf", support.PDF, "application/pdf"))
    (document,) = _documents(holder)
    assert again["Location"] == reverse("portal:document", args=[document.pk])
    page = holder_client.get(again["Location"]).content.decode()
    assert "Ce document figure déjà dans votre espace" in page


def test_the_upload_needs_the_csrf_token(holder):
    client = Client(enforce_csrf_checks=True)
    client.force_login(holder.user)
    response = client.post(
        URL,
        {
            "titre": "x",
            "categorie": "autres-documents",
            "fichier": _file("scan.pdf", support.PDF, "application/pdf"),
        },
    )
    assert response.status_code == 403
    assert _documents(holder) == []


def test_the_upload_needs_a_login():
    response = Client().post(URL, {"categorie": "autres-documents"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))
