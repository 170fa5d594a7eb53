"""What the portal keeps in the session: the pending login and the space being viewed."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

PENDING_LOGIN = "carnet_pending_login"
AFTER_LOGIN = "carnet_after_login"  # a path of this site, checked when stored
SPACES = "carnet_spaces"
CURRENT_SPACE = "carnet_space"


def set_spaces(request: HttpRequest, spaces: list[tuple[str, str]]) -> None:
    request.session[SPACES] = spaces
    if spaces and request.session.get(CURRENT_SPACE) not in {pk for pk, _ in spaces}:
        request.session[CURRENT_SPACE] = spaces[0][0]


def spaces(request: HttpRequest) -> list[dict[str, Any]]:
    return [{"pk": pk, "label": label} for pk, label in request.session.get(SPACES, [])]


def current_space(request: HttpRequest) -> str | None:
    value = request.session.get(CURRENT_SPACE)
    return str(value) if value else None
