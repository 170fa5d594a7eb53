"""The medical profile in a real browser: fill a section (with an error first), add three
weights with htmx and see the chart, hide an item, download the synthesis PDF; axe-core on each
page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import assert_accessible
from tests.profile.support import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_holder_fills_a_section_adds_weights_and_downloads_the_synthesis(
    page: Any, live_server: Any, personas: Any
) -> None:
    log_in(page, live_server, personas.patient)

    # Given the profile overview
    page.goto(f"{live_server.url}/profil/")
    assert page.get_by_role("heading", level=1).inner_text() == "Mon profil médical"
    assert "Profil renseigné à 0 %" in page.inner_text(".profile-card")
    assert_accessible(page)

    # When the holder opens "Allergies" and sends the form without the substance
    page.get_by_role("link", name="Allergies").click()
    page.wait_for_url("**/profil/rubrique/allergies/")
    assert_accessible(page)
    page.get_by_role("link", name="Ajouter une allergie ou une intolérance").click()
    assert_accessible(page)
    page.get_by_label("Réaction").fill("urticaire géante")
    page.get_by_role("button", name="Enregistrer").click()

    # Then the error summary links to the field and what was typed is kept
    alert = page.get_by_role("alert")
    assert "Substance : ce champ est obligatoire." in alert.inner_text()
    assert page.get_by_label("Réaction").input_value() == "urticaire géante"
    assert_accessible(page)
    alert.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "id_substance"

    # When they complete it
    page.get_by_label("Substance").fill("Pénicilline")
    page.get_by_label("Allergie", exact=True).check()
    page.get_by_label("Catégorie").select_option(label="Médicament")
    page.get_by_label("Élevée").check()
    page.get_by_role("button", name="Enregistrer").click()
    # (the redirect keeps the #fragment of the error link followed before)
    page.wait_for_url(re.compile(r".*/profil/rubrique/allergies/(#.*)?$"))
    item = page.locator("article.profile-item")
    assert "Pénicilline" in item.inner_text()
    assert "Ajouté par vous-même" in item.inner_text()
    assert_accessible(page)

    # And hide it from professionals (htmx swaps the item in place)
    item.get_by_role("button", name="Masquer aux professionnels").click()
    page.get_by_text("Masqué aux professionnels", exact=True).wait_for()
    assert_accessible(page)

    # When they add three weights on the weight page
    page.goto(f"{live_server.url}/profil/mesures/")
    assert_accessible(page)
    page.get_by_role("link", name="Poids Aucune mesure").click()
    page.wait_for_url("**/profil/mesures/body-weight/")
    rows = page.locator("table.measure-table tbody tr")
    weights = (("2025-01-10", "74,5"), ("2025-02-10", "73,2"), ("2025-03-10", "72,4"))
    for count, (day, weight) in enumerate(weights, start=1):
        page.get_by_role("textbox", name="Valeur").fill(weight)
        page.get_by_label("Date").fill(day)
        page.get_by_role("button", name="Enregistrer la mesure").click()
        expect(rows).to_have_count(count)
        expect(page.get_by_role("status")).to_have_text("Mesure enregistrée.")

    # Then the chart draws them and the table lists them, newest first
    chart = page.locator("figure.chart svg[role=img]")
    assert chart.locator(".point").count() == 3
    assert chart.locator("polyline").count() == 1
    assert "Dernière valeur : 72,4\u00a0kg, le 10 mars 2025" in page.inner_text(".measure-latest")
    assert rows.count() == 3
    assert rows.first.locator("th").inner_text() == "10 mars 2025"
    assert_accessible(page)

    # An implausible weight is refused in the page, in French
    page.get_by_role("textbox", name="Valeur").fill("724")
    page.get_by_role("button", name="Enregistrer la mesure").click()
    page.get_by_role("alert").wait_for()
    assert "n'est pas plausible" in page.get_by_role("alert").inner_text()
    assert page.locator("figure.chart svg .point").count() == 3
    assert page.get_by_role("textbox", name="Valeur").input_value() == "724"
    assert_accessible(page)

    # When they download the synthesis from the overview
    page.goto(f"{live_server.url}/profil/")
    assert "72,4\u00a0kg" in page.inner_text(".profile-card")
    assert_accessible(page)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Télécharger la synthèse (PDF)").click()
    download = download_info.value
    assert download.suggested_filename.startswith("synthese-profil-medical-")
    with open(download.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
