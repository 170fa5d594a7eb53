"""The short French sentence of each in-portal notification, rendered at display time.

The only data a caller may give is who acted (`actor`): never a document title, a message
subject or a specialty, so a notification cannot leak health content wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from carnet.notifications.kinds import NotificationKind

ALLOWED_CONTEXT_KEYS = frozenset({"actor"})
MAX_CONTEXT_VALUE = 200

# (without actor, with actor)
_TEXTS: dict[NotificationKind, tuple[str | Promise, str | Promise]] = {
    NotificationKind.DOCUMENT_NEW: (
        _("Un nouveau document a été ajouté à l'espace santé."),
        _("Un nouveau document a été ajouté à l'espace santé par %(actor)s."),
    ),
    NotificationKind.DOCUMENT_MODIFIED: (
        _("Un document de l'espace santé a été modifié."),
        _("Un document de l'espace santé a été modifié par %(actor)s."),
    ),
    NotificationKind.MESSAGE_NEW: (
        _("Un nouveau message est arrivé dans la messagerie."),
        _("Un nouveau message de %(actor)s est arrivé dans la messagerie."),
    ),
    NotificationKind.FIRST_ACCESS: (
        _("Un professionnel de santé a consulté l'espace santé pour la première fois."),
        _("%(actor)s a consulté l'espace santé pour la première fois."),
    ),
    NotificationKind.EMERGENCY_ACCESS: (
        _("Un accès en urgence a eu lieu sur l'espace santé."),
        _("%(actor)s a accédé à l'espace santé en urgence."),
    ),
    NotificationKind.ACCESS_CODE_USED: (
        _("Un code d'accès temporaire a été utilisé."),
        _("%(actor)s a utilisé un code d'accès temporaire."),
    ),
}


def clean_context(context: Mapping[str, Any] | None) -> dict[str, str]:
    """Keep the allowed keys only; anything else is a programming error (ValueError)."""
    cleaned: dict[str, str] = {}
    for key, value in (context or {}).items():
        if key not in ALLOWED_CONTEXT_KEYS:
            raise ValueError(
                f"notification context key {key!r} is not allowed (only "
                f"{sorted(ALLOWED_CONTEXT_KEYS)}): notifications carry no health content"
            )
        text = " ".join(str(value).split())[:MAX_CONTEXT_VALUE]
        if text:
            cleaned[key] = text
    return cleaned


def portal_text(kind: str, context: Mapping[str, Any]) -> str:
    try:
        without_actor, with_actor = _TEXTS[NotificationKind(kind)]
    except ValueError:
        return str(_("Une activité a eu lieu sur l'espace santé."))
    actor = context.get("actor")
    if actor:
        return str(with_actor) % {"actor": actor}
    return str(without_actor)
