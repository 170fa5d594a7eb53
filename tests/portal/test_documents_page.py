"""A document's page, its view in the browser and its downloads, from real ANS CDA documents and
holder uploads: metadata, PDF and image shown inline under a strict policy, N3 narrative embedded,
files byte for byte with French names, the "new" flag cleared on opening, 404 for anyone else."""

from __future__ import annotations

import pytest
from django.urls import reverse

from carnet.documents.cda import extract_nonxml_body
from tests.documents.helpers import cda_bytes
from tests.portal import documents_support as support

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder():
    return support.ans_test_patient()


@pytest.fixture
def holder_client(logged_in_client, holder):
    return logged_in_client(holder.user)


def _url(name: str, document) -> str:
    return reverse(f"portal:{name}", args=[document.pk])


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_page_shows_the_metadata_and_who_deposited_it(holder_client, holder, personas):
    document = support.deposit_cda(holder, personas.doctor, support.N1_CDA)
    page = holder_client.get(_url("document", document)).content.decode()
    for fact in (
        "<h1>Compte rendu d&#x27;examens biologiques</h1>",
        "<dt>Catégorie</dt><dd>Résultats de biologie</dd>",
        "<dt>Type de document</dt><dd>CR d&#x27;examens biologiques</dd>",
        "<dt>Classe</dt><dd>Compte rendu</dd>",
        "<dt>Date du document</dt><dd>1 avril 2021 à 14:47</dd>",
        "<dt>Période des soins</dt><dd>4 janvier 2021</dd>",
        "<dt>Auteur</dt><dd>Marcel CAMPARINI, Médecin - Biologie médicale (SM)</dd>",
        "<dt>Établissement</dt><dd>Laboratoire des charmes</dd>",
        f"<dt>Déposé par</dt><dd>{personas.doctor}, le ",
        "<dt>Format</dt><dd>PDF (document CDA R2 de niveau 1)</dd>",
        "<dt>Taille</dt><dd>437,8\xa0Kio</dd>",
    ):
        assert fact in page
    assert "Télécharger le PDF" in page
    assert "Télécharger le document original (CDA)" in page
    assert f'<iframe class="viewer" src="{_url("document_view", document)}"' in page
    assert "Supprimer ce document" not in page  # deposited by a professional


def test_an_n1_cda_is_viewed_as_its_pdf_inline_under_a_strict_policy(
    holder_client, holder, personas
):
    document = support.deposit_cda(holder, personas.doctor, support.N1_CDA)
    _, pdf = extract_nonxml_body(cda_bytes(support.N1_CDA))
    response = holder_client.get(_url("document_view", document))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;")
    assert response["Content-Length"] == str(len(pdf))
    assert response["Content-Security-Policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert _body(response) == pdf


def test_an_n1_cda_downloads_as_pdf_or_as_the_original_cda(holder_client, holder, personas):
    document = support.deposit_cda(holder, personas.doctor, support.N1_CDA)
    _, pdf = extract_nonxml_body(cda_bytes(support.N1_CDA))
    readable = holder_client.get(_url("document_download_readable", document))
    assert readable["Content-Type"] == "application/pdf"
    assert readable["Content-Disposition"] == (
        'attachment; filename="Compte rendu d\'examens biologiques (01-04-2021).pdf"'
    )
    assert _body(readable) == pdf
    original = holder_client.get(_url("document_download", document))
    assert original["Content-Type"] == "text/xml"
    assert original["Content-Disposition"].startswith("attachment;")
    assert original["Content-Disposition"].endswith('(01-04-2021).xml"')
    assert "sandbox" in original["Content-Security-Policy"]
    assert _body(original) == cda_bytes(support.N1_CDA)


def test_an_n3_cda_narrative_is_embedded_and_never_served_as_a_page(
    holder_client, holder, personas
):
    document = support.deposit_cda(holder, personas.doctor, support.N3_CDA)
    page = holder_client.get(_url("document", document)).content.decode()
    assert '<div class="narrative" role="region"' in page
    assert "<h2>BIOCHIMIE</h2>" in page
    assert "Thyréostimuline (TSH)" in page
    assert "<script" not in page.split('class="narrative"')[1].split("</main>")[0]
    assert "<dt>Format</dt><dd>Document CDA R2 structuré (niveau 3)</dd>" in page
    assert holder_client.get(_url("document_view", document)).status_code == 404
    assert holder_client.get(_url("document_download_readable", document)).status_code == 404
    original = holder_client.get(_url("document_download", document))
    assert original["Content-Disposition"].startswith("attachment;")
    assert _body(original) == cda_bytes(support.N3_CDA)


def test_an_uploaded_pdf_is_viewed_and_downloaded_byte_for_byte(holder_client, holder):
    document = support.upload(holder, title="Mon ordonnance")
    view = holder_client.get(_url("document_view", document))
    assert (view.status_code, view["Content-Type"]) == (200, "application/pdf")
    assert view["Content-Disposition"].startswith("inline;")
    assert _body(view) == support.PDF
    download = holder_client.get(_url("document_download", document))
    assert download["Content-Disposition"].startswith('attachment; filename="Mon ordonnance (')
    assert download["Content-Length"] == str(len(support.PDF))
    assert _body(download) == support.PDF


def test_an_image_is_shown_in_the_page(holder_client, holder):
    png = support.png_bytes()
    document = support.upload(
        holder, title="Carte de groupe sanguin", content=png, mime_type="image/png"
    )
    page = holder_client.get(_url("document", document)).content.decode()
    assert (
        f'<img class="viewer-image" src="{_url("document_view", document)}" '
        'alt="Image du document : Carte de groupe sanguin">'
    ) in page
    view = holder_client.get(_url("document_view", document))
    assert view["Content-Type"] == "image/png"
    assert _body(view) == png
    assert "Supprimer ce document" in page  # the holder's own upload


def test_new_until_opened(holder_client, holder, personas):
    document = support.deposit_cda(holder, personas.doctor, support.N1_CDA)
    assert 'badge--new">Nouveau' in holder_client.get("/documents/").content.decode()
    _body(holder_client.get(_url("document_view", document)))
    assert "Nouveau" not in holder_client.get("/documents/").content.decode()


def test_opening_the_n3_page_clears_the_new_flag(holder_client, holder, personas):
    document = support.deposit_cda(holder, personas.doctor, support.N3_CDA)
    holder_client.get(_url("document", document))
    assert "Nouveau" not in holder_client.get("/documents/").content.decode()


@pytest.mark.parametrize(
    "name",
    ["document", "document_view", "document_download", "document_download_readable"],
)
def test_another_holder_gets_a_404(logged_in_client, holder, personas, name):
    document = support.deposit_cda(holder, personas.doctor, support.N1_CDA)
    response = logged_in_client(personas.other_patient.user).get(_url(name, document))
    assert response.status_code == 404
    assert "Page introuvable" in response.content.decode()


def test_an_unknown_document_is_a_404(holder_client):
    response = holder_client.get("/documents/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert holder_client.get("/documents/pas-un-identifiant/").status_code == 404


def test_a_professional_document_hidden_from_the_patient_is_a_404(holder_client, holder, personas):
    from carnet.identity.services import actor_for_professional

    doctor = actor_for_professional(personas.doctor, channel="api")
    document = support.deposit_pdf(holder, doctor, 1, labels=frozenset({"INVISIBLE_PATIENT"}))
    assert holder_client.get(_url("document", document)).status_code == 404
    assert holder_client.get(_url("document_download", document)).status_code == 404


def test_files_are_read_only_by_get(holder_client, holder):
    document = support.upload(holder)
    assert holder_client.post(_url("document_view", document)).status_code == 405
    assert holder_client.post(_url("document_download", document)).status_code == 405


def test_a_hostile_title_makes_a_harmless_file_name(holder_client, holder):
    document = support.upload(holder, title='../Résultat "TSH"\r\n1/2 <b>')
    response = holder_client.get(_url("document_download", document))
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''")
    assert disposition.endswith(".pdf")
    for forbidden in ("/", "\\", '"', "\r", "\n", "<", ">", "%2F", "%22", "%0A"):
        assert forbidden not in disposition.split("''", 1)[1]
    page = holder_client.get(_url("document", document)).content.decode()
    assert "<b>" not in page.split("<h1>")[1].split("</h1>")[0]
