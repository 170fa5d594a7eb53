"""The 12 sections in the portal: each kind of item is added, corrected and deleted through its
French form; errors keep what was typed; "nothing to report", single kinds, hiding from
professionals, the read-only care history; and nobody reads another holder's profile."""

from __future__ import annotations

import pytest
from django.urls import reverse

from carnet.audit.models import AuditEvent
from carnet.profile import kinds, sections
from carnet.profile.models import AuthorKind, ProfileItem
from tests.profile.samples import INVALID, ITEMS

pytestmark = pytest.mark.django_db


def _add_url(key):
    kind = kinds.get_kind(key)
    return reverse("portal:profile_item_add", args=[kind.section, key])


def _page_of(kind):
    if kind.section == sections.MESURES:
        return reverse("portal:profile_measures")
    return reverse("portal:profile_section", args=[kind.section])


def test_the_overview_lists_the_twelve_sections(portal):
    page = portal.get(reverse("portal:profile")).content.decode()
    for section in sections.SECTIONS:
        assert section.label.replace("'", "&#x27;") in page
    assert "Profil renseigné à <strong>0 %</strong>" in page
    assert len(sections.SECTIONS) == 12


def test_the_portal_menu_leads_to_the_profile(portal):
    page = portal.get(reverse("portal:home")).content.decode()
    assert f'href="{reverse("portal:profile")}"' in page


@pytest.mark.parametrize("key", sorted(ITEMS))
def test_each_kind_is_added_corrected_and_deleted_in_the_portal(portal, personas, key):
    kind = kinds.get_kind(key)
    added, corrected, title = ITEMS[key]

    # Given the form, when the holder adds the item, then it is listed with its author.
    assert portal.get(_add_url(key)).status_code == 200
    response = portal.post(_add_url(key), added)
    assert response.status_code == 302
    assert response["Location"] == _page_of(kind)
    item = ProfileItem.objects.get(patient=personas.patient, kind=key)
    assert item.author_kind == AuthorKind.HOLDER
    assert item.resource_type == kind.resource_type
    page = portal.get(_page_of(kind)).content.decode()
    assert "Ajouté par vous-même" in page

    # When they correct it, the new values are stored and a new version is kept.
    edit = reverse("portal:profile_item_edit", args=[item.pk])
    form = portal.get(edit).content.decode()
    first_value = next(v for v in added.values() if v not in ("on",))
    assert f'value="{first_value}"' in form or f">{first_value}<" in form or first_value in form
    response = portal.post(edit, corrected)
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.version == 2
    assert item.title == title
    assert item.editor_kind == ""  # corrected by its own author

    # When they delete it (after confirming), it is gone.
    delete = reverse("portal:profile_item_delete", args=[item.pk])
    assert "Supprimer" in portal.get(delete).content.decode()
    assert portal.post(delete).status_code == 302
    assert not ProfileItem.objects.filter(pk=item.pk).exists()
    actions = list(
        AuditEvent.objects.filter(patient_id=personas.patient.pk, resource_id=str(item.pk))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[0] == "profile:item:create"
    assert "profile:item:update" in actions
    assert actions[-1] == "profile:item:delete"


@pytest.mark.parametrize("key", sorted(INVALID))
def test_an_invalid_form_shows_french_errors_and_keeps_the_input(portal, personas, key):
    field, data = INVALID[key]
    response = portal.post(_add_url(key), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="form-errors" role="alert"' in page
    spec = kinds.get_kind(key).field(field)
    target = f"id_{field}_0" if spec.widget == "radio" else f"id_{field}"
    assert f'href="#{target}"' in page
    assert f'id="id_{field}-error"' in page
    for name, value in data.items():
        if value and kinds.get_kind(key).field(name).widget not in ("radio", "select"):
            assert value.replace("'", "&#x27;") in page, name
    assert not ProfileItem.objects.filter(patient=personas.patient).exists()


def test_a_radio_choice_typed_wrongly_is_not_lost_on_the_page(portal):
    response = portal.post(
        _add_url("maladie"), {"name": "Asthme", "status": "active", "onset": "demain"}
    )
    page = response.content.decode()
    assert 'value="active" checked' in page
    assert 'value="Asthme"' in page


def test_nothing_to_report_completes_a_list_section_until_a_real_item_arrives(portal, personas):
    section = reverse("portal:profile_section", args=["allergies"])
    assert "Je n&#x27;ai aucune allergie connue" in portal.get(section).content.decode()
    assert portal.post(_add_url("aucune-allergie")).status_code == 302
    overview = portal.get(reverse("portal:profile")).content.decode()
    assert "Rien à signaler" in overview
    # The choice is no longer offered once made.
    assert "Je n&#x27;ai aucune allergie connue" not in portal.get(section).content.decode()

    portal.post(_add_url("allergie"), ITEMS["allergie"][0])
    remaining = set(
        ProfileItem.objects.filter(patient=personas.patient).values_list("kind", flat=True)
    )
    assert remaining == {"allergie"}


def test_nothing_to_report_is_refused_over_real_items(portal, personas):
    portal.post(_add_url("traitement"), ITEMS["traitement"][0])
    response = portal.post(_add_url("aucun-traitement"))
    assert response.status_code == 400
    assert "contient déjà des éléments" in response.content.decode()
    assert ProfileItem.objects.filter(patient=personas.patient).count() == 1


def test_a_single_kind_is_edited_rather_than_added_twice(portal, personas):
    assert portal.post(_add_url("tabac"), ITEMS["tabac"][0]).status_code == 302
    page = portal.get(reverse("portal:profile_section", args=["habitudes-de-vie"])).content.decode()
    assert "Renseigner le tabac" not in page
    response = portal.post(_add_url("tabac"), ITEMS["tabac"][1])
    assert response.status_code == 400
    assert "déjà renseigné" in response.content.decode()
    assert ProfileItem.objects.filter(patient=personas.patient, kind="tabac").count() == 1


def test_hiding_an_item_from_professionals_with_htmx(portal, personas):
    portal.post(_add_url("maladie"), ITEMS["maladie"][0])
    item = ProfileItem.objects.get(patient=personas.patient)
    url = reverse("portal:profile_item_hide", args=[item.pk])
    response = portal.post(url, {"masquer": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith("<article")
    assert "Masqué aux professionnels" in fragment
    assert "Ne plus masquer" in fragment
    item.refresh_from_db()
    assert item.hidden
    portal.post(url, {"masquer": "0"})
    item.refresh_from_db()
    assert not item.hidden


def test_the_care_history_is_read_only_for_the_holder(portal, personas):
    page = portal.get(reverse("portal:profile_section", args=["historique-soins"])).content.decode()
    assert "Cette rubrique est alimentée par l'Assurance Maladie" in page
    assert "/profil/rubrique/historique-soins/ajouter/" not in page
    response = portal.post(
        reverse("portal:profile_item_add", args=["historique-soins", "soin"]), {}
    )
    assert response.status_code == 404


def test_a_holder_cannot_open_another_holders_item_and_the_refusal_is_traced(
    portal, logged_in_client, personas
):
    other = logged_in_client(personas.other_patient.user)
    other.post(_add_url("allergie"), ITEMS["allergie"][0])
    item = ProfileItem.objects.get(patient=personas.other_patient)

    mine = logged_in_client(personas.patient.user)
    for url in (
        reverse("portal:profile_item_edit", args=[item.pk]),
        reverse("portal:profile_item_delete", args=[item.pk]),
    ):
        assert mine.get(url).status_code == 404
    assert (
        mine.post(reverse("portal:profile_item_hide", args=[item.pk]), {"masquer": "1"}).status_code
        == 404
    )
    assert mine.post(reverse("portal:profile_item_delete", args=[item.pk])).status_code == 404
    refusal = AuditEvent.objects.filter(
        patient_id=personas.other_patient.pk, actor_id=str(personas.patient.user.pk)
    ).latest("seq")
    assert refusal.outcome == "denied"
    assert refusal.action.startswith("profile:item:")
    item.refresh_from_db()
    assert not item.hidden


def test_an_unknown_item_is_a_404(portal):
    assert (
        portal.get(
            reverse("portal:profile_item_edit", args=["00000000-0000-0000-0000-000000000000"])
        ).status_code
        == 404
    )
    assert portal.get("/profil/rubrique/inconnue/").status_code == 404
    assert portal.get("/profil/rubrique/maladies/ajouter/vaccination/").status_code == 404


def test_a_representative_completes_the_minors_profile(logged_in_client, personas):
    client = logged_in_client(personas.parent)
    client.post(reverse("portal:switch_space"), {"space": str(personas.minor.pk)})
    assert client.post(_add_url("vaccination"), ITEMS["vaccination"][0]).status_code == 302
    assert ProfileItem.objects.get(kind="vaccination").patient_id == personas.minor.pk
    page = client.get(reverse("portal:profile")).content.decode()
    assert "représentant légal" in page


def test_profile_pages_need_a_login(client, db):
    response = client.get(reverse("portal:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_only_post_changes_anything(portal, personas):
    portal.post(_add_url("maladie"), ITEMS["maladie"][0])
    item = ProfileItem.objects.get(patient=personas.patient)
    assert portal.get(reverse("portal:profile_item_hide", args=[item.pk])).status_code == 405
    assert portal.get(reverse("portal:profile_share")).status_code == 405
