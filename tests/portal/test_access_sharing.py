"""Portal "Partage": the list of authorised and blocked professionals, the directory, and each
control (authorise, extended rights, remove, block, unblock), allowed and refused side by side."""

from __future__ import annotations

import html
import uuid

import pytest
from django.urls import reverse

from carnet.access.models import Block, CareTeamMember
from tests.factories import make_professional

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(logged_in_client, personas):
    return logged_in_client(personas.patient.user)


def _page(response):
    return html.unescape(response.content.decode())


def _follow(client, response):
    assert response.status_code == 302
    return _page(client.get(response["Location"]))


def test_sharing_requires_login(client):
    response = client.get(reverse("portal:sharing"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_the_page_lists_the_medecin_traitant_and_says_nobody_is_blocked(holder, personas):
    page = _page(holder.get(reverse("portal:sharing")))
    assert "<h1>Partage</h1>" in page
    assert str(personas.doctor) in page
    assert "Médecin traitant" in page
    assert "Vous n'avez bloqué aucun professionnel." in page
    nav = _page(holder.get(reverse("portal:home")))
    assert f'href="{reverse("portal:sharing")}"' in nav


def test_the_directory_search_answers_with_a_page_or_an_htmx_fragment(holder, personas):
    make_professional("60", family_name="INFIRMIERE-DUPONT")
    page = _page(holder.get(reverse("portal:sharing"), {"q": "dupont"}))
    assert "INFIRMIERE-DUPONT" in page
    assert "1 professionnel trouvé" in page
    fragment = holder.get(reverse("portal:sharing"), {"q": "dupont"}, HTTP_HX_REQUEST="true")
    body = _page(fragment)
    assert fragment.status_code == 200
    assert body.lstrip().startswith('<div id="directory"')
    assert "<html" not in body
    assert "Infirmier" in body


def test_a_too_short_search_is_explained(holder):
    response = holder.get(reverse("portal:sharing"), {"q": "a"})
    assert response.status_code == 400
    assert "au moins 2 caractères" in _page(response)
    fragment = holder.get(reverse("portal:sharing"), {"q": "a"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200
    assert 'role="alert"' in _page(fragment)


def test_authorising_a_professional(holder, personas):
    nurse = personas.unrelated_pro
    response = holder.post(
        reverse("portal:sharing_authorise"),
        {"professional": str(nurse.pk), "until": "2099-12-31", "extended_rights": "on", "q": "x y"},
    )
    assert response["Location"] == reverse("portal:sharing") + "?q=x+y"
    page = _follow(holder, response)
    assert f"{nurse} peut désormais consulter votre espace santé." in page
    right = CareTeamMember.objects.get(professional=nurse)
    assert (right.basis, right.extended_rights, right.expires_at.year) == ("autorise", True, 2099)


NURSE = "nurse"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choisissez un professionnel"),
        ({"professional": "pas-un-uuid"}, "UUID"),
        ({"professional": str(uuid.UUID(int=7))}, "introuvable"),
        ({"professional": NURSE, "until": "2001-01-01"}, "dans le futur"),
        ({"professional": NURSE, "until": "31/02/2030"}, "date valide"),
        ({"professional": NURSE, "medecin_traitant": "on"}, "Seul un médecin"),
    ],
)
def test_bad_authorisations_are_explained_in_french(holder, personas, data, message):
    nurse = str(personas.unrelated_pro.pk)
    values = {name: nurse if value == NURSE else value for name, value in data.items()}
    page = _follow(holder, holder.post(reverse("portal:sharing_authorise"), values))
    assert message in page
    assert not CareTeamMember.objects.filter(professional=personas.unrelated_pro).exists()


def test_extended_rights_removal_and_blocking_from_the_list(holder, personas):
    nurse = personas.unrelated_pro
    holder.post(reverse("portal:sharing_authorise"), {"professional": str(nurse.pk)})
    right = CareTeamMember.objects.get(professional=nurse)
    page = _follow(
        holder,
        holder.post(reverse("portal:sharing_extended_rights", args=[right.pk]), {"enabled": "on"}),
    )
    assert "Droits étendus accordés" in page
    page = _follow(
        holder,
        holder.post(reverse("portal:sharing_extended_rights", args=[right.pk]), {"enabled": "off"}),
    )
    assert "Droits étendus retirés" in page
    page = _follow(holder, holder.post(reverse("portal:sharing_revoke", args=[right.pk])))
    assert "L'autorisation est retirée." in page
    page = _follow(holder, holder.post(reverse("portal:sharing_revoke", args=[right.pk])))
    assert "déjà été retirée" in page


def test_blocking_overrides_the_medecin_traitant_until_unblocked(holder, personas):
    doctor = personas.doctor
    page = _follow(
        holder, holder.post(reverse("portal:sharing_block"), {"professional": str(doctor.pk)})
    )
    assert f"{doctor} est bloqué(e)" in page
    assert "Bloqué : aucun accès" in page
    block = Block.objects.get()
    page = _follow(holder, holder.post(reverse("portal:sharing_unblock", args=[block.pk])))
    assert "Le professionnel est débloqué" in page
    page = _follow(holder, holder.post(reverse("portal:sharing_unblock", args=[block.pk])))
    assert "déjà été levé" in page
    page = _follow(holder, holder.post(reverse("portal:sharing_block"), {}))
    assert "Choisissez un professionnel" in page


def test_another_holder_cannot_touch_these_rights(logged_in_client, personas):
    other = logged_in_client(personas.other_patient.user)
    right = CareTeamMember.objects.get(professional=personas.doctor)
    page = _follow(other, other.post(reverse("portal:sharing_revoke", args=[right.pk])))
    assert "déjà été retirée" in page
    assert CareTeamMember.objects.get(pk=right.pk).ended_at is None
    assert str(personas.doctor) not in _page(other.get(reverse("portal:sharing")))


def test_changes_are_posts_only(holder, personas):
    right = CareTeamMember.objects.get(professional=personas.doctor)
    for url in (
        reverse("portal:sharing_authorise"),
        reverse("portal:sharing_block"),
        reverse("portal:sharing_revoke", args=[right.pk]),
        reverse("portal:sharing_unblock", args=[right.pk]),
    ):
        assert holder.get(url).status_code == 405


def test_a_representative_manages_the_minor_s_sharing(logged_in_client, personas):
    parent = logged_in_client(personas.parent)
    parent.post(reverse("portal:switch_space"), {"space": str(personas.minor.pk)})
    parent.post(reverse("portal:sharing_block"), {"professional": str(personas.doctor.pk)})
    assert Block.objects.get().patient_id == personas.minor.pk


def test_a_session_without_a_space_gets_a_404(client):
    from carnet.identity.models import User

    client.force_login(User.objects.create_user("sans-espace@exemple.test", "x" * 20))
    assert client.get(reverse("portal:sharing")).status_code == 404
    assert client.get(reverse("portal:access_settings")).status_code == 404
    assert client.get(reverse("portal:trace")).status_code == 404
