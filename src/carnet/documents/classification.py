"""Document terminology and classification, driven by the CSV tables in `data/`.

A document's class is never chosen: it follows from its type code (ASS_X04, `document-types.csv`).
Where the holder and the professional see a document follows from `categories.csv`: a type row
wins over its class row, so a new type code, or a new decision about one, is a data change.
Everything the holder deposits lands in the professional's "Espace personnel", whatever its type.
The tables are read once per process; `data/SOURCES.md` says where each comes from and which rows
are our decisions.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from carnet.core.errors import InvalidInput

PERSONAL_SPACE = "espace-personnel"


class UnknownDocumentType(InvalidInput):
    code = "unknown-document-type"


class UnknownCategory(InvalidInput):
    code = "unknown-category"


@dataclass(frozen=True, slots=True)
class DocumentClass:
    code: str
    display: str
    system_oid: str
    in_dmp: bool


@dataclass(frozen=True, slots=True)
class DocumentType:
    code: str
    system: str
    system_oid: str
    display: str
    class_code: str | None
    class_display: str | None
    in_dmp: bool


@dataclass(frozen=True, slots=True)
class FormatCode:
    code: str
    system: str
    system_oid: str
    display: str
    in_dmp: bool


@dataclass(frozen=True, slots=True)
class ConfidentialityCode:
    code: str
    system: str
    system_oid: str
    display: str
    in_dmp: bool


@dataclass(frozen=True, slots=True)
class HolderCategory:
    """One of the holder's 10 document categories; `upload_type` is the type of a holder upload."""

    slug: str
    label: str
    position: int
    upload_type: str


@dataclass(frozen=True, slots=True)
class DmpSpace:
    """One of the professional's 9 DMP spaces."""

    slug: str
    label: str
    position: int


@dataclass(frozen=True, slots=True)
class Classification:
    holder_category: HolderCategory
    dmp_space: DmpSpace
    class_code: str | None


@dataclass(frozen=True, slots=True)
class _Rule:
    holder_category: str
    dmp_space: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("carnet.documents").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _yes(value: str) -> bool:
    return value.strip().lower() == "yes"


@lru_cache(maxsize=1)
def _types() -> Mapping[str, DocumentType]:
    return {
        row["code"]: DocumentType(
            code=row["code"],
            system=row["system"],
            system_oid=row["system_oid"],
            display=row["display"],
            class_code=row["class_code"] or None,
            class_display=row["class_display"] or None,
            in_dmp=_yes(row["in_JDV_J66_TypeCode_DMP"]),
        )
        for row in _rows("document-types.csv")
    }


@lru_cache(maxsize=1)
def _classes() -> Mapping[str, DocumentClass]:
    return {
        row["code"]: DocumentClass(
            code=row["code"],
            display=row["display"],
            system_oid=row["system_oid"],
            in_dmp=_yes(row["in_JDV_J57_ClassCode_DMP_inferred"]),
        )
        for row in _rows("class-codes.csv")
    }


@lru_cache(maxsize=1)
def _format_codes() -> Mapping[str, FormatCode]:
    return {
        row["code"]: FormatCode(
            code=row["code"],
            system=row["system"],
            system_oid=row["system_oid"],
            display=row["display"],
            in_dmp=_yes(row["in_JDV_J60_FormatCode_DMP"]),
        )
        for row in _rows("format-codes.csv")
    }


@lru_cache(maxsize=1)
def _confidentiality_codes() -> Mapping[str, ConfidentialityCode]:
    return {
        row["code"]: ConfidentialityCode(
            code=row["code"],
            system=row["system"],
            system_oid=row["system_oid"],
            display=row["display"],
            in_dmp="J58" in row["value_sets"],
        )
        for row in _rows("confidentiality-codes.csv")
    }


@lru_cache(maxsize=1)
def _holder_categories() -> tuple[HolderCategory, ...]:
    return tuple(
        HolderCategory(
            slug=row["slug"],
            label=row["label"],
            position=position,
            upload_type=row["holder_upload_type"],
        )
        for position, row in enumerate(_rows("holder-categories.csv"), start=1)
    )


@lru_cache(maxsize=1)
def _dmp_spaces() -> tuple[DmpSpace, ...]:
    return tuple(
        DmpSpace(slug=row["slug"], label=row["label"], position=position)
        for position, row in enumerate(_rows("dmp-spaces.csv"), start=1)
    )


@lru_cache(maxsize=1)
def _rules() -> tuple[Mapping[str, _Rule], Mapping[str, _Rule]]:
    """(rules by class code, rules by type code), checked against the other tables.

    A table that names an unknown category, space, class or type is a deployment error, so it
    fails loudly the first time anything is classified rather than misfiling documents.
    """
    categories = {category.slug for category in _holder_categories()}
    spaces = {space.slug for space in _dmp_spaces()}
    by_class: dict[str, _Rule] = {}
    by_type: dict[str, _Rule] = {}
    for row in _rows("categories.csv"):
        rule = _Rule(row["holder_category"], row["dmp_space"])
        if rule.holder_category not in categories or rule.dmp_space not in spaces:
            raise RuntimeError(f"categories.csv: unknown category or space in {row}")
        if row["rule"] == "class" and row["code"] in _classes():
            target = by_class
        elif row["rule"] == "type" and row["code"] in _types():
            target = by_type
        else:
            raise RuntimeError(f"categories.csv: unknown rule or code in {row}")
        if row["code"] in target:
            raise RuntimeError(f"categories.csv: duplicate rule for {row['code']}")
        target[row["code"]] = rule
    for category in _holder_categories():
        if category.upload_type not in _types():
            raise RuntimeError(f"holder-categories.csv: unknown upload type {category.upload_type}")
    return by_class, by_type


@lru_cache(maxsize=1)
def _cda_format_rules() -> tuple[Mapping[str, str], Mapping[str, str]]:
    """(format code by CDA model templateId, format code by N1 body media type)."""
    by_template: dict[str, str] = {}
    by_media_type: dict[str, str] = {}
    for row in _rows("cda-format-codes.csv"):
        target = by_template if row["source"] == "template" else by_media_type
        target[row["key"]] = row["format_code"]
    return by_template, by_media_type


def document_type(code: str) -> DocumentType | None:
    """The type (JDV_J07) with this code, or None when the terminology does not know it."""
    return _types().get(code)


def document_types() -> tuple[DocumentType, ...]:
    return tuple(_types().values())


def _known_type(code: str) -> DocumentType:
    found = _types().get(code)
    if found is None:
        raise UnknownDocumentType(
            f"Le type de document « {code} » est inconnu : il ne figure pas dans la liste "
            "des types de documents (JDV_J07).",
            field="typeCode",
        )
    return found


def is_dmp_type(code: str) -> bool:
    """Whether the DMP accepts this type code (JDV_J66); False for an unknown code."""
    found = _types().get(code)
    return found is not None and found.in_dmp


def class_for_type(code: str) -> DocumentClass | None:
    """The class derived from the type (ASS_X04); None when the table gives the type no class.

    Raises `UnknownDocumentType` for a code that is not in the terminology.
    """
    class_code = _known_type(code).class_code
    return None if class_code is None else _classes()[class_code]


def holder_categories() -> tuple[HolderCategory, ...]:
    """The holder's 10 categories, in display order."""
    return _holder_categories()


def dmp_spaces() -> tuple[DmpSpace, ...]:
    """The professional's 9 DMP spaces, in display order."""
    return _dmp_spaces()


def holder_category(slug: str) -> HolderCategory:
    for category in _holder_categories():
        if category.slug == slug:
            return category
    raise UnknownCategory(f"La catégorie de documents « {slug} » n'existe pas.", field="category")


def dmp_space(slug: str) -> DmpSpace:
    for space in _dmp_spaces():
        if space.slug == slug:
            return space
    raise UnknownCategory(f"L'espace du DMP « {slug} » n'existe pas.", field="space")


def classify(type_code: str, *, deposited_by_holder: bool) -> Classification:
    """Where a document of this type is shown to the holder and to professionals.

    Raises `UnknownDocumentType` when the code is not in the terminology: an unknown type must be
    refused at deposit rather than filed under a guess.
    """
    found = _known_type(type_code)
    by_class, by_type = _rules()
    rule = by_type.get(type_code)
    if rule is None and found.class_code is not None:
        rule = by_class.get(found.class_code)
    if rule is None:
        raise RuntimeError(f"categories.csv: no rule classifies the type {type_code}")
    space = PERSONAL_SPACE if deposited_by_holder else rule.dmp_space
    return Classification(
        holder_category=holder_category(rule.holder_category),
        dmp_space=dmp_space(space),
        class_code=found.class_code,
    )


def type_for_holder_upload(category_slug: str) -> str:
    """The type code given to a file the holder uploads into this category (DOCPATxx…)."""
    return holder_category(category_slug).upload_type


def format_code(code: str) -> FormatCode | None:
    """The format code (JDV_J10, DMP flag from JDV_J60), or None when unknown."""
    return _format_codes().get(code)


def confidentiality_code(code: str) -> ConfidentialityCode | None:
    """The confidentiality or visibility code (JDV_J08, DMP flag from JDV_J58), or None."""
    return _confidentiality_codes().get(code)


def cda_model_format_code(template_roots: Iterable[str]) -> str | None:
    """The formatCode of a structured (N3) CDA from its templateIds (ASS_A11), or None.

    Documents declare generic templates (IHE, HL7 France) beside their CI-SIS model; when the
    matches disagree the CI-SIS model (OIDs under 1.2.250.1.213) is the most specific one.
    """
    by_template, _ = _cda_format_rules()
    matches = [(root, by_template[root]) for root in template_roots if root in by_template]
    french = [code for root, code in matches if root.startswith("1.2.250.1.213.")]
    if french:
        return french[0]
    return matches[0][1] if matches else None


def nonxml_format_code(media_type: str) -> str | None:
    """The formatCode of an unstructured (N1) CDA from its body media type (ASS_A12), or None."""
    _, by_media_type = _cda_format_rules()
    return by_media_type.get(media_type.strip().lower())


def nonxml_media_types() -> frozenset[str]:
    """Media types accepted in an N1 body: those ASS_A12 gives a format code."""
    _, by_media_type = _cda_format_rules()
    return frozenset(by_media_type)
