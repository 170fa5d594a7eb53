"""FHIR OperationOutcome: every error of the FHIR API is one of these."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse

FHIR_JSON = "application/fhir+json; charset=utf-8"


@dataclass(frozen=True)
class Issue:
    code: str  # FHIR issue-type: invalid, required, not-found, security, login, processing…
    diagnostics: str
    severity: str = "error"
    expression: str | None = None


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": []}
    for issue in issues:
        entry: dict[str, Any] = {
            "severity": issue.severity,
            "code": issue.code,
            "diagnostics": issue.diagnostics,
        }
        if issue.expression:
            entry["expression"] = [issue.expression]
        body["issue"].append(entry)
    return body


def fhir_response(resource: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(resource, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type=FHIR_JSON,
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def outcome_response(
    status: int, code: str, diagnostics: str, *, expression: str | None = None, **headers: str
) -> HttpResponse:
    return fhir_response(
        operation_outcome([Issue(code=code, diagnostics=diagnostics, expression=expression)]),
        status=status,
        **headers,
    )
