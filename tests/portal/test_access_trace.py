"""Portal "Historique des accès": the list with its filters and pages, the htmx fragment, and the
streamed CSV export."""

from __future__ import annotations

import contextlib
import html

import pytest
from django.urls import reverse

from carnet.access import gate, policy
from carnet.access.actions import Action
from carnet.access.actors import PurposeOfUse
from carnet.core.errors import CarnetError
from tests.access.helpers import pro_actor
from tests.factories import make_professional

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(logged_in_client, personas):
    return logged_in_client(personas.patient.user)


def _page(response):
    return html.unescape(response.content.decode())


def _access(actor, holder):
    with contextlib.suppress(CarnetError):
        gate.authorize(
            actor,
            Action.IDENTITY_PATIENT_READ,
            policy.Target("Patient", str(holder.pk), patient_id=str(holder.pk)),
        )


def test_the_trace_lists_who_did_what_and_in_which_mode(holder, personas):
    _access(pro_actor(personas.doctor), personas.patient)
    _access(pro_actor(personas.emergency_doctor, PurposeOfUse.BREAK_GLASS, "AVC"), personas.patient)
    _access(pro_actor(personas.unrelated_pro), personas.patient)
    page = _page(holder.get(reverse("portal:trace")))
    assert "<h1>Historique des accès</h1>" in page
    assert "3 actions" in page
    for expected in (
        str(personas.doctor),
        "Consultation de votre identité",
        "Urgence (bris de glace)",
        "motif déclaré : « AVC »",
        "Refusé",
        "Infirmier",
    ):
        assert expected in page
    assert "PAT-TROIS" not in page.split("<main", 1)[1].split("Historique des accès", 1)[1]


def test_filters_and_the_htmx_fragment(holder, personas):
    _access(pro_actor(personas.doctor), personas.patient)
    _access(pro_actor(personas.unrelated_pro), personas.patient)
    response = holder.get(
        reverse("portal:trace"), {"personne": str(personas.doctor.pk)}, HTTP_HX_REQUEST="true"
    )
    body = _page(response)
    assert "<html" not in body
    assert "1 action" in body
    assert str(personas.unrelated_pro) not in body
    assert f"personne={personas.doctor.pk}" in body  # the export keeps the filters


def test_bad_dates_are_explained(holder):
    response = holder.get(reverse("portal:trace"), {"du": "2026-02-01", "au": "2026-01-01"})
    assert response.status_code == 400
    assert "La date de fin précède la date de début." in _page(response)
    response = holder.get(reverse("portal:trace"), {"du": "hier"})
    assert response.status_code == 400
    assert "Saisissez une date valide" in _page(response)


def test_pages_of_the_trace(holder, personas):
    for _ in range(27):
        _access(pro_actor(personas.doctor), personas.patient)
    first = _page(holder.get(reverse("portal:trace")))
    assert "Page 1 sur 2" in first
    assert "page=2" in first
    second = _page(holder.get(reverse("portal:trace"), {"page": "2"}))
    assert "Page 2 sur 2" in second
    assert holder.get(reverse("portal:trace"), {"page": "0"}).status_code == 400


def test_the_csv_export_streams_safe_cells(holder, personas):
    trickster = make_professional("60", family_name="@SUM(A1)", given_name="-2")
    _access(pro_actor(personas.doctor), personas.patient)
    _access(pro_actor(trickster), personas.patient)
    response = holder.get(reverse("portal:trace_csv"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="historique-des-acces.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeffDate et heure;Qui;Profession")
    lines = text.strip().splitlines()
    assert len(lines) == 3
    assert any(";'-2 @SUM(A1);" in line for line in lines)
    filtered = holder.get(reverse("portal:trace_csv"), {"personne": str(personas.doctor.pk)})
    assert len(b"".join(filtered.streaming_content).decode().strip().splitlines()) == 2


def test_a_bad_export_request_goes_back_to_the_page(holder):
    response = holder.get(reverse("portal:trace_csv"), {"du": "n'importe quand"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:trace") + "?du=")


def test_the_trace_requires_login(client):
    assert client.get(reverse("portal:trace")).status_code == 302
    assert client.get(reverse("portal:trace_csv")).status_code == 302
