"""Error types shared by every domain; each adapter (portal, FHIR, API) maps them once."""

from __future__ import annotations


class CarnetError(Exception):
    """Base class of the domain errors; `message` is shown to the user (French)."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class InvalidInput(CarnetError):
    """The input is malformed or breaks a rule; nothing was stored."""

    code = "invalid"


class NotFound(CarnetError):
    """The target does not exist, or the actor may not know it exists."""

    code = "not-found"


class Conflict(CarnetError):
    """The request conflicts with the current state (duplicate, closed space…)."""

    code = "conflict"
