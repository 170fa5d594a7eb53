"""A holder logs in with the code received by e-mail and reaches the home page; each page
visited is checked with axe-core."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import assert_accessible
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _code(mailbox, address):
    body = mailbox.body(mailbox.to(address)[-1])
    match = re.search(r"\b(\d{6})\b", body)
    assert match
    return match.group(1)


def test_holder_logs_in_with_the_emailed_code(page, live_server, personas, mailbox):
    page.goto(f"{live_server.url}/connexion/")
    assert_accessible(page)
    page.get_by_label("Identifiant").fill("dominique@exemple.test")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/connexion/code/")
    assert_accessible(page)
    page.get_by_label("Code à 6 chiffres").fill(_code(mailbox, "dominique@exemple.test"))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Bonjour")
    assert page.get_by_role("navigation", name="Rubriques").is_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Agenda", exact=True).click()
    assert "pas encore disponible" in page.content()
    assert_accessible(page)

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/connexion/")


def test_wrong_password_shows_a_french_error(page, live_server, personas):
    page.goto(f"{live_server.url}/connexion/")
    page.get_by_label("Identifiant").fill("dominique@exemple.test")
    page.get_by_label("Mot de passe").fill("mauvais mot de passe")
    page.get_by_role("button", name="Continuer").click()
    assert (
        page.get_by_role("alert")
        .inner_text()
        .startswith("Identifiant, mot de passe ou code incorrect")
    )
    assert_accessible(page)


def test_representative_switches_to_the_minor_space(page, live_server, personas, mailbox):
    page.goto(f"{live_server.url}/connexion/")
    page.get_by_label("Identifiant").fill("parent@exemple.test")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Code à 6 chiffres").fill(_code(mailbox, "parent@exemple.test"))
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Espace affiché").select_option(label=str(personas.minor))
    page.get_by_role("button", name="Changer").click()
    assert "représentant légal" in page.content()
    assert_accessible(page)


def test_professional_login_page_offers_the_demo_login(page, live_server, personas):
    page.goto(f"{live_server.url}/pro/connexion/")
    assert "Connexion de démonstration" in page.content()
    assert_accessible(page)
    page.get_by_role("button", name="Se connecter (démo)").click()
    page.wait_for_url("**/pro/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Bonjour")
    assert_accessible(page)
