"""Profession (G15/G16), pharmacist section (G05) and author specialty (J01) lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.identity import professions
from carnet.identity.professions import (
    Profession,
    is_known_profession,
    pharmacist_section,
    profession,
    specialty,
    specialty_fits_profession,
)
from tests.paths import REPO_ROOT, TERMINOLOGY_DIR, needs_reference_data

DATA_DIR = REPO_ROOT / "src" / "carnet" / "identity" / "data"
COPIED = ["professions-g15.csv", "pharmacist-sections-g05.csv", "author-specialty.csv"]


@needs_reference_data
@pytest.mark.parametrize("name", COPIED)
def test_packaged_copies_match_the_official_tables(name):
    official = TERMINOLOGY_DIR / name
    assert (DATA_DIR / name).read_bytes() == official.read_bytes()
    assert name in Path(DATA_DIR / "SOURCES.md").read_text(encoding="utf-8")


def test_profession_by_g15_code():
    assert profession("10") == Profession("10", "Médecin", False, "G15_10")
    nurse = profession("60")
    assert nurse is not None
    assert nurse.display == "Infirmier"
    assert profession("99") is None
    assert profession("G15_10") is None


def test_students_are_a_separate_table():
    student = profession("10", in_training=True)
    assert student is not None
    assert (student.display, student.author_specialty) == ("Médecin en formation", "G16_10")
    assert profession("60", in_training=True) is None
    assert [p.code for p in professions.professions(in_training=True)] == ["10", "21", "40", "50"]


def test_all_twenty_nine_g15_professions_are_known():
    codes = [p.code for p in professions.professions()]
    assert len(codes) == 29
    assert all(is_known_profession(code) for code in codes)
    assert not is_known_profession("93")  # psychologue: a J48 role, not a G15 profession
    assert not is_known_profession("")


def test_pharmacist_sections():
    section = pharmacist_section("G")
    assert section is not None
    assert section.display == "Pharmacien biologiste"
    assert section.author_specialty == "G15_21/G"
    assert pharmacist_section("Z") is None


def test_every_profession_and_section_has_its_j01_specialty():
    for item in professions.professions() + professions.professions(in_training=True):
        found = specialty(item.author_specialty)
        assert found is not None
        assert found.profession == item.code
    for code in ("A", "D", "G", "H", "M", "FQ01"):
        section = pharmacist_section(code)
        assert section is not None
        assert specialty(section.author_specialty) is not None


def test_specialty_splits_profession_and_savoir_faire():
    gp = specialty("G15_10/SM26")
    assert gp is not None
    assert (gp.profession, gp.detail, gp.in_training) == ("10", "SM26", False)
    assert gp.display.startswith("Médecin - ")
    patient = specialty("EXP_PATIENT")
    assert patient is not None
    assert (patient.profession, patient.detail, patient.system_oid) == (
        None,
        None,
        "1.2.250.1.213.1.1.4.6",
    )
    assert specialty("G15_10/SM999") is None


def test_specialty_fits_profession():
    assert specialty_fits_profession("G15_10/SM26", "10")
    assert specialty_fits_profession("G15_60", "60")
    assert specialty_fits_profession("G15_21/G", "21")
    assert not specialty_fits_profession("G15_40/SCD01", "10")
    assert not specialty_fits_profession("G16_10", "10")  # a student is not a médecin
    assert not specialty_fits_profession("93", "93")  # a J48 role code, not a specialty
    assert not specialty_fits_profession("G15_10/SM999", "10")
