"""Professionals and the insurer in the profile: items they author show who wrote them; the
holder corrects or hides them but does not delete them; an unrelated professional gets 404;
professionals with access complete vaccinations, allergies, treatments and history through the
FHIR API, and the insurer feeds the care history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from carnet.access import services as access
from carnet.audit.models import AuditEvent
from carnet.core import clock
from carnet.profile import items, kinds, services
from carnet.profile.models import AuthorKind, ProfileItem
from tests.profile.conftest import outcome
from tests.profile.samples import ITEMS
from tests.profile.test_fhir_items import resource_of

pytestmark = pytest.mark.django_db


def _by_professional(personas, key="vaccination"):
    """An item a professional's software wrote (as stored), with elements the form lacks."""
    kind = kinds.get_kind(key)
    data = items.clean_data(kind, ITEMS[key][0], today=dt.date(2025, 11, 1))
    resource = items.build_resource(
        kind, data, patient_reference=f"Patient/{personas.patient.pk}", today=dt.date(2025, 11, 1)
    )
    resource["lotNumber"] = "LOT-PRO-42"
    resource["site"] = {"text": "deltoïde gauche"}
    doctor = personas.doctor
    now = clock.now()
    return ProfileItem.objects.create(
        patient=personas.patient,
        section=kind.section,
        kind=key,
        resource_type=kind.resource_type,
        resource=resource,
        title=items.title(kind, resource),
        author_kind=AuthorKind.PROFESSIONAL,
        author_id=str(doctor.pk),
        author_label=str(doctor),
        author_profession=doctor.profession_code,
        created_at=now,
        updated_at=now,
    )


def test_the_author_of_a_professionals_item_is_shown(portal, personas):
    _by_professional(personas)
    page = portal.get(reverse("portal:profile_section", args=["vaccinations"])).content.decode()
    assert f"Ajouté par {personas.doctor} (Médecin)" in page
    assert "Supprimer" not in page.split("profile-items")[1]


def test_the_holder_corrects_a_professionals_item_and_keeps_what_it_carried(portal, personas):
    item = _by_professional(personas)
    response = portal.post(
        reverse("portal:profile_item_edit", args=[item.pk]),
        {"vaccine": "J07BB", "date": "16/10/2025", "dose": "rappel annuel"},
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.resource["occurrenceDateTime"] == "2025-10-16"
    assert item.resource["site"] == {"text": "deltoïde gauche"}
    assert item.author_kind == AuthorKind.PROFESSIONAL
    assert item.editor_kind == AuthorKind.HOLDER
    page = portal.get(reverse("portal:profile_section", args=["vaccinations"])).content.decode()
    assert "modifié par vous-même" in page


def test_the_holder_hides_but_does_not_delete_a_professionals_item(portal, personas):
    item = _by_professional(personas)
    portal.post(reverse("portal:profile_item_hide", args=[item.pk]), {"masquer": "1"})
    item.refresh_from_db()
    assert item.hidden
    response = portal.post(reverse("portal:profile_item_delete", args=[item.pk]), follow=True)
    assert "pas le supprimer" in response.content.decode()
    assert ProfileItem.objects.filter(pk=item.pk).exists()


def test_hidden_items_stay_out_of_what_the_synthesis_shows(holder, personas, pid):
    from carnet.profile import synthesis

    item = _by_professional(personas)
    services.set_item_hidden(holder, str(item.pk), hidden=True)
    context = synthesis._context(holder, pid, personas.patient)
    titles = [line.title for block in context["sections"] for line in block["lines"]]
    assert item.title not in titles
    assert context["hidden_count"] == 1


def test_an_unrelated_professional_gets_404_and_nothing(pro_fhir, personas, holder, pid):
    item = services.create_item(holder, patient_id=pid, kind="allergie", data=ITEMS["allergie"][0])
    services.add_measure(holder, patient_id=pid, key="heart-rate", value=60, at=dt.date(2025, 1, 1))
    fhir = pro_fhir(personas.unrelated_pro)
    response = fhir.get(f"AllergyIntolerance/{item.pk}")
    assert response.status_code == 404, response.content
    assert outcome(response)["code"] == "not-found"
    assert fhir.get("AllergyIntolerance", patient=pid).json()["total"] == 0
    assert fhir.get("Observation", patient=pid).json()["total"] == 0
    assert fhir.post("Immunization", resource_of("vaccination", pid)).status_code == 404
    assert fhir.get("Condition").status_code == 400  # a professional names the patient
    assert ProfileItem.objects.count() == 1
    refusals = AuditEvent.objects.filter(
        patient_id=pid, actor_kind="professional", outcome="denied"
    ).values_list("action", flat=True)
    assert {"profile:item:read", "profile:item:create"} <= set(refusals)


def _doctor_in_care_team(holder, personas, pid):
    access.authorise_professional(holder, patient_id=pid, professional_id=str(personas.doctor.pk))


@pytest.mark.parametrize(
    ("resource_type", "key"),
    [
        ("Immunization", "vaccination"),
        ("AllergyIntolerance", "allergie"),
        ("MedicationStatement", "traitement"),
        ("Condition", "maladie"),
        ("Procedure", "hospitalisation"),
        ("FamilyMemberHistory", "antecedent-familial"),
    ],
)
def test_a_professional_with_access_completes_the_profile(
    pro_fhir, personas, holder, pid, portal, resource_type, key
):
    section = kinds.get_kind(key).section
    _doctor_in_care_team(holder, personas, pid)
    fhir = pro_fhir(personas.doctor)
    created = fhir.post(resource_type, resource_of(key, pid))
    assert created.status_code == 201, created.content
    item = ProfileItem.objects.get(pk=created.json()["id"])
    assert (item.author_kind, item.author_id) == (AuthorKind.PROFESSIONAL, str(personas.doctor.pk))
    assert fhir.get(f"{resource_type}/{item.pk}").status_code == 200
    page = portal.get(reverse("portal:profile_section", args=[section])).content.decode()
    assert f"Ajouté par {personas.doctor}" in page


def test_a_professional_may_not_write_the_holders_own_sections(pro_fhir, personas, holder, pid):
    _doctor_in_care_team(holder, personas, pid)
    response = pro_fhir(personas.doctor).post("Observation", resource_of("tabac", pid))
    assert response.status_code in {403, 404}
    assert not ProfileItem.objects.exists()


def test_a_professional_does_not_see_what_the_holder_hid(pro_fhir, personas, holder, pid):
    _doctor_in_care_team(holder, personas, pid)
    shown = services.create_item(holder, patient_id=pid, kind="allergie", data=ITEMS["allergie"][0])
    hidden = services.create_item(holder, patient_id=pid, kind="maladie", data=ITEMS["maladie"][0])
    services.set_item_hidden(holder, str(hidden.pk), hidden=True)
    fhir = pro_fhir(personas.doctor)
    assert fhir.get(f"AllergyIntolerance/{shown.pk}").status_code == 200
    assert fhir.get(f"Condition/{hidden.pk}").status_code == 404
    assert fhir.get("Condition", patient=pid).json()["total"] == 0


def _claim(pid, claim_id="2025-000123", act="Consultation de médecine générale"):
    return services.care_history_resource(
        claim_id=claim_id,
        patient_id=pid,
        date=dt.date(2025, 2, 3),
        act=act,
        provider="Dr Véronique Traitant",
        amount=Decimal("26.50"),
    )


def test_the_insurer_feeds_the_care_history_idempotently(insurer_fhir, personas, pid, portal):
    created = insurer_fhir.post("ExplanationOfBenefit", _claim(pid))
    assert created.status_code == 201, created.content
    again = insurer_fhir.post("ExplanationOfBenefit", _claim(pid, act="Consultation (G)"))
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == "2"
    item = ProfileItem.objects.get()
    assert item.author_kind == AuthorKind.SYSTEM
    assert item.title == "Consultation (G)"
    page = portal.get(reverse("portal:profile_section", args=["historique-soins"])).content.decode()
    assert "Consultation (G)" in page
    assert "26,50 €" in page


def test_care_history_entries_are_read_only_for_the_holder(portal, personas, holder, pid):
    # Given an entry the insurer's feed stored (written directly: the feed's policy rule is the
    # access owners' to add).
    kind = kinds.get_kind("soin")
    resource = items.validate_resource(_claim(pid))
    now = clock.now()
    item = ProfileItem.objects.create(
        patient=personas.patient,
        section="historique-soins",
        kind="soin",
        resource_type="ExplanationOfBenefit",
        resource=resource,
        title=items.title(kind, resource),
        date=items.item_date(kind, resource),
        author_kind=AuthorKind.SYSTEM,
        author_id="issuer:1",
        author_label="Assurance Maladie",
        external_id="urn:carnet:assurance-maladie:remboursement|2025-000123",
        created_at=now,
        updated_at=now,
    )
    page = portal.get(reverse("portal:profile_section", args=["historique-soins"])).content.decode()
    assert "Consultation de médecine générale" in page
    assert "Ajouté par Assurance Maladie" in page
    assert reverse("portal:profile_item_edit", args=[item.pk]) not in page
    assert portal.post(reverse("portal:profile_item_edit", args=[item.pk]), {}).status_code == 400
    services.set_item_hidden(holder, str(item.pk), hidden=True)
    response = portal.put(
        f"/fhir/R4/ExplanationOfBenefit/{item.pk}", "{}", content_type="application/fhir+json"
    )
    assert response.status_code == 405
