from __future__ import annotations

from carnet.core.errors import CarnetError, NotFound


class AccessDenied(CarnetError):
    """A refusal the actor is allowed to know about (its reason is shown)."""

    code = "forbidden"


__all__ = ["AccessDenied", "NotFound"]
