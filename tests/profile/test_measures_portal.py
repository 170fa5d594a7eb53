"""Health measures in the portal: every measure of the guide entered through its page (valid,
implausible, wrong unit, converted unit), its chart and accessible table, the htmx fragment,
the last value on the card, and deletion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from carnet.core import clock
from carnet.profile import measures
from carnet.profile.models import Measure, MeasureSource

pytestmark = pytest.mark.django_db

DAY = "2025-03-09"

# measure → (valid form values, stored canonical values, an implausible form)
CASES = {
    "body-weight": (
        {"value": "72,5", "unit": "kg"},
        {"value": "72.500"},
        {"value": "725", "unit": "kg"},
    ),
    "body-height": ({"value": "176"}, {"value": "176.0"}, {"value": "17,6"}),
    "head-circumference": ({"value": "35,5"}, {"value": "35.5"}, {"value": "3"}),
    "waist-circumference": ({"value": "88"}, {"value": "88.0"}, {"value": "880"}),
    "heart-rate": ({"value": "62"}, {"value": "62"}, {"value": "0"}),
    "blood-pressure": (
        {"systolic": "128", "diastolic": "82"},
        {"systolic": "128", "diastolic": "82"},
        {"systolic": "128", "diastolic": "282"},
    ),
    "body-temperature": ({"value": "37,8"}, {"value": "37.8"}, {"value": "378"}),
    "glucose": ({"value": "95", "moment": "53049-3"}, {"value": "95"}, {"value": "9500"}),
    "steps": ({"value": "10 500"}, {"value": "10500"}, {"value": "250000"}),
    "pain": ({"value": "4"}, {"value": "4.0"}, {"value": "11"}),
    "oxygen-saturation": ({"value": "97"}, {"value": "97.0"}, {"value": "30"}),
    "respiratory-rate": ({"value": "16"}, {"value": "16"}, {"value": "150"}),
    "hba1c": ({"value": "6,8"}, {"value": "6.8"}, {"value": "68"}),
}
# measure → (value typed, unit chosen, stored canonical value)
CONVERTED = {
    "body-weight": ("72500", "g", "72.500"),
    "body-height": ("1,76", "m", "176.0"),
    "head-circumference": ("355", "mm", "35.5"),
    "waist-circumference": ("0,88", "m", "88.0"),
    "body-temperature": ("100,4", "[degF]", "38.0"),
    "glucose": ("1,12", "g/L", "112"),
    "hba1c": ("53", "mmol/mol", "7.0"),
}


def _url(key):
    return reverse("portal:profile_measure", args=[key])


def _post(portal, key, values, **extra):
    return portal.post(_url(key), {"date": DAY, **values}, **extra)


def test_every_writable_measure_has_a_case():
    writable = {k for k, d in measures.catalogue().items() if d.writable}
    assert set(CASES) == writable
    multi_unit = {k for k in writable if len(measures.get_measure(k).listed_units) > 1}
    assert set(CONVERTED) == multi_unit


@pytest.mark.parametrize("key", sorted(CASES))
def test_a_valid_measure_is_stored_charted_and_tabled(portal, personas, key):
    form, stored, _bad = CASES[key]
    response = _post(portal, key, form)
    assert response.status_code == 302
    row = Measure.objects.get(patient=personas.patient, key=key)
    assert row.values == stored
    assert row.unit == measures.get_measure(key).ucum
    assert row.source == MeasureSource.HOLDER
    assert row.effective == DAY
    page = portal.get(_url(key)).content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page
    assert 'role="img"' in page
    assert "<table" in page
    assert '<time datetime="2025-03-09">9 mars 2025</time>' in page
    assert "Dernière valeur" in page


@pytest.mark.parametrize("key", sorted(CASES))
def test_an_implausible_measure_is_refused_in_french_and_the_input_kept(portal, personas, key):
    _form, _stored, bad = CASES[key]
    response = _post(portal, key, bad)
    assert response.status_code == 400
    page = response.content.decode()
    assert "n&#x27;est pas plausible" in page or "doit être supérieure" in page
    assert 'role="alert"' in page
    for value in bad.values():
        assert f'value="{value}"' in page
    assert not Measure.objects.filter(patient=personas.patient).exists()


@pytest.mark.parametrize("key", sorted(CASES))
def test_a_unit_the_guide_does_not_accept_is_refused(portal, personas, key):
    form, _stored, _bad = CASES[key]
    response = _post(portal, key, {**form, "unit": "lb"})
    assert response.status_code == 400
    assert "Unité « lb » non acceptée" in response.content.decode()
    assert 'href="#id_unit"' in response.content.decode()
    assert not Measure.objects.exists()


@pytest.mark.parametrize("key", sorted(CONVERTED))
def test_a_measure_in_another_unit_is_converted_and_its_original_kept(portal, personas, key):
    typed, unit, canonical = CONVERTED[key]
    assert _post(portal, key, {"value": typed, "unit": unit}).status_code == 302
    row = Measure.objects.get(patient=personas.patient, key=key)
    assert row.values == {"value": canonical}
    assert row.original_unit == unit
    assert Decimal(row.original_value) == Decimal(typed.replace(",", "."))
    page = portal.get(_url(key)).content.decode()
    assert "saisi :" in page


def test_a_glucose_moment_and_a_time_are_kept(portal, personas):
    _post(portal, "glucose", {"value": "1,05", "unit": "g/L", "time": "07:45", "moment": "53049-3"})
    row = Measure.objects.get(patient=personas.patient)
    assert row.moment == "53049-3"
    assert row.effective == "2025-03-09T07:45:00+01:00"
    assert "À jeun" in portal.get(_url("glucose")).content.decode()


def test_date_errors_are_french(portal, personas):
    future = (clock.today() + dt.timedelta(days=3)).isoformat()
    response = portal.post(_url("body-weight"), {"value": "70", "date": future})
    assert "ne peut pas être dans le futur" in response.content.decode()
    response = portal.post(_url("body-weight"), {"value": "70", "date": "hier"})
    assert response.status_code == 400
    assert "Date non reconnue" in response.content.decode()
    assert not Measure.objects.exists()


def test_htmx_entry_answers_the_panel_with_the_new_point(portal, personas):
    response = _post(portal, "body-weight", {"value": "71"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="measure-panel"')
    assert "Mesure enregistrée." in fragment
    assert "<!DOCTYPE" not in fragment
    assert "71\u00a0kg" in fragment
    # htmx swaps only 2xx answers: the refusal comes back as the panel with its error.
    error = _post(portal, "body-weight", {"value": "7100"}, HTTP_HX_REQUEST="true")
    assert error.status_code == 200
    panel = error.content.decode()
    assert panel.lstrip().startswith('<div id="measure-panel"')
    assert 'role="alert"' in panel
    assert "n&#x27;est pas plausible" in panel
    assert Measure.objects.count() == 1


def test_three_weights_make_a_line_and_the_last_one_is_on_the_card(portal, personas):
    for day, value in (("2025-01-05", "74"), ("2025-02-05", "73,2"), ("2025-03-05", "72,4")):
        portal.post(_url("body-weight"), {"value": value, "date": day})
    _post(portal, "body-height", {"value": "170"})
    page = portal.get(_url("body-weight")).content.decode()
    assert "<polyline" in page
    assert page.count('class="point"') == 3
    card = portal.get(reverse("portal:profile")).content.decode()
    assert "72,4\u00a0kg" in card
    assert "170\u00a0cm" in card
    assert "25,1\u00a0kg/m²" in card  # 72,4 / 1,70² = 25,05…
    tiles = portal.get(reverse("portal:profile_measures")).content.decode()
    assert "72,4\u00a0kg" in tiles
    assert "5 mars 2025" in tiles


def test_deleting_a_measure(portal, personas):
    _post(portal, "heart-rate", {"value": "60"})
    row = Measure.objects.get(patient=personas.patient)
    url = reverse("portal:profile_measure_delete", args=["heart-rate", row.pk])
    assert portal.post(url).status_code == 302
    assert not Measure.objects.exists()


def test_another_holders_measure_cannot_be_deleted(portal, logged_in_client, personas):
    other = logged_in_client(personas.other_patient.user)
    other.post(_url("heart-rate"), {"value": "60", "date": DAY})
    row = Measure.objects.get()
    mine = logged_in_client(personas.patient.user)
    url = reverse("portal:profile_measure_delete", args=["heart-rate", row.pk])
    assert mine.post(url).status_code == 404
    assert Measure.objects.filter(pk=row.pk).exists()


def test_the_computed_bmi_has_no_entry_page(portal):
    assert portal.get(_url("bmi")).status_code == 404
    assert portal.get(_url("inconnue")).status_code == 404


def test_blood_pressure_has_two_labelled_fields_in_a_fieldset(portal):
    page = portal.get(_url("blood-pressure")).content.decode()
    assert "<legend>Pression artérielle (en mmHg)</legend>" in page
    assert '<label for="id_systolic">Systolique</label>' in page
    assert '<label for="id_diastolic">Diastolique</label>' in page
