"""Portal "Paramètres" (emergency access, masking everything) and the "Qui peut voir ce
document ?" panel, as a page and as an htmx fragment."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from carnet.access.models import SpaceSettings
from tests.access.helpers import document_entry

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(logged_in_client, personas):
    return logged_in_client(personas.patient.user)


def _page(response):
    return html.unescape(response.content.decode())


def test_emergency_access_is_allowed_until_the_holder_opposes_it(holder, personas):
    page = _page(holder.get(reverse("portal:access_settings")))
    assert "<h1>Paramètres</h1>" in page
    assert 'name="break_glass_allowed" checked' in page
    assert 'name="centre_15_allowed" checked' in page
    assert 'name="mask_all" aria' in page  # unchecked
    assert "Bris de glace" in page
    response = holder.post(
        reverse("portal:access_settings"), {"centre_15_allowed": "on", "mask_all": "on"}
    )
    assert response.status_code == 302
    page = _page(holder.get(response["Location"]))
    assert "Vos paramètres de confidentialité sont enregistrés." in page
    row = SpaceSettings.objects.get(patient=personas.patient)
    assert (row.break_glass_opposed, row.centre_15_opposed, row.mask_all) == (True, False, True)
    assert 'name="break_glass_allowed" aria' in page
    assert 'name="mask_all" checked' in page
    assert reverse("portal:notification_preferences") in page


def test_who_can_see_as_a_page_and_as_a_fragment(holder, personas):
    entry = document_entry(personas.patient, masked=True)
    url = reverse("portal:document_who_can_see", args=[entry.pk])
    page = _page(holder.get(url))
    assert "Qui peut voir ce document ?" in page
    assert "Votre médecin traitant" in page
    assert "Peut le lire" in page
    assert "Ne peut pas le lire" in page
    assert "Document masqué par le titulaire" in page
    fragment = holder.get(url, {"profession": "60"}, HTTP_HX_REQUEST="true")
    body = _page(fragment)
    assert body.lstrip().startswith('<section class="card document-page__who" id="who-can-see"')
    assert "Votre médecin traitant" not in body
    assert "infirmier" in body
    pharmacist = _page(holder.get(url, {"profession": "21", "section": "G"}))
    assert '<option value="G" selected>' in pharmacist


def test_who_can_see_explains_bad_choices_and_hides_other_documents(
    holder, personas, logged_in_client
):
    entry = document_entry(personas.patient)
    url = reverse("portal:document_who_can_see", args=[entry.pk])
    response = holder.get(url, {"profession": "999"})
    assert response.status_code == 400
    assert 'role="alert"' in _page(response)
    response = holder.get(url, {"profession": "21", "section": "ZZ"})
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in _page(response)
    other = logged_in_client(personas.other_patient.user)
    assert other.get(url).status_code == 404
    missing = reverse("portal:document_who_can_see", args=["00000000-0000-0000-0000-000000000000"])
    assert other.get(missing).status_code == 404
