"""Collecting every problem of a FHIR resource before refusing it, so the sender fixes them all at
once: one `InvalidResource` carries one OperationOutcome issue (French message + FHIRPath) each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from carnet.core.errors import InvalidInput
from carnet.fhir.outcome import Issue


class InvalidResource(InvalidInput):
    """A FHIR resource (or Bundle) was refused; `issues` names each faulty element."""

    code = "invalid-resource"

    def __init__(self, issues: Sequence[Issue], *, status: int = 400) -> None:
        first = issues[0] if issues else Issue("invalid", "Ressource invalide.")
        super().__init__(first.diagnostics, field=first.expression)
        self.issues = list(issues) or [first]
        self.status = status


class Issues:
    """An ordered list of problems found while reading a resource."""

    def __init__(self) -> None:
        self.items: list[Issue] = []

    def __bool__(self) -> bool:
        return any(issue.severity in {"error", "fatal"} for issue in self.items)

    def error(self, expression: str, message: str, *, code: str = "invalid") -> None:
        self.items.append(Issue(code=code, diagnostics=message, expression=expression))

    def required(self, expression: str, message: str) -> None:
        self.error(expression, message, code="required")

    def warning(self, expression: str, message: str) -> None:
        self.items.append(
            Issue(
                code="informational", diagnostics=message, severity="warning", expression=expression
            )
        )

    def extend(self, issues: Iterable[Issue]) -> None:
        self.items.extend(issues)

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.items if issue.severity == "warning"]

    def raise_if_any(self, *, status: int = 400) -> None:
        if self:
            raise InvalidResource([i for i in self.items if i.severity != "warning"], status=status)


# pydantic error types → what a French-speaking integrator reads.
_PYDANTIC_MESSAGES = {
    "missing": "élément obligatoire absent",
    "extra_forbidden": "élément inconnu en FHIR R4",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "bool_parsing": "booléen attendu (true ou false)",
    "bool_type": "booléen attendu (true ou false)",
    "string_type": "chaîne de caractères attendue",
    "list_type": "liste attendue",
    "dict_type": "objet JSON attendu",
    "model_type": "objet JSON attendu",
    "json_invalid": "objet JSON attendu",
    "base64_decode": "contenu base64 invalide",
}


def fhir_path(root: str, location: Iterable[int | str]) -> str:
    path = root
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def structure_issues(root: str, error: ValidationError) -> list[Issue]:
    """French issues for the structural errors fhir.resources found (one per element)."""
    found: list[Issue] = []
    for detail in error.errors():
        location = [part for part in detail.get("loc", ()) if part != "__root__"]
        kind = str(detail.get("type", ""))
        message = _PYDANTIC_MESSAGES.get(kind)
        if message is None:
            message = (
                "format de date ou d'heure FHIR invalide"
                if location and str(location[-1]) in _DATE_ELEMENTS
                else "valeur invalide pour ce type d'élément FHIR R4"
            )
        expression = fhir_path(root, location)
        found.append(
            Issue(
                code="required" if kind == "missing" else "structure",
                diagnostics=f"{expression} : {message}.",
                expression=expression,
            )
        )
    return found


_DATE_ELEMENTS = frozenset({"date", "start", "end", "creation", "birthDate", "lastUpdated"})


def check_structure(model: Any, resource: Mapping[str, Any], root: str) -> list[Issue]:
    """What fhir.resources finds wrong in `resource` (empty when it is well formed).

    Besides pydantic's errors, fhir.resources raises plain TypeError/KeyError on some hostile
    shapes (a contained resource whose resourceType is not a string, an unknown type): those are
    one structural issue on the resource, never a crash.
    """
    try:
        model.model_validate(resource)
    except ValidationError as error:
        return structure_issues(root, error)
    except (TypeError, KeyError, ValueError, AttributeError, RecursionError):
        return [
            Issue(
                code="structure",
                diagnostics=f"{root} : structure FHIR R4 invalide (ressource contenue ou type "
                "de ressource inconnu).",
                expression=root,
            )
        ]
    return []
