"""The holder's access controls in a real browser: authorise a professional from the directory,
see their access in the trace, block them, mask a document, read "Qui peut voir ce document ?",
oppose emergency access; axe-core on every page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from carnet.access.errors import AccessDenied
from carnet.documents import services as documents
from carnet.identity.services import actor_for_professional
from carnet.portal import session
from tests.browser.conftest import assert_accessible
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


def _settle(page: Any) -> None:
    # htmx requests and the PDF preview are traced; the in-memory SQLite test database refuses
    # concurrent writes instead of waiting, so let each page finish before the next step.
    page.wait_for_load_state("networkidle")


def test_holder_authorises_blocks_masks_and_reads_who_can_see(
    page: Any, live_server: Any, personas: Any
) -> None:
    # Given a space with a biology report written by a doctor
    holder = support.ans_test_patient()
    report = support.deposit_cda(holder, personas.doctor, support.N3_CDA)
    nurse = personas.unrelated_pro
    nurse_actor = actor_for_professional(nurse, channel="api")
    _log_in(page, live_server, holder)

    # When the holder finds the nurse in the directory and authorises them
    page.goto(f"{live_server.url}/partage/")
    assert page.get_by_role("heading", level=1).inner_text() == "Partage"
    assert_accessible(page)
    page.get_by_label("Rechercher dans l'annuaire des professionnels de santé").fill(
        nurse.family_name
    )
    authorise = page.get_by_role("button", name=f"Autoriser — {nurse}")
    authorise.wait_for()
    assert_accessible(page)
    authorise.click()
    page.wait_for_url(re.compile(r"/partage/\?q="))
    assert (
        f"{nurse} peut désormais consulter votre espace santé."
        in page.get_by_role("status").first.inner_text()
    )
    listed = page.get_by_role("listitem").filter(has_text=str(nurse)).first
    assert "Autorisé par le titulaire" in listed.inner_text()
    assert_accessible(page)

    # Then the nurse reads the report, and the holder sees it in the trace
    documents.get_document(nurse_actor, str(report.pk))
    page.get_by_role("link", name="Historique des accès").click()
    page.wait_for_url("**/historique/")
    first = page.locator("ol.documents > li").first
    assert "Consultation d'un document" in first.inner_text()
    assert str(nurse) in first.inner_text()
    assert "Autorisé" in first.inner_text()
    assert_accessible(page)

    # When the holder blocks the nurse, the nurse is refused, and the refusal is traced too
    page.get_by_role("link", name="Partage").first.click()
    page.wait_for_url("**/partage/")
    page.get_by_role("button", name=f"Bloquer — {nurse}").first.click()
    page.wait_for_url("**/partage/")
    assert f"{nurse} est bloqué(e)" in page.get_by_role("status").first.inner_text()
    assert page.get_by_role("button", name=f"Débloquer — {nurse}").is_visible()
    assert_accessible(page)
    with pytest.raises(AccessDenied):
        documents.get_document(nurse_actor, str(report.pk))
    page.goto(f"{live_server.url}/historique/")
    page.get_by_label("Personne").select_option(str(nurse.pk))
    page.wait_for_url(re.compile(r"personne="))
    assert "Refusé" in page.locator("ol.documents > li").first.inner_text()
    assert_accessible(page)

    # When the holder masks the report from its page
    page.goto(f"{live_server.url}/documents/{report.pk}/")
    _settle(page)
    page.get_by_role("button", name="Masquer aux professionnels").click()
    _settle(page)
    assert page.get_by_role("button", name="Ne plus masquer aux professionnels").is_visible()

    # Then "Qui peut voir ce document ?" explains, for nurses, that it is masked
    panel = page.locator("#who-can-see")
    panel.get_by_label("Pour quelle profession ?").select_option(label="Infirmier")
    panel.get_by_text("Un professionnel (infirmier) que vous avez autorisé").wait_for()
    text = panel.inner_text()
    assert "Document masqué par le titulaire" in text
    assert "Un professionnel (infirmier) que vous avez bloqué" in text
    assert "L'auteur du document" in text
    assert_accessible(page)
    assert documents.get_document(
        actor_for_professional(personas.doctor, channel="api"), str(report.pk)
    )  # the author still reads it

    # And the holder opposes break-glass access in Paramètres
    page.goto(f"{live_server.url}/parametres/")
    assert_accessible(page)
    page.get_by_label(
        "J'autorise l'accès en urgence par un professionnel de santé (bris de glace)"
    ).uncheck()
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/parametres/")
    assert "enregistrés" in page.get_by_role("status").first.inner_text()
    assert not page.get_by_label(
        "J'autorise l'accès en urgence par un professionnel de santé (bris de glace)"
    ).is_checked()
    assert_accessible(page)
