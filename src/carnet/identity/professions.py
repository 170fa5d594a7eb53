"""Professions (TRE_G15, students TRE_G16), pharmacists' sections (G05) and author specialties
(JDV_J01), read once from the copies in `identity/data/` (see its `SOURCES.md`).

These tables say what a professional *is*; they are the keys of the DMP authorisation matrix (annex
of the DMP decree, by profession and specialty) and the values carried by professional tokens and by
a document's `authorSpecialty`. Lookups return `None` for an unknown code: whether that is an error
depends on the caller."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

OID_PROFESSION_G15 = "1.2.250.1.71.1.2.7"
OID_AUTHOR_SPECIALTY = "1.2.250.1.213.1.1.4.5"  # TRE_A02, the system of the G15_xx J01 codes

PROFESSION_MEDECIN = "10"
PROFESSION_PHARMACIEN = "21"

_G15_TABLE = "TRE_G15-ProfessionSante"
_J01_PROFESSION_CODE = re.compile(r"^G1(?P<table>[56])_(?P<profession>\d{2})(?:/(?P<detail>.+))?$")


@dataclass(frozen=True, slots=True)
class Profession:
    """A health profession; `author_specialty` is its J01 code (`G15_10`; `G16_10` in training)."""

    code: str
    display: str
    in_training: bool
    author_specialty: str


@dataclass(frozen=True, slots=True)
class PharmacistSection:
    """A section of the Ordre des pharmaciens (A officine, G biologiste, H établissement…)."""

    code: str
    display: str

    @property
    def author_specialty(self) -> str:
        return f"G15_{PROFESSION_PHARMACIEN}/{self.code}"


@dataclass(frozen=True, slots=True)
class Specialty:
    """A JDV_J01 author specialty.

    For codes of the form `G15_<profession>[/<detail>]` (or `G16_…` for students), `profession`
    is the G15 code and `detail` the savoir-faire (SM26, SCD01, a pharmacist's section…); both are
    `None` for non-professional authors (`EXP_PATIENT`, `DISPOSITIF`…) and J48 roles.
    """

    code: str
    display: str
    system_oid: str
    profession: str | None
    detail: str | None
    in_training: bool


def _read_rows(name: str) -> list[dict[str, str]]:
    text = (files("carnet.identity") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@cache
def _professions() -> dict[tuple[str, bool], Profession]:
    table: dict[tuple[str, bool], Profession] = {}
    for row in _read_rows("professions-g15.csv"):
        in_training = row["table"] != _G15_TABLE
        table[(row["code"], in_training)] = Profession(
            code=row["code"],
            display=row["display"],
            in_training=in_training,
            author_specialty=row["cisis_author_specialty_code"],
        )
    return table


@cache
def _pharmacist_sections() -> dict[str, PharmacistSection]:
    return {
        row["section_code"]: PharmacistSection(row["section_code"], row["display_in_J01"])
        for row in _read_rows("pharmacist-sections-g05.csv")
    }


@cache
def _specialties() -> dict[str, Specialty]:
    table: dict[str, Specialty] = {}
    for row in _read_rows("author-specialty.csv"):
        match = _J01_PROFESSION_CODE.match(row["code"])
        table[row["code"]] = Specialty(
            code=row["code"],
            display=row["display"],
            system_oid=row["system_oid"],
            profession=match["profession"] if match else None,
            detail=match["detail"] if match else None,
            in_training=match is not None and match["table"] == "6",
        )
    return table


def profession(code: str, *, in_training: bool = False) -> Profession | None:
    """The G15 profession with this code (G16 "en formation" when `in_training`), or None."""
    return _professions().get((code, in_training))


def professions(*, in_training: bool = False) -> tuple[Profession, ...]:
    """All G15 professions (or all G16 student professions), in table order."""
    return tuple(p for p in _professions().values() if p.in_training == in_training)


def is_known_profession(code: str) -> bool:
    """Whether `code` is a G15 health profession (students are not professions of their own)."""
    return (code, False) in _professions()


def pharmacist_section(code: str) -> PharmacistSection | None:
    """The pharmacists' section (table G05) with this code, or None."""
    return _pharmacist_sections().get(code)


def specialty(code: str) -> Specialty | None:
    """The JDV_J01 author specialty with this code (`G15_10/SM26`, `G15_60`, `EXP_PATIENT`…)."""
    return _specialties().get(code)


def specialty_fits_profession(specialty_code: str, profession_code: str) -> bool:
    """Whether a known J01 specialty belongs to this (non-student) G15 profession."""
    found = specialty(specialty_code)
    return (
        found is not None
        and found.system_oid == OID_AUTHOR_SPECIALTY
        and not found.in_training
        and found.profession == profession_code
    )
