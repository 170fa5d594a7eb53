"""The holder's side: notifications on the home page (unread first, mark as read), the full list,
and "Paramètres › Notifications"; each through the access gate."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from carnet.audit.models import AuditEvent
from carnet.core.errors import NotFound
from carnet.identity.services import actor_for_user
from carnet.notifications import services
from carnet.notifications.kinds import NotificationKind
from carnet.notifications.models import Notification, NotificationPreference

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _notify(holder, kind, key, **extra):
    return services.notify(holder.pk, kind, dedupe_key=key, **extra)


def _page(client, name="portal:home"):
    response = client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


def test_home_shows_the_latest_notifications_unread_first(logged_in_client, personas, time_machine):
    time_machine.move_to(T0, tick=False)
    old = _notify(personas.patient, NotificationKind.DOCUMENT_NEW, "d1")
    time_machine.move_to(T0 + dt.timedelta(hours=1), tick=False)
    _notify(
        personas.patient, NotificationKind.FIRST_ACCESS, "p1", context={"actor": "Dr Alex MARTIN"}
    )
    time_machine.move_to(T0 + dt.timedelta(hours=2), tick=False)
    _notify(personas.patient, NotificationKind.MESSAGE_NEW, "m1", link_path="/messagerie/7/")
    Notification.objects.filter(pk=old.pk).update(read_at=T0 + dt.timedelta(hours=3))
    _notify(personas.other_patient, NotificationKind.EMERGENCY_ACCESS, "someone-else")

    page = _page(logged_in_client(personas.patient.user))

    assert "2 notifications non lues." in page
    message = page.index("Un nouveau message est arrivé dans la messagerie.")
    first_access = page.index(
        "Dr Alex MARTIN a consulté l&#x27;espace santé pour la première fois."
    )
    document = page.index("Un nouveau document a été ajouté à l&#x27;espace santé.")
    assert message < first_access < document  # unread (newest first), then read
    assert 'href="/messagerie/7/"' in page
    assert "accès en urgence" not in page  # another holder's notice
    assert reverse("portal:notification_preferences") in page


def test_reading_the_home_page_is_traced_as_a_search(logged_in_client, personas):
    _page(logged_in_client(personas.patient.user))
    assert AuditEvent.objects.filter(
        action="notifications:notification:read", patient_id=personas.patient.pk
    ).exists()


def test_marking_a_notification_as_read(logged_in_client, personas):
    notification = _notify(personas.patient, NotificationKind.DOCUMENT_NEW, "d1")
    client = logged_in_client(personas.patient.user)
    response = client.post(
        reverse("portal:notification_read", args=[notification.pk]), {"next": "/notifications/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/notifications/"
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert "notification non lue" not in _page(client)


def test_marking_all_as_read(logged_in_client, personas):
    for key in ("a", "b", "c"):
        _notify(personas.patient, NotificationKind.DOCUMENT_NEW, key)
    client = logged_in_client(personas.patient.user)
    assert "Tout marquer comme lu" in _page(client)
    response = client.post(
        reverse("portal:notifications_read_all"), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("portal:home")  # no open redirect
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_marking_read_needs_a_post(logged_in_client, personas):
    notification = _notify(personas.patient, NotificationKind.DOCUMENT_NEW, "d1")
    response = logged_in_client(personas.patient.user).get(
        reverse("portal:notification_read", args=[notification.pk])
    )
    assert response.status_code == 405


def test_another_holders_notification_is_not_found(logged_in_client, personas):
    theirs = _notify(personas.other_patient, NotificationKind.DOCUMENT_NEW, "d1")
    client = logged_in_client(personas.patient.user)
    for pk in (theirs.pk, 999999):
        response = client.post(reverse("portal:notification_read", args=[pk]))
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert AuditEvent.objects.filter(
        action="notifications:notification:update", outcome="denied"
    ).exists()


def test_the_full_list_shows_more_than_the_home_card(logged_in_client, personas):
    for n in range(7):
        _notify(personas.patient, NotificationKind.DOCUMENT_NEW, f"d{n}")
    client = logged_in_client(personas.patient.user)
    home = _page(client)
    assert home.count("</time>") == 5
    assert "Voir les 7 notifications" in home
    assert _page(client, "portal:notifications").count("</time>") == 7


def test_a_representative_sees_the_minors_notifications_but_not_the_secret_ones(
    logged_in_client, personas
):
    _notify(personas.minor, NotificationKind.MESSAGE_NEW, "m1")
    secret = _notify(
        personas.minor, NotificationKind.DOCUMENT_NEW, "d1", hidden_from_representatives=True
    )
    client = logged_in_client(personas.parent)
    client.post(reverse("portal:switch_space"), {"space": str(personas.minor.pk)})
    page = _page(client)
    assert "Un nouveau message est arrivé" in page
    assert "Un nouveau document" not in page
    assert client.post(reverse("portal:notification_read", args=[secret.pk])).status_code == 404
    client.post(reverse("portal:notifications_read_all"))
    secret.refresh_from_db()
    assert secret.read_at is None


def test_the_preferences_page_lists_every_kind_with_emergency_locked_on(logged_in_client, personas):
    page = _page(logged_in_client(personas.patient.user), "portal:notification_preferences")
    for kind in NotificationKind:
        assert f'value="{kind.value}" checked' in page
    assert 'value="emergency_access" checked disabled' in page
    assert "ne peut pas être désactivée" in page
    assert "Paramètres" in page


def test_saving_preferences(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    response = client.post(
        reverse("portal:notification_preferences"),
        {"email": ["message_new", "first_access"]},
    )
    assert response.status_code == 302
    stored = dict(NotificationPreference.objects.values_list("kind", "enabled"))
    assert stored == {
        "document_new": False,
        "document_modified": False,
        "message_new": True,
        "first_access": True,
        "emergency_access": True,  # not posted (the box is disabled) and still on
        "access_code_used": False,
    }
    page = _page(client, "portal:notification_preferences")
    assert 'value="document_new" aria-describedby' in page  # unchecked
    assert "Vos préférences de notification sont enregistrées." in page
    assert AuditEvent.objects.filter(
        action="notifications:preference:update", outcome="allowed"
    ).exists()


def test_an_unknown_kind_is_a_french_error_and_changes_nothing(logged_in_client, personas):
    response = logged_in_client(personas.patient.user).post(
        reverse("portal:notification_preferences"), {"email": ["document_lu"]}
    )
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in response.content.decode()
    assert not NotificationPreference.objects.exists()


def test_preferences_of_another_space_are_not_found(personas):
    actor = actor_for_user(personas.patient.user)
    with pytest.raises(NotFound):
        services.preferences(actor, str(personas.other_patient.pk))
    with pytest.raises(NotFound):
        services.update_preferences(actor, str(personas.other_patient.pk), email_kinds=[])
    with pytest.raises(NotFound):
        services.preferences(actor, "not-a-uuid")
    assert not NotificationPreference.objects.exists()


def test_a_representative_sets_the_minors_preferences(personas):
    actor = actor_for_user(personas.parent)
    services.update_preferences(actor, str(personas.minor.pk), email_kinds=["document_new"])
    rows = {
        row.kind: row.email_enabled for row in services.preferences(actor, str(personas.minor.pk))
    }
    assert rows[NotificationKind.DOCUMENT_NEW]
    assert not rows[NotificationKind.MESSAGE_NEW]


def test_pages_need_login(client):
    for name in ("portal:notifications", "portal:notification_preferences"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:login"))
