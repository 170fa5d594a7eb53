"""Template context shared by every portal page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def portal_context(request: HttpRequest) -> dict[str, Any]:
    return {"carnet_mode": settings.CARNET_MODE}
