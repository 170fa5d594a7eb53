"""Template context shared by every portal page: mode banner, navigation, spaces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _

from carnet.portal import session
from carnet.portal.sections import SECTIONS


@dataclass(frozen=True)
class SpaceChoice:
    pk: str
    label: str

    def __str__(self) -> str:
        return self.label


def portal_context(request: HttpRequest) -> dict[str, Any]:
    context: dict[str, Any] = {"carnet_mode": settings.CARNET_MODE}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not session.spaces(request):
        return context
    home = reverse("portal:home")
    nav = [{"url": home, "label": _("Accueil"), "current": request.path == home}]
    for section in SECTIONS:
        url = reverse(
            section.url_name or "portal:section", args=[] if section.url_name else [section.slug]
        )
        nav.append({"url": url, "label": section.label, "current": request.path.startswith(url)})
    context["portal_nav"] = nav
    context["portal_spaces"] = [SpaceChoice(s["pk"], s["label"]) for s in session.spaces(request)]
    context["portal_space_id"] = session.current_space(request)
    return context
