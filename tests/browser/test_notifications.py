"""The holder reads their notifications on the home page, marks one as read (htmx), and sets
which kinds reach them by e-mail in "Paramètres › Notifications"; axe-core checks each page."""

from __future__ import annotations

import pytest

from carnet.notifications import services
from carnet.notifications.kinds import NotificationKind
from tests.browser.conftest import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_session(page, live_server, logged_in_client, user):
    client = logged_in_client(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


def test_holder_reads_notifications_and_sets_email_preferences(
    page, live_server, personas, logged_in_client
):
    services.notify(personas.patient.pk, NotificationKind.DOCUMENT_NEW, dedupe_key="d1")
    services.notify(
        personas.patient.pk,
        NotificationKind.FIRST_ACCESS,
        dedupe_key="p1",
        context={"actor": "Dr Alex MARTIN"},
    )
    _open_session(page, live_server, logged_in_client, personas.patient.user)

    # the home page lists them, unread
    page.goto(f"{live_server.url}/")
    card = page.locator("#notifications")
    assert "2 notifications non lues." in card.inner_text()
    assert "Dr Alex MARTIN a consulté l'espace santé pour la première fois." in card.inner_text()
    assert_accessible(page)

    # marking one as read updates the card in place
    card.get_by_role("button", name="Marquer comme lue : Dr Alex MARTIN").click()
    page.wait_for_function(
        "() => document.querySelector('#notifications').innerText"
        ".includes('1 notification non lue')"
    )
    assert page.url == f"{live_server.url}/"

    # the preferences page: every kind on, the emergency one locked with its reason
    page.get_by_role("link", name="Choisir les notifications reçues par e-mail").click()
    page.wait_for_url("**/parametres/notifications/")
    assert page.get_by_role("heading", level=1).inner_text() == "Notifications"
    emergency = page.get_by_label("Accès en urgence")
    assert emergency.is_checked()
    assert emergency.is_disabled()
    assert "ne peut pas être désactivée" in page.content()
    assert_accessible(page)

    page.get_by_label("Nouveau document").uncheck()
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/parametres/notifications/")
    assert page.get_by_role("status").inner_text().startswith("Vos préférences")
    assert not page.get_by_label("Nouveau document").is_checked()
    assert page.get_by_label("Nouveau message").is_checked()
    assert page.get_by_label("Accès en urgence").is_checked()
    assert_accessible(page)
