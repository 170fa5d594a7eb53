"""Search parameters of ITI-67 (DocumentReference) and ITI-66 (List), and searchset Bundles.

Unknown parameters follow FHIR's `Prefer: handling`: by default (lenient) they are ignored and
named in a warning OperationOutcome inside the searchset; with `Prefer: handling=strict` the
search is refused with 400. A known parameter with a value we cannot honour is always a 400:
ignoring it would return documents the client did not ask for. `_count` is capped at 100 (with a
warning), as FHIR lets a server return fewer results than asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlencode

from django.http import QueryDict

from carnet.core.errors import InvalidInput
from carnet.documents.services import SearchFilters
from carnet.fhir import dates
from carnet.fhir.documents import unique_id_of
from carnet.fhir.issues import InvalidResource
from carnet.fhir.outcome import Issue
from carnet.fhir.participants import IDNST, Ins, ins_from_token, strip_urn_oid

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_OFFSET = 1_000_000
STATUSES = frozenset({"current", "superseded", "entered-in-error"})
SORTS = {"date": "date", "-date": "-date"}
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
COMMON = frozenset({"_count", "_offset", "_format", "_sort"})
# Each value set declared in the CapabilityStatement, with its documentation (French).
DOCUMENT_PARAMS: list[tuple[str, str, str]] = [
    ("patient", "reference", "Patient/<id> : l'espace du patient"),
    ("patient.identifier", "token", "INS du patient : urn:oid:1.2.250.1.213.1.4.8|<matricule>"),
    ("status", "token", "current, superseded (plusieurs valeurs séparées par des virgules)"),
    ("type", "token", "type de document (typeCode, JDV_J66)"),
    ("category", "token", "classe de document (classCode, TRE_A03)"),
    ("date", "date", "date de création du document (ge, le, gt, lt, eq)"),
    ("period", "date", "période des actes (context.period) : ge, le, gt, lt, eq"),
    ("author", "string", "nom du professionnel déposant (contient) ou IDNST de la structure"),
    (
        "author.identifier",
        "token",
        "IDNST de la structure auteur : urn:oid:1.2.250.1.71.4.2.2|<IDNST>",
    ),
    ("identifier", "token", "identifiant unique du document (masterIdentifier)"),
    ("isArchived", "token", "true ou false (extension PDSm pdsm-ext-is-archived)"),
    ("_sort", "string", "date ou -date (par défaut : -date)"),
    ("_count", "number", "taille de page, 20 par défaut, 100 au plus"),
    ("_offset", "number", "rang du premier résultat (pagination)"),
]
LIST_PARAMS: list[tuple[str, str, str]] = [
    ("patient", "reference", "Patient/<id> : l'espace du patient"),
    ("patient.identifier", "token", "INS du patient : urn:oid:1.2.250.1.213.1.4.8|<matricule>"),
    ("code", "token", "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset"),
    ("status", "token", "current"),
    ("_count", "number", "taille de page, 20 par défaut, 100 au plus"),
    ("_offset", "number", "rang du premier résultat (pagination)"),
]


def bad(parameter: str, message: str) -> InvalidResource:
    return InvalidResource(
        [Issue(code="invalid", diagnostics=f"{parameter} : {message}", expression=parameter)]
    )


@dataclass(frozen=True)
class PatientSelector:
    """The space searched: our id (`patient`) or an INS (`patient.identifier`)."""

    patient_id: str = ""
    ins: Ins | None = None


@dataclass
class Query:
    """The parts of a search every resource shares."""

    patient: PatientSelector
    offset: int = 0
    count: int = DEFAULT_COUNT
    warnings: list[Issue] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # for paging links


def is_strict(prefer: str) -> bool:
    return any(part.strip().replace(" ", "") == "handling=strict" for part in prefer.split(";"))


def _single(params: QueryDict, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise bad(name, "paramètre répété : donnez plusieurs valeurs séparées par des virgules.")
    return values[0] if values else None


def _integer(params: QueryDict, name: str, default: int, maximum: int) -> int:
    value = _single(params, name)
    if value is None:
        return default
    if not value.isdigit() or len(value) > 12:
        raise bad(name, f"nombre entier positif attendu (reçu : « {value[:40]} »).")
    return min(int(value), maximum)


def _tokens(value: str) -> list[tuple[str, str]]:
    """(system, code) pairs of a comma-separated token parameter (system may be empty)."""
    found = []
    for part in value.split(","):
        system, separator, code = part.partition("|")
        found.append((system.strip(), code.strip()) if separator else ("", system.strip()))
    return [pair for pair in found if pair[1]]


def _patient(params: QueryDict) -> PatientSelector:
    reference = _single(params, "patient")
    token = _single(params, "patient.identifier")
    if reference and token:
        raise bad("patient", "donnez patient ou patient.identifier, pas les deux.")
    if reference:
        return PatientSelector(patient_id=reference.strip().rsplit("/", 1)[-1])
    if token:
        try:
            ins = ins_from_token(token)
        except InvalidInput as error:
            raise bad("patient.identifier", f"INS invalide. {error.message}") from error
        if ins is None:
            raise bad(
                "patient.identifier",
                "le patient est désigné par son INS : urn:oid:1.2.250.1.213.1.4.8|<matricule> "
                "(ou .9, .10, .11).",
            )
        return PatientSelector(ins=ins)
    raise bad(
        "patient",
        "la recherche porte sur un patient : patient=Patient/<id> ou "
        "patient.identifier=urn:oid:1.2.250.1.213.1.4.8|<matricule>.",
    )


def _common(params: QueryDict, known: Iterable[str], prefer: str) -> Query:
    query = Query(patient=_patient(params))
    query.offset = _integer(params, "_offset", 0, MAX_OFFSET)
    requested = _integer(params, "_count", DEFAULT_COUNT, 10**12)
    if requested > MAX_COUNT:
        query.warnings.append(
            Issue(
                code="informational",
                severity="warning",
                diagnostics=f"_count : {requested} demandés, {MAX_COUNT} au plus par page.",
                expression="_count",
            )
        )
    query.count = min(requested, MAX_COUNT)
    accepted = set(known) | COMMON
    unknown = sorted({name for name in params if name not in accepted})
    if unknown and is_strict(prefer):
        raise bad(
            unknown[0], "paramètre de recherche non pris en charge (Prefer: handling=strict)."
        )
    for name in unknown:
        query.warnings.append(
            Issue(
                code="not-supported",
                severity="warning",
                diagnostics=f"{name} : paramètre de recherche non pris en charge, ignoré.",
                expression=name,
            )
        )
    query.kept = [
        (name, value)
        for name in params
        if name in accepted and name not in {"_offset", "_count"}
        for value in params.getlist(name)
    ]
    return query


# --- Dates ----------------------------------------------------------------------------------------


def _date_bounds(params: QueryDict, name: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[from, to] (inclusive) from every `name=<prefix><date>` (several are ANDed)."""
    low: dt.datetime | None = None
    high: dt.datetime | None = None
    for raw in params.getlist(name):
        prefix, value = (raw[:2], raw[2:]) if raw[:2] in _PREFIXES else ("eq", raw)
        if prefix not in {"eq", "gt", "lt", "ge", "le"}:
            raise bad(name, f"préfixe « {prefix} » non pris en charge (eq, ge, le, gt, lt).")
        try:
            start, end = dates.period_of(value)
        except dates.BadDate as error:
            raise bad(name, str(error)) from error
        last = end - dt.timedelta(microseconds=1)
        pairs = {
            "eq": (start, last),
            "ge": (start, None),
            "gt": (end, None),
            "le": (None, last),
            "lt": (None, start - dt.timedelta(microseconds=1)),
        }
        new_low, new_high = pairs[prefix]
        if new_low is not None:
            low = new_low if low is None else max(low, new_low)
        if new_high is not None:
            high = new_high if high is None else min(high, new_high)
    return low, high


# --- DocumentReference (ITI-67) --------------------------------------------------------------


def document_search(params: QueryDict, *, prefer: str = "") -> tuple[Query, SearchFilters]:
    query = _common(params, (name for name, _, _ in DOCUMENT_PARAMS), prefer)
    filters = SearchFilters(statuses=())
    if (status := _single(params, "status")) is not None:
        statuses = tuple(code for _, code in _tokens(status))
        wrong = [s for s in statuses if s not in STATUSES]
        if wrong or not statuses:
            raise bad("status", "valeurs possibles : current, superseded, entered-in-error.")
        filters = replace(filters, statuses=statuses)
    if (value := _single(params, "type")) is not None:
        filters = replace(filters, type_codes=tuple(code for _, code in _tokens(value)))
    if (value := _single(params, "category")) is not None:
        filters = replace(filters, class_codes=tuple(code for _, code in _tokens(value)))
    if (value := _single(params, "identifier")) is not None:
        filters = replace(
            filters, unique_ids=tuple(unique_id_of(unquote(code)) for _, code in _tokens(value))
        )
    created_from, created_to = _date_bounds(params, "date")
    period_from, period_to = _date_bounds(params, "period")
    filters = replace(
        filters,
        created_from=created_from,
        created_to=created_to,
        period_from=period_from,
        period_to=period_to,
    )
    filters = replace(filters, author=_author(params))
    if (value := _single(params, "isArchived")) is not None:
        if value not in {"true", "false"}:
            raise bad("isArchived", "true ou false.")
        filters = replace(filters, archived=value == "true")
    if (value := _single(params, "_sort")) is not None:
        if value not in SORTS:
            raise bad("_sort", "tri possible : date ou -date.")
        filters = replace(filters, sort=SORTS[value])
    for name, empty in (("type", filters.type_codes), ("category", filters.class_codes)):
        if name in params and not empty:
            raise bad(name, "valeur vide.")
    return query, filters


def _author(params: QueryDict) -> str:
    name = _single(params, "author")
    token = _single(params, "author.identifier")
    if name and token:
        raise bad("author", "donnez author ou author.identifier, pas les deux.")
    if token:
        pairs = _tokens(token)
        if len(pairs) != 1:
            raise bad("author.identifier", "une seule valeur.")
        system, value = pairs[0]
        if strip_urn_oid(system) != IDNST:
            raise bad(
                "author.identifier",
                "seule la structure auteur (IDNST, urn:oid:1.2.250.1.71.4.2.2|<IDNST>) peut être "
                "recherchée ; un professionnel se recherche par son nom (author).",
            )
        return value
    return (name or "").strip()[:200]


# --- List (ITI-66) -----------------------------------------------------------------------------


def list_search(params: QueryDict, *, prefer: str = "") -> tuple[Query, bool]:
    """The query, and whether it can match submission sets at all (code and status)."""
    query = _common(params, (name for name, _, _ in LIST_PARAMS), prefer)
    matches = True
    if (code := _single(params, "code")) is not None:
        matches = any(value == "submissionset" for _, value in _tokens(code))
    if (status := _single(params, "status")) is not None:
        matches = matches and any(value == "current" for _, value in _tokens(status))
    return query, matches


# --- Searchset Bundles ---------------------------------------------------------------------------


def searchset(
    *,
    base_url: str,
    resource_type: str,
    query: Query,
    total: int,
    resources: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    def link(relation: str, offset: int) -> dict[str, str]:
        params = [*query.kept, ("_offset", str(offset)), ("_count", str(query.count))]
        return {"relation": relation, "url": f"{base_url}/{resource_type}?{urlencode(params)}"}

    links = [link("self", query.offset)]
    if query.count and query.offset + query.count < total:
        links.append(link("next", query.offset + query.count))
    if query.offset > 0:
        links.append(link("previous", max(0, query.offset - max(query.count, 1))))
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base_url}/{resource_type}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in resources
    ]
    if query.warnings:
        entries.append(
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [_issue(issue) for issue in query.warnings],
                },
                "search": {"mode": "outcome"},
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": entries,
    }


def _issue(issue: Issue) -> dict[str, Any]:
    found: dict[str, Any] = {
        "severity": issue.severity,
        "code": issue.code,
        "diagnostics": issue.diagnostics,
    }
    if issue.expression:
        found["expression"] = [issue.expression]
    return found
