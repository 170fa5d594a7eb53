"""Portal shell: every page needs login, sections say plainly when they are not ready,
representatives switch spaces, and the demo data can be used end to end."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from carnet.portal.sections import SECTIONS

pytestmark = pytest.mark.django_db


def test_home_requires_login(client):
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_home_shows_notifications_events_and_services(logged_in_client, personas):
    page = logged_in_client(personas.patient.user).get(reverse("portal:home")).content.decode()
    for heading in ("Notifications", "Prochains événements", "Services recommandés"):
        assert heading in page
    assert "Bonjour Dominique" in page


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.slug)
def test_each_section_is_reachable_and_says_when_it_is_not_ready(
    logged_in_client, personas, section
):
    client = logged_in_client(personas.patient.user)
    response = client.get(reverse("portal:section", args=[section.slug]))
    if section.url_name:
        assert response.status_code == 302
        assert response["Location"] == reverse(section.url_name)
        assert client.get(response["Location"]).status_code == 200
    else:
        assert response.status_code == 200
        assert "pas encore disponible" in response.content.decode()


def test_unknown_section_is_a_french_404(logged_in_client, personas):
    response = logged_in_client(personas.patient.user).get("/rubrique/inconnue/")
    assert response.status_code == 404
    assert "Page introuvable" in response.content.decode()


def test_representative_switches_to_the_minor_and_back(logged_in_client, personas):
    client = logged_in_client(personas.parent)
    response = client.post(reverse("portal:switch_space"), {"space": str(personas.minor.pk)})
    assert response.status_code == 302
    page = client.get(reverse("portal:home")).content.decode()
    assert "représentant légal" in page


def test_a_holder_cannot_switch_to_a_space_they_do_not_hold(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    client.post(reverse("portal:switch_space"), {"space": str(personas.other_patient.pk)})
    page = client.get(reverse("portal:home")).content.decode()
    assert "Bonjour Dominique" in page


def test_pages_carry_security_headers(logged_in_client, personas):
    response = logged_in_client(personas.patient.user).get(reverse("portal:home"))
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cache-Control"] == "no-store"


def test_demo_data_is_idempotent_and_usable_through_the_api(client, settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("demo")
    # `make run` again the next day: the PDFs render with another date, and are recognised.
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=1, hours=3)):
        call_command("demo")
    output = capsys.readouterr().out
    assert "Carnet-demo-2026!" in output
    assert "déjà présentes" in output
    # The demo holder finds documents, a profile, measures and a message, each once.
    from carnet.documents.models import DocumentEntry
    from carnet.messaging.models import Message
    from carnet.profile.models import Measure, ProfileItem

    assert DocumentEntry.objects.filter(status="current").count() == 3
    assert Message.objects.count() == 1
    assert ProfileItem.objects.filter(kind="allergie").count() == 1
    assert Measure.objects.filter(key="body-weight").count() == 3
    call_command("demo_token")
    token = capsys.readouterr().out.strip()
    settings.CARNET_JWT_AUDIENCE = settings.CARNET_JWT_AUDIENCE  # the token's audience
    response = client.get("/api/v1/ping", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json() == {"actor": "professional"}


def test_a_failing_demo_step_is_one_line_naming_it(settings, tmp_path, monkeypatch):
    from django.core.management.base import CommandError

    from carnet.profile.management.commands import demo_profile

    settings.VAR_DIR = tmp_path

    def broken(*args, **options):
        raise ValueError("table illisible")

    monkeypatch.setattr(demo_profile.Command, "handle", broken)
    with pytest.raises(CommandError) as caught:
        call_command("demo")
    assert str(caught.value) == "demo_profile : table illisible"


def test_pro_demo_login_is_refused_outside_demo_modes(client, personas, settings):
    settings.CARNET_DEMO_PRO_LOGIN = False
    response = client.post(reverse("pro:demo_login"), {"rpps": personas.doctor.rpps})
    assert response.status_code == 404
