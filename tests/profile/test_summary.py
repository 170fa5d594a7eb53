"""The summary card and completeness: the seed's card (age, weight, height, smoker, blood group,
emergency contact, médecin traitant) and a percentage per section and overall."""

from __future__ import annotations

import datetime as dt

import pytest

from carnet.profile import sections, services, summary
from carnet.profile.sections import BY_SLUG
from tests.profile.samples import ITEMS

pytestmark = pytest.mark.django_db


def test_completeness_of_each_kind_of_section():
    allergies = BY_SLUG["allergies"]
    assert summary.section_status(allergies, set(), 0, False).percent == 0
    assert summary.section_status(allergies, {"allergie"}, 2, False).percent == 100
    nothing = summary.section_status(allergies, {"aucune-allergie"}, 1, True)
    assert (nothing.percent, nothing.text, nothing.complete) == (100, "Rien à signaler", True)

    habits = BY_SLUG["habitudes-de-vie"]
    two = summary.section_status(habits, {"tabac", "alcool"}, 2, False)
    assert (two.filled, two.expected, two.percent) == (2, 5, 40)
    assert two.text == "2 éléments renseignés"
    measures = BY_SLUG["mesures"]
    assert (
        summary.section_status(
            measures, {"measure:body-weight", "measure:body-height"}, 9, False
        ).percent
        == 67
    )
    everything = summary.section_status(
        measures, {"measure:body-weight", "measure:body-height", "groupe-sanguin"}, 3, False
    )
    assert everything.text == "Tous les éléments renseignés"
    history = summary.section_status(BY_SLUG["historique-soins"], {"soin"}, 4, False)
    assert history.percent is None


def test_overall_is_the_rounded_mean_of_the_counted_sections():
    statuses = [summary.section_status(s, set(), 0, False) for s in sections.SECTIONS]
    assert summary.overall(statuses) == 0
    counted = [s for s in sections.SECTIONS if s.counted]
    assert len(counted) == 10
    assert {s.slug for s in sections.SECTIONS if not s.counted} == {
        "historique-soins",
        "pieces-administratives",
    }


@pytest.mark.parametrize(
    ("birth", "today", "expected"),
    [
        (dt.date(1962, 6, 4), dt.date(2021, 6, 3), "58 ans"),
        (dt.date(1962, 6, 4), dt.date(2021, 6, 4), "59 ans"),
        (dt.date(2024, 1, 15), dt.date(2024, 9, 14), "7 mois"),
        (dt.date(2023, 1, 15), dt.date(2025, 1, 15), "2 ans"),
        (dt.date(2024, 1, 15), dt.date(2024, 1, 20), "0 mois"),
    ],
)
def test_age_in_years_then_months_for_infants(birth, today, expected):
    assert summary.age_text(birth, today) == expected


def test_the_card_and_the_percentages(holder, pid):
    for kind in (
        "tabac",
        "groupe-sanguin",
        "professionnel",
        "contact-urgence",
        "personne-confiance",
    ):
        services.create_item(holder, patient_id=pid, kind=kind, data=ITEMS[kind][0])
    services.create_item(holder, patient_id=pid, kind="aucune-allergie", data={})
    services.add_measure(
        holder, patient_id=pid, key="body-weight", value="56", at=dt.date(2025, 1, 5)
    )
    services.add_measure(
        holder, patient_id=pid, key="body-height", value="155", at=dt.date(2025, 1, 5)
    )

    overview = summary.profile_overview(holder, patient_id=pid)
    card = overview.card
    assert card.name == "Dominique PAT-TROIS"
    assert card.age.endswith("ans")
    assert (card.weight, card.height, card.bmi) == ("56\u00a0kg", "155\u00a0cm", "23,3\u00a0kg/m²")
    assert card.smoker == "Fumeur"
    assert card.blood_group == "O+"
    assert card.emergency_contact == summary.Contact("Soizic Leguellec", "fille", "06 83 05 48 98")
    assert card.medecin_traitant == "Dr Véronique Traitant"
    by_slug = {s.section.slug: s for s in overview.sections}
    assert by_slug["habitudes-de-vie"].percent == 20
    assert by_slug["mesures"].percent == 100
    assert by_slug["professionnels"].percent == 100
    assert by_slug["entourage"].percent == 50
    assert by_slug["allergies"].text == "Rien à signaler"
    # (20 + 100 + 100 + 50 + 100) / 10 counted sections
    assert overview.completeness == 37
    weight = next(m for m in overview.latest if m.definition.key == "body-weight")
    assert (weight.text, weight.count) == ("56\u00a0kg", 1)


def test_a_professional_not_flagged_as_medecin_traitant_does_not_complete_the_section(holder, pid):
    data = dict(ITEMS["professionnel"][0], medecin_traitant="")
    services.create_item(holder, patient_id=pid, kind="professionnel", data=data)
    overview = summary.profile_overview(holder, patient_id=pid)
    assert overview.card.medecin_traitant == ""
    assert {s.section.slug: s.percent for s in overview.sections}["professionnels"] == 0


def test_a_former_smoker_is_a_non_smoker(holder, pid):
    services.create_item(holder, patient_id=pid, kind="tabac", data={"status": "8517006"})
    assert summary.profile_overview(holder, patient_id=pid).card.smoker == "Non fumeur"


def test_the_medecin_traitant_is_listed_first(holder, pid):
    services.create_item(
        holder,
        patient_id=pid,
        kind="professionnel",
        data={"name": "Kiné Alice", "specialty": "kinésithérapeute"},
    )
    services.create_item(
        holder, patient_id=pid, kind="professionnel", data=ITEMS["professionnel"][0]
    )
    listed = services.list_items(holder, patient_id=pid, section="professionnels")
    assert [item.title for item in listed] == ["Dr Véronique Traitant", "Kiné Alice"]


def test_another_holder_cannot_read_the_summary(other_holder, pid):
    from carnet.core.errors import NotFound

    with pytest.raises(NotFound):
        summary.profile_overview(other_holder, patient_id=pid)
    with pytest.raises(NotFound):
        summary.measure_series(other_holder, patient_id=pid, key="body-weight")
