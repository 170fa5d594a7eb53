"""Profile items ⇄ FHIR R4 resources: the machinery (fields, paths, validation, search matching).

Pure module (no models, no database). A *kind* of item (`kinds.py`) is a FHIR resource type, a
template (the fixed parts: category, code…), and the fields of its French form, each bound to a
path in the resource (`code.text`, `clinicalStatus.coding[0]`, `note[0].text`). The same
description serves the three directions:

- form → resource: `clean_data` checks the raw strings (French messages, per field) and
  `build_resource` writes them into a copy of the template, or *onto the existing resource* when
  the holder corrects an item, so that what a professional's software sent and the form does not
  show is kept;
- resource → form: `form_data` reads the fields back, for the edit form;
- resource → display: `title`, `details` and `item_date` for lists, cards and the PDF.

Every resource leaving `build_resource` or `validate_resource` has passed fhir.resources (R4B
models, used for R4) and a pruning of empty elements. Errors are `InvalidItem`, an `InvalidInput`
carrying one French message per field (the portal shows them all, the FHIR adapter the first).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pydantic import ValidationError

from carnet.core.errors import InvalidInput

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
ATC: Final = "http://www.whocc.no/atc"
CIM10: Final = "https://mos.esante.gouv.fr/NOS/TRE_R311-CIM10Atih/FHIR/TRE-R311-CIM10Atih"
IPS_ABSENT: Final = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips"
# Answer lists no public code system covers (alcohol habits, blood group as a text token, kinds
# of administrative papers…) are coded under these URNs [decision]; a public code is always
# preferred when one fits (SNOMED smoking status, LOINC questions, ATC vaccines).
CARNET_CODES: Final = "urn:carnet:codesystem:"
CARNET_EXTENSION: Final = "urn:carnet:extension:"

TEXT_MAX: Final = 200
LONG_TEXT_MAX: Final = 4000
EARLIEST: Final = dt.date(1900, 1, 1)
_PATH_PART: Final = re.compile(r"([A-Za-z]+)(?:\[(\d+)\])?")
_PARTIAL_DATE: Final = re.compile(
    r"(?:(?P<d>\d{1,2})[/.-])?(?:(?P<m>\d{1,2})[/.-])?(?P<y>\d{4})"
    r"|(?P<iy>\d{4})(?:-(?P<im>\d{2})(?:-(?P<id>\d{2}))?)?"
)
_PHONE: Final = re.compile(r"\+?[\d\s.()-]{6,25}")
_EMAIL: Final = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}")

# The element of each resource that points to the patient.
PATIENT_PATHS: Final = {
    "AllergyIntolerance": "patient",
    "CareTeam": "subject",
    "Condition": "subject",
    "Consent": "patient",
    "Coverage": "beneficiary",
    "ExplanationOfBenefit": "patient",
    "FamilyMemberHistory": "patient",
    "Immunization": "patient",
    "MedicationStatement": "subject",
    "Observation": "subject",
    "Procedure": "subject",
    "RelatedPerson": "patient",
}
# Search parameters `code` and `category`: the CodeableConcepts they match, per resource type.
CODE_PATHS: Final = {
    "AllergyIntolerance": ("code",),
    "CareTeam": ("participant.role",),
    "Condition": ("code",),
    "Consent": ("scope",),
    "Coverage": ("type",),
    "ExplanationOfBenefit": ("type", "item.productOrService"),
    "FamilyMemberHistory": ("relationship", "condition.code"),
    "Immunization": ("vaccineCode",),
    "MedicationStatement": ("medicationCodeableConcept",),
    "Observation": ("code",),
    "Procedure": ("code",),
    "RelatedPerson": ("relationship",),
}
CATEGORY_PATHS: Final = {
    "AllergyIntolerance": ("category",),
    "CareTeam": ("category",),
    "Condition": ("category",),
    "Consent": ("category",),
    "Observation": ("category",),
    "Procedure": ("category",),
}


class InvalidItem(InvalidInput):
    """A profile item breaks a rule; `errors` maps each field at fault to its French message."""

    def __init__(self, errors: Mapping[str, str], *, code: str = "invalid") -> None:
        first_field, first_message = next(iter(errors.items()))
        super().__init__(first_message, code=code, field=first_field)
        self.errors = dict(errors)


@dataclass(frozen=True)
class Choice:
    code: str
    label: str
    system: str = ""
    display: str = ""
    group: str = ""

    def coding(self, default_system: str = "") -> dict[str, str]:
        coding = {"system": self.system or default_system, "code": self.code}
        coding["display"] = self.display or self.label
        return {k: v for k, v in coding.items() if v}


@dataclass(frozen=True)
class Field:
    """A form field bound to a path of the resource.

    `target` says what is written at `path`: the text as it is (`value`), a date (`date`, FHIR
    partial date), a number (`number`), a boolean (`bool`), a Coding (`coding`), a
    CodeableConcept with its text (`concept`), a plain FHIR code (`code`), a UCUM Quantity
    (`quantity`), or base64 text in an Attachment (`attachment`). `path=""` leaves the field to
    the kind's hooks.
    """

    name: str
    label: str
    widget: str = "text"  # text, textarea, date, select, radio, checkbox, number, tel, email
    path: str = ""
    target: str = "value"
    required: bool = False
    choices: tuple[Choice, ...] = ()
    system: str = ""
    hint: str = ""
    max_length: int = TEXT_MAX
    unit: str = ""
    unit_label: str = ""
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    future: bool = False  # a date that may be in the future (end of validity)
    pattern: str = ""
    pattern_message: str = ""

    def choice(self, code: str) -> Choice | None:
        return next((c for c in self.choices if c.code == code), None)


Hook = Callable[[dict[str, Any], Mapping[str, Any]], None]


@dataclass(frozen=True)
class ItemKind:
    """One kind of profile item: its resource, its form and how to recognise it.

    `matches` tells whether an incoming resource of `resource_type` is of this kind (None: the
    default kind of the type). `single`: one item of this kind per patient (a second one
    replaces the first). `none_of`: this kind is the "nothing to report" item of a list section.
    """

    key: str
    section: str
    label: str
    add_label: str
    resource_type: str
    template: Mapping[str, Any]
    fields: tuple[Field, ...] = ()
    title_field: str = ""
    title_path: str = ""
    date_path: str = ""
    single: bool = False
    none_of: bool = False
    matches: Callable[[Mapping[str, Any]], bool] | None = None
    check: Callable[[Mapping[str, Any]], dict[str, str]] | None = None
    after_build: Hook | None = None
    after_read: Callable[[Mapping[str, Any], dict[str, str]], None] | None = None
    describe: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None
    summary_fields: tuple[str, ...] = field(default=())

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


# --- Paths -----------------------------------------------------------------------------------


def _parts(path: str) -> list[tuple[str, int | None]]:
    parts = []
    for part in path.split("."):
        match = _PATH_PART.fullmatch(part)
        if match is None:
            raise ValueError(f"bad path {path!r}")
        parts.append((match.group(1), int(match.group(2)) if match.group(2) else None))
    return parts


def get_path(resource: Mapping[str, Any], path: str) -> Any:
    """The value at `path` (`a.b[0].c`), or None when any step is missing."""
    node: Any = resource
    for name, index in _parts(path):
        if not isinstance(node, Mapping):
            return None
        node = node.get(name)
        if index is not None:
            if not isinstance(node, list) or index >= len(node):
                return None
            node = node[index]
    return node


def set_path(resource: dict[str, Any], path: str, value: Any) -> None:
    """Write `value` at `path`, creating the objects and list slots on the way."""
    parts = _parts(path)
    node: Any = resource
    for position, (name, index) in enumerate(parts):
        last = position == len(parts) - 1
        if index is None:
            if last:
                node[name] = value
                return
            if not isinstance(node.get(name), dict):
                node[name] = {}
            node = node[name]
            continue
        items = node.get(name)
        if not isinstance(items, list):
            items = node[name] = []
        while len(items) <= index:
            items.append({})
        if last:
            items[index] = value
            return
        if not isinstance(items[index], dict):
            items[index] = {}
        node = items[index]


def clear_path(resource: dict[str, Any], path: str) -> None:
    """Remove what is at `path` (empty parents are pruned later by `prune`)."""
    parts = _parts(path)
    node: Any = resource
    for name, index in parts[:-1]:
        node = node.get(name) if isinstance(node, dict) else None
        if index is not None:
            node = node[index] if isinstance(node, list) and index < len(node) else None
        if node is None:
            return
    name, index = parts[-1]
    if not isinstance(node, dict) or name not in node:
        return
    if index is None:
        del node[name]
    elif isinstance(node[name], list) and index < len(node[name]):
        node[name][index] = {}


def collect(resource: Any, path: str) -> list[Any]:
    """Every value reached by `path`, flattening lists at each step (`code.coding` → codings)."""
    nodes = [resource]
    for name, _index in _parts(path):
        found = []
        for node in nodes:
            value = node.get(name) if isinstance(node, Mapping) else None
            if isinstance(value, list):
                found.extend(value)
            elif value is not None:
                found.append(value)
        nodes = found
    return nodes


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def prune(value: Any) -> Any:
    """Drop empty strings, objects and lists, and extensions left without a value: what remains
    is FHIR JSON without empty elements."""
    if isinstance(value, dict):
        pruned = {key: prune(item) for key, item in value.items()}
        pruned = {key: item for key, item in pruned.items() if not _empty(item)}
        if set(pruned) == {"url"}:  # an extension whose value was removed
            return {}
        return pruned
    if isinstance(value, list):
        items = [prune(item) for item in value]
        return [item for item in items if not _empty(item)]
    return value


# --- Validation of the FHIR resource ---------------------------------------------------------


def _model_class(resource_type: str) -> Any:
    if resource_type not in PATIENT_PATHS:
        raise InvalidItem(
            {"resourceType": f"Type de ressource « {resource_type[:40]} » non pris en charge."},
            code="not-supported",
        )
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def validate_resource(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Check `resource` with fhir.resources and return it pruned. Raises `InvalidItem` naming
    the FHIR path of the first error (the pydantic error is not chained: it quotes the input)."""
    resource_type = str(resource.get("resourceType", ""))
    model_class = _model_class(resource_type)
    cleaned = prune(copy.deepcopy(dict(resource)))
    try:
        model_class.model_validate(cleaned)
    except ValidationError as error:
        first = error.errors()[0]
        path = resource_type + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
        )
        kind = str(first["type"])
        if "missing" in kind:
            message = f"Élément FHIR obligatoire absent : {path}."
        elif kind == "extra_forbidden":
            message = f"Élément inconnu en FHIR R4 : {path}."
        else:
            message = f"Élément FHIR mal formé : {path}."
        raise InvalidItem({path: message}, code="structure") from None
    except (ValueError, TypeError, KeyError, AttributeError):
        raise InvalidItem(
            {resource_type: f"Ressource FHIR mal formée : {resource_type}."}, code="structure"
        ) from None
    return dict(cleaned)


# --- Form values -----------------------------------------------------------------------------


def parse_partial_date(text: str) -> str | None:
    """`2015`, `03/2015`, `14/03/2015` or ISO (`2015-03-14`) → FHIR date (`2015-03-14`,
    `2015-03`, `2015`); None if it is not a date."""
    match = _PARTIAL_DATE.fullmatch(text.strip())
    if match is None:
        return None
    if match.group("iy"):
        year, month, day = match.group("iy"), match.group("im"), match.group("id")
    else:
        year, month, day = match.group("y"), match.group("m"), match.group("d")
        if day and not month:  # "03/2015": the single number is the month
            month, day = day, None
    try:
        if day:
            return dt.date(int(year), int(month or 0), int(day)).isoformat()
        if month:
            dt.date(int(year), int(month), 1)
            return f"{int(year):04d}-{int(month):02d}"
        return f"{int(year):04d}"
    except ValueError:
        return None


def first_day(fhir_date: str) -> dt.date | None:
    """The first day a FHIR date or dateTime covers (`2015` → 1 January 2015)."""
    text = fhir_date[:10]
    try:
        if len(text) == 4:
            return dt.date(int(text), 1, 1)
        if len(text) == 7:
            return dt.date(int(text[:4]), int(text[5:7]), 1)
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def format_fhir_date(fhir_date: str) -> str:
    """`2015` → `2015`, `2015-03` → `03/2015`, `2015-03-14…` → `14/03/2015`."""
    text = fhir_date[:10]
    if len(text) == 4:
        return text
    if len(text) == 7:
        return f"{text[5:7]}/{text[:4]}"
    if len(text) == 10:
        return f"{text[8:10]}/{text[5:7]}/{text[:4]}"
    return fhir_date


def _clean_field(spec: Field, raw: str, today: dt.date) -> Any:
    """The value of one field from its raw text, or raise ValueError(message)."""
    text = raw.strip()
    if spec.target == "bool":
        return text in {"on", "true", "1", "oui"}
    if not text:
        if spec.required:
            raise ValueError(f"{spec.label} : ce champ est obligatoire.")
        return None
    max_length = spec.max_length
    if len(text) > max_length:
        raise ValueError(f"{spec.label} : {max_length} caractères au plus.")
    if spec.choices:
        if spec.choice(text) is None:
            raise ValueError(f"{spec.label} : choisissez une valeur de la liste.")
        return text
    if spec.target == "date":
        value = parse_partial_date(text)
        day = first_day(value) if value else None
        if value is None or day is None:
            raise ValueError(f"{spec.label} : date non reconnue (ex. 14/03/2015, 03/2015 ou 2015).")
        if day < EARLIEST:
            raise ValueError(f"{spec.label} : la date ne peut pas précéder 1900.")
        if not spec.future and day > today:
            raise ValueError(f"{spec.label} : la date ne peut pas être dans le futur.")
        return value
    if spec.target in {"number", "quantity"}:
        try:
            number = Decimal(text.replace(",", ".").replace(" ", ""))
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise ValueError(f"{spec.label} : saisissez un nombre.")
        if (spec.minimum is not None and number < spec.minimum) or (
            spec.maximum is not None and number > spec.maximum
        ):
            raise ValueError(
                f"{spec.label} : saisissez un nombre entre {spec.minimum} et {spec.maximum}."
            )
        return number
    if spec.widget == "tel" and not _PHONE.fullmatch(text):
        raise ValueError(f"{spec.label} : numéro de téléphone non reconnu (ex. 06 12 34 56 78).")
    if spec.widget == "email" and not _EMAIL.fullmatch(text):
        raise ValueError(f"{spec.label} : adresse e-mail non reconnue.")
    if spec.pattern and not re.fullmatch(spec.pattern, text):
        raise ValueError(f"{spec.label} : {spec.pattern_message}")
    return text


def clean_data(kind: ItemKind, raw: Mapping[str, Any], *, today: dt.date) -> dict[str, Any]:
    """Check the raw form values of `kind` (strings, as posted) and return typed values.

    Raises `InvalidItem` with one French message per field at fault.
    """
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    for spec in kind.fields:
        value = raw.get(spec.name)
        try:
            data[spec.name] = _clean_field(spec, "" if value is None else str(value), today)
        except ValueError as error:
            errors[spec.name] = str(error)
    if kind.check is not None:
        for name, message in kind.check(data).items():
            errors.setdefault(name, message)
    if errors:
        raise InvalidItem(errors)
    return data


def _write(spec: Field, resource: dict[str, Any], value: Any) -> None:
    if spec.target == "bool":
        set_path(resource, spec.path, bool(value))
        return
    if value is None:
        clear_path(resource, spec.path)
        return
    choice = spec.choice(str(value)) if spec.choices else None
    if spec.target in {"coding", "concept"} and choice is None:
        raise InvalidItem({spec.name: f"{spec.label} : choisissez une valeur de la liste."})
    if spec.target == "coding" and choice is not None:
        set_path(resource, spec.path, choice.coding(spec.system))
    elif spec.target == "concept" and choice is not None:
        set_path(
            resource, spec.path, {"coding": [choice.coding(spec.system)], "text": choice.label}
        )
    elif spec.target == "quantity":
        set_path(
            resource,
            spec.path,
            {
                "value": _json_number(value),
                "unit": spec.unit_label or spec.unit,
                "system": UCUM,
                "code": spec.unit,
            },
        )
    elif spec.target == "number":
        set_path(resource, spec.path, _json_number(value))
    elif spec.target == "attachment":
        set_path(resource, spec.path, base64.b64encode(str(value).encode()).decode("ascii"))
    else:
        set_path(resource, spec.path, value)


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def build_resource(
    kind: ItemKind,
    data: Mapping[str, Any],
    *,
    base: Mapping[str, Any] | None = None,
    patient_reference: str,
    today: dt.date,
) -> dict[str, Any]:
    """The resource of `kind` with the cleaned `data` written in: onto `base` (an existing
    resource being corrected, whose other elements are kept) or onto the kind's template."""
    resource = copy.deepcopy(dict(base) if base is not None else dict(kind.template))
    resource[PATIENT_PATHS[kind.resource_type]] = {"reference": patient_reference}
    if base is not None:
        for key, value in kind.template.items():
            resource.setdefault(key, copy.deepcopy(value))
    for spec in kind.fields:
        if spec.path:
            _write(spec, resource, data.get(spec.name))
    if kind.after_build is not None:
        kind.after_build(resource, {**data, "_today": today})
    return validate_resource(resource)


def _read(spec: Field, resource: Mapping[str, Any]) -> str:
    value = get_path(resource, spec.path)
    if value is None and spec.target == "value" and spec.path.endswith(".text"):
        # a concept sent coded but without text (by a professional's software): show its display
        return concept_text(get_path(resource, spec.path.removesuffix(".text")))
    if value is None:
        return ""
    if spec.target == "bool":
        return "on" if value is True else ""
    if spec.target == "coding":
        code = value.get("code", "") if isinstance(value, Mapping) else ""
        return code if spec.choice(code) else ""
    if spec.target == "concept":
        for coding in value.get("coding", []) if isinstance(value, Mapping) else []:
            if spec.choice(str(coding.get("code", ""))):
                return str(coding["code"])
        return ""
    if spec.target == "quantity":
        number = value.get("value") if isinstance(value, Mapping) else None
        return "" if number is None else format_decimal(Decimal(str(number)))
    if spec.target == "number":
        return format_decimal(Decimal(str(value)))
    if spec.target == "attachment":
        try:
            return base64.b64decode(str(value)).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
    if spec.target == "date":
        return format_fhir_date(str(value))
    if spec.choices:
        return str(value) if spec.choice(str(value)) else ""
    return str(value)


def format_decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    return text.replace(".", ",")


def form_data(kind: ItemKind, resource: Mapping[str, Any]) -> dict[str, str]:
    """The form values of an existing item (what the edit form shows)."""
    data = {spec.name: _read(spec, resource) for spec in kind.fields if spec.path}
    if kind.after_read is not None:
        kind.after_read(resource, data)
    return data


# --- Display ---------------------------------------------------------------------------------


def concept_text(concept: Any) -> str:
    """What a person reads for a CodeableConcept: its text, else its first display, else code."""
    if not isinstance(concept, Mapping):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in as_list(concept.get("coding")):
        if isinstance(coding, Mapping) and coding.get("display"):
            return str(coding["display"])
    for coding in as_list(concept.get("coding")):
        if isinstance(coding, Mapping) and coding.get("code"):
            return str(coding["code"])
    return ""


def title(kind: ItemKind, resource: Mapping[str, Any]) -> str:
    """The one-line name of the item in lists."""
    if kind.title_path:
        value = get_path(resource, kind.title_path)
        text = concept_text(value) if isinstance(value, Mapping) else str(value or "")
        if text:
            return text[:TEXT_MAX]
    spec = kind.field(kind.title_field)
    if spec is not None:
        shown = display_value(spec, form_data(kind, resource).get(spec.name, ""))
        if shown:
            return shown[:TEXT_MAX]
    return kind.label


def display_value(spec: Field, value: str) -> str:
    if not value:
        return ""
    if spec.target == "bool":
        return "oui"
    choice = spec.choice(value)
    if choice is not None:
        return choice.label
    if spec.target == "quantity" and spec.unit_label:
        return f"{value} {spec.unit_label}"
    return value


def details(kind: ItemKind, resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Label/value lines of the item (all filled fields but the title)."""
    if kind.describe is not None:
        return kind.describe(resource)
    values = form_data(kind, resource)
    lines = []
    for spec in kind.fields:
        if spec.name == kind.title_field or (spec.target == "bool" and not values.get(spec.name)):
            continue
        shown = display_value(spec, values.get(spec.name, ""))
        if shown:
            lines.append((spec.label, shown))
    return lines


def item_date(kind: ItemKind, resource: Mapping[str, Any]) -> dt.date | None:
    """The date an item is sorted and searched by (onset, start, occurrence…)."""
    for path in kind.date_path.split("|") if kind.date_path else ():
        value = get_path(resource, path)
        if value:
            return first_day(str(value))
    return None


# --- Search matching -------------------------------------------------------------------------


def _concept_codings(resource: Mapping[str, Any], paths: Iterable[str]) -> list[Mapping[str, Any]]:
    codings: list[Mapping[str, Any]] = []
    for path in paths:
        for value in collect(resource, path):
            if isinstance(value, Mapping):
                codings.extend(c for c in as_list(value.get("coding")) if isinstance(c, Mapping))
            elif isinstance(value, str):  # plain codes (AllergyIntolerance.category)
                codings.append({"code": value})
    return codings


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else nothing: input not yet validated may hold anything."""
    return value if isinstance(value, list) else []


def token_matches(resource: Mapping[str, Any], paths: Iterable[str], tokens: Iterable[str]) -> bool:
    """FHIR token search: any of `tokens` (`system|code`, `code`, `system|`) matches a coding
    at `paths` (comma-separated values are alternatives)."""
    codings = _concept_codings(resource, paths)
    for token in tokens:
        system, bar, code = token.partition("|")
        if not bar:
            system, code = "", token
        for coding in codings:
            if bar and system and coding.get("system") != system:
                continue
            if bar and not system and coding.get("system"):
                continue
            if not code or coding.get("code") == code:
                return True
    return False


def codes_of(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (system, code) pairs a `code` search matches on."""
    paths = CODE_PATHS.get(str(resource.get("resourceType")), ())
    return [
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in _concept_codings(resource, paths)
    ]
