"""Profile items as FHIR resources (`profile.items`, `profile.kinds`): every kind builds a valid
R4 resource from its French form, reads back the same values, is recognised from its resource,
and refuses bad input with a French message naming the field."""

from __future__ import annotations

import copy
import datetime as dt
import importlib

import pytest

from carnet.profile import items, kinds, sections
from carnet.profile.items import InvalidItem
from tests.profile.samples import INVALID, ITEMS

TODAY = dt.date(2026, 11, 22)
PATIENT = "Patient/0f8fad5b-d9cb-469f-a165-70867728950e"


def _build(key, data, base=None):
    kind = kinds.get_kind(key)
    cleaned = items.clean_data(kind, data, today=TODAY)
    return items.build_resource(kind, cleaned, base=base, patient_reference=PATIENT, today=TODAY)


def _validated(resource):
    module = importlib.import_module(f"fhir.resources.R4B.{resource['resourceType'].lower()}")
    return getattr(module, resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("key", sorted(ITEMS))
def test_each_kind_builds_a_valid_resource_and_reads_it_back(key):
    added, _corrected, _title = ITEMS[key]
    kind = kinds.get_kind(key)
    resource = _build(key, added)
    _validated(resource)
    assert resource[items.PATIENT_PATHS[kind.resource_type]] == {"reference": PATIENT}
    assert kinds.kind_for_resource(resource) is kind
    back = items.form_data(kind, resource)
    for name, value in added.items():
        assert back[name] == value, name


@pytest.mark.parametrize("key", sorted(ITEMS))
def test_correcting_an_item_changes_only_what_the_form_shows(key):
    added, corrected, title = ITEMS[key]
    kind = kinds.get_kind(key)
    resource = _build(key, added)
    # A professional's software sent an element the form does not show: it survives the edit.
    resource["identifier"] = [{"system": "urn:oid:1.2.3", "value": "sent-by-software"}]
    after = _build(key, corrected, base=resource)
    assert after["identifier"] == resource["identifier"]
    assert items.title(kind, after) == title
    back = items.form_data(kind, after)
    for name, value in corrected.items():
        assert back[name] == value, name
    # A field emptied by the correction is gone from the resource.
    for name in set(added) - set(corrected):
        spec = kind.field(name)
        if spec is not None and spec.target != "bool":
            assert back.get(name, "") == "", name


@pytest.mark.parametrize("key", sorted(INVALID))
def test_bad_input_names_the_field_in_french(key):
    field, data = INVALID[key]
    with pytest.raises(InvalidItem) as caught:
        items.clean_data(kinds.get_kind(key), data, today=TODAY)
    assert field in caught.value.errors
    label = kinds.get_kind(key).field(field).label
    assert caught.value.errors[field].startswith(label)


def test_every_error_of_a_form_is_reported_at_once():
    with pytest.raises(InvalidItem) as caught:
        items.clean_data(
            kinds.get_kind("vaccination"), {"vaccine": "", "date": "32/13/2020"}, today=TODAY
        )
    assert set(caught.value.errors) == {"vaccine", "date"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015", "2015"),
        ("03/2015", "2015-03"),
        ("3/2015", "2015-03"),
        ("14/03/2015", "2015-03-14"),
        ("14.03.2015", "2015-03-14"),
        ("2015-03-14", "2015-03-14"),
        ("2015-03", "2015-03"),
        ("31/02/2015", None),
        ("13/2015", None),
        ("hier", None),
        ("", None),
    ],
)
def test_partial_dates_in_french_notation(text, expected):
    assert items.parse_partial_date(text) == expected


def test_dates_in_the_future_are_refused_except_for_validity_ends():
    with pytest.raises(InvalidItem) as caught:
        items.clean_data(
            kinds.get_kind("maladie"),
            {"name": "X", "status": "active", "onset": "2030"},
            today=TODAY,
        )
    assert "futur" in caught.value.errors["onset"]
    cleaned = items.clean_data(
        kinds.get_kind("piece-administrative"),
        {"type": "complementaire", "payor": "MGEN", "end": "31/12/2030"},
        today=TODAY,
    )
    assert cleaned["end"] == "2030-12-31"


def test_vaccines_come_from_the_national_list_coded_in_atc():
    choices = kinds.vaccine_choices()
    codes = {choice.code for choice in choices}
    assert {"J07CA09", "J07BD52", "J07AH09", "J07AH08", "J07AL02", "J07BB", "J07BN"} <= codes
    assert len(codes) == len(choices)
    assert all(choice.system == items.ATC and choice.code.startswith("J07") for choice in choices)
    resource = _build("vaccination", {"vaccine": "J07BD52", "date": "2019"})
    assert resource["vaccineCode"]["coding"][0] == {
        "system": items.ATC,
        "code": "J07BD52",
        "display": "measles, combinations with mumps and rubella, live attenuated",
    }
    assert resource["vaccineCode"]["text"] == "ROR (rougeole-oreillons-rubéole)"


def test_a_vaccine_outside_the_list_is_free_text():
    resource = _build("vaccination", {"vaccine_other": "Vaccin contre la dengue", "date": "2024"})
    assert resource["vaccineCode"] == {"text": "Vaccin contre la dengue"}
    assert items.title(kinds.get_kind("vaccination"), resource) == "Vaccin contre la dengue"


def test_correcting_a_coded_vaccine_keeps_the_other_codes():
    resource = _build("vaccination", {"vaccine": "J07BB", "date": "2025"})
    resource["vaccineCode"]["coding"].append(
        {"system": "urn:oid:1.2.250.1.213.2.3.1", "code": "61077869"}
    )
    after = _build("vaccination", {"vaccine": "J07BN", "date": "2025"}, base=resource)
    systems = [c["system"] for c in after["vaccineCode"]["coding"]]
    assert systems == [items.ATC, "urn:oid:1.2.250.1.213.2.3.1"]
    assert after["vaccineCode"]["coding"][0]["code"] == "J07BN"


def test_nothing_to_report_items_use_the_ips_absent_codes():
    for section in sections.SECTIONS:
        for kind in kinds.kinds_of(section.slug):
            if not kind.none_of:
                continue
            resource = _build(kind.key, {})
            _validated(resource)
            assert items.IPS_ABSENT in str(resource)
            assert kinds.kind_for_resource(resource) is kind
            assert section.completeness == "list"


def test_smoking_status_is_coded_in_snomed_ct_under_its_loinc_question():
    resource = _build("tabac", {"status": "449868002"})
    assert resource["code"]["coding"][0]["code"] == "72166-2"
    assert resource["valueCodeableConcept"]["coding"][0]["system"] == items.SNOMED
    assert resource["effectiveDateTime"] == TODAY.isoformat()
    assert kinds.summary_label(resource, kinds.get_kind("tabac")) == "Je fume tous les jours"


def test_a_coded_professional_resource_shows_its_display_when_it_has_no_text():
    resource = {
        "resourceType": "Condition",
        "subject": {"reference": PATIENT},
        "code": {
            "coding": [
                {
                    "system": "http://snomed.info/sct",
                    "code": "44054006",
                    "display": "Diabète de type 2",
                }
            ]
        },
    }
    kind = kinds.kind_for_resource(resource)
    assert kind.key == "maladie"
    assert items.title(kind, resource) == "Diabète de type 2"
    assert items.form_data(kind, resource)["name"] == "Diabète de type 2"


def test_vital_sign_observations_are_measures_not_items():
    assert (
        kinds.kind_for_resource({"resourceType": "Observation", "code": {"text": "Poids"}}) is None
    )


def test_empty_elements_are_pruned_and_extensions_need_a_value():
    pruned = items.prune(
        {"a": "", "b": [], "c": {}, "d": [{"url": "x"}, {"url": "y", "valueString": "v"}], "e": 0}
    )
    assert pruned == {"d": [{"url": "y", "valueString": "v"}], "e": 0}


def test_malformed_fhir_is_refused_with_its_path():
    with pytest.raises(InvalidItem) as caught:
        items.validate_resource(
            {
                "resourceType": "Condition",
                "subject": {"reference": PATIENT},
                "onsetDateTime": "hier",
            }
        )
    assert caught.value.field.startswith("Condition.onsetDateTime")
    with pytest.raises(InvalidItem) as caught:
        items.validate_resource({"resourceType": "Basic"})
    assert caught.value.code == "not-supported"


def test_token_search_matches_system_and_code():
    resource = _build("allergie", {"substance": "Arachide", "category": "food"})
    paths = items.CATEGORY_PATHS["AllergyIntolerance"]
    assert items.token_matches(resource, paths, ["food"])
    assert not items.token_matches(resource, paths, ["medication"])
    coded = _build("tabac", {"status": "8517006"})
    assert items.token_matches(coded, ("code",), ["http://loinc.org|72166-2"])
    assert not items.token_matches(coded, ("code",), ["http://snomed.info/sct|72166-2"])
    assert items.token_matches(coded, ("code",), ["http://loinc.org|"])


def test_building_never_changes_the_template():
    kind = kinds.get_kind("maladie")
    before = copy.deepcopy(kind.template)
    _build("maladie", ITEMS["maladie"][0])
    assert kind.template == before
