"""The holder's documents in a real browser: upload a PDF, find it under its category with the
htmx filters, hide it from professionals, download it byte for byte; axe-core on every page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from carnet.documents.cda import extract_nonxml_body
from carnet.portal import session
from tests.browser.conftest import assert_accessible
from tests.documents.helpers import cda_bytes
from tests.portal import documents_support as support

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page: Any, live_server: Any, holder: Any) -> None:
    """The holder's session, opened server side (the login itself is tested in test_login)."""
    client = Client()
    client.force_login(holder.user)
    django_session = client.session
    django_session[session.SPACES] = [(str(holder.pk), str(holder))]
    django_session[session.CURRENT_SPACE] = str(holder.pk)
    django_session.save()
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )


def _wait_for_the_preview(page: Any) -> None:
    # The embedded PDF is fetched (and its reading traced) alongside the page; the in-memory
    # SQLite test database refuses concurrent writes instead of waiting, so let it finish.
    page.wait_for_load_state("networkidle")


@pytest.fixture
def pdf_file(tmp_path: Path) -> Path:
    # A real PDF: the one inside the ANS example N1 document.
    _, pdf = extract_nonxml_body(cda_bytes(support.N1_CDA))
    path = tmp_path / "ordonnance-kine.pdf"
    path.write_bytes(pdf)
    return path


def test_holder_uploads_finds_hides_and_downloads_a_pdf(
    page: Any, live_server: Any, personas: Any, pdf_file: Path, tmp_path: Path
) -> None:
    # Given a space with a laboratory report from a doctor and a paper from the insurer
    holder = support.ans_test_patient()
    support.deposit_cda(holder, personas.doctor, support.N3_CDA)
    support.deposit_pdf(holder, support.INSURER, 1, type_code="REMB", title="Relevé de soins")
    _log_in(page, live_server, holder)
    page.goto(f"{live_server.url}/documents/")
    assert page.get_by_role("heading", level=1).inner_text() == "Mes documents de santé"
    assert page.locator(".badge--new").count() == 2
    assert_accessible(page)

    # When the holder adds a PDF under "Ordonnances et soins"
    page.get_by_role("link", name="Ajouter un document").click()
    page.wait_for_url("**/documents/ajouter/")
    assert_accessible(page)
    page.get_by_label("Fichier").set_input_files(str(pdf_file))
    page.get_by_label("Titre du document").fill("Ordonnance de kinésithérapie")
    page.get_by_label("Catégorie").select_option(label="Ordonnances et soins")
    page.get_by_role("button", name="Ajouter le document").click()
    page.wait_for_url(re.compile(r"/documents/\?categorie=ordonnances-et-soins$"))
    assert (
        "a été ajouté dans « Ordonnances et soins »"
        in page.get_by_role("status").first.inner_text()
    )

    # Then it is found under its category, through the htmx filters (no full reload)
    page.locator("label[for=categorie-toutes]").click()
    page.wait_for_url(re.compile(r"categorie=&"))
    results = page.locator("#document-results")
    expect(results.get_by_role("heading", level=2)).to_have_text("3 documents")
    page.evaluate("window.carnetNoReload = true")  # survives only if the page is not reloaded
    page.locator("label[for=categorie-ordonnances-et-soins]").click()
    page.wait_for_url(re.compile(r"categorie=ordonnances-et-soins"))
    expect(results.get_by_role("heading", level=2)).to_have_text("1 document")
    assert page.evaluate("window.carnetNoReload") is True
    row = results.get_by_role("listitem").filter(has_text="Ordonnance de kinésithérapie")
    assert "Déposé par vous" in row.inner_text()
    expect(page.locator("#documents-status")).to_have_text("1 document trouvé")
    assert_accessible(page)

    # When they open it and hide it from professionals
    row.get_by_role("link", name="Ordonnance de kinésithérapie").click()
    page.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}/$"))
    _wait_for_the_preview(page)
    assert page.get_by_title("Aperçu du PDF : Ordonnance de kinésithérapie").is_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Masquer aux professionnels").click()
    _wait_for_the_preview(page)
    assert "Document masqué" in page.get_by_role("status").first.inner_text()
    assert page.locator("main > .badges .badge--masked").inner_text() == "Masqué aux professionnels"
    assert page.get_by_role("button", name="Ne plus masquer aux professionnels").is_visible()
    assert_accessible(page)

    # Then the download is the very file uploaded, under a readable French name
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile(r"^Télécharger")).click()
    download = download_info.value
    assert download.suggested_filename.startswith("Ordonnance de kinésithérapie (")
    assert download.suggested_filename.endswith(").pdf")
    saved = tmp_path / "downloaded.pdf"
    download.save_as(saved)
    assert saved.read_bytes() == pdf_file.read_bytes()

    # And the list shows it as hidden from professionals
    page.get_by_role("link", name="Retour à mes documents").click()
    row = page.get_by_role("listitem").filter(has_text="Ordonnance de kinésithérapie")
    assert "Masqué aux professionnels" in row.inner_text()


def test_search_and_pages_update_the_results_and_move_focus(
    page: Any, live_server: Any, personas: Any
) -> None:
    holder = support.ans_test_patient()
    for number in range(1, 23):
        support.deposit_pdf(holder, support.INSURER, number, type_code="REMB")
    _log_in(page, live_server, holder)
    page.goto(f"{live_server.url}/documents/")
    results = page.locator("#document-results")
    assert "page 1 sur 2" in results.get_by_role("heading", level=2).inner_text()

    page.get_by_role("link", name="Page 2", exact=True).click()
    page.wait_for_url(re.compile(r"page=2"))
    heading = results.get_by_role("heading", level=2)
    expect(heading).to_contain_text("page 2 sur 2")
    expect(heading).to_be_focused()
    assert results.locator("ul.documents > li").count() == 2
    assert_accessible(page)

    page.get_by_label("Rechercher dans les titres").fill("rendu 07")
    page.wait_for_url(re.compile(r"q=rendu(\+|%20)07"))
    expect(heading).to_have_text("1 document")
    expect(page.get_by_label("Rechercher dans les titres")).to_be_focused()  # typing goes on
