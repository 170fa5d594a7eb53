"""What the holder can be told about (kinds) and through which channels.

The in-portal notification list is always written; e-mail is the one channel the holder can switch
off per kind, except for emergency accesses (a break-glass or SAMU access is always told).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class NotificationKind(StrEnum):
    DOCUMENT_NEW = "document_new"
    DOCUMENT_MODIFIED = "document_modified"
    MESSAGE_NEW = "message_new"
    FIRST_ACCESS = "first_access"
    EMERGENCY_ACCESS = "emergency_access"
    ACCESS_CODE_USED = "access_code_used"

    @property
    def info(self) -> KindInfo:
        return KIND_INFO[self]

    @property
    def email_mandatory(self) -> bool:
        """The e-mail of this kind cannot be switched off by the holder."""
        return self.info.email_mandatory


class Channel(StrEnum):
    EMAIL = "email"


@dataclass(frozen=True)
class KindInfo:
    label: str | Promise  # for the preferences page
    description: str | Promise
    email_mandatory: bool = False


KIND_INFO: dict[NotificationKind, KindInfo] = {
    NotificationKind.DOCUMENT_NEW: KindInfo(
        _("Nouveau document"), _("Un document est ajouté à l'espace santé.")
    ),
    NotificationKind.DOCUMENT_MODIFIED: KindInfo(
        _("Document modifié"), _("Un document de l'espace santé est remplacé ou modifié.")
    ),
    NotificationKind.MESSAGE_NEW: KindInfo(
        _("Nouveau message"), _("Un professionnel de santé vous écrit dans la messagerie.")
    ),
    NotificationKind.FIRST_ACCESS: KindInfo(
        _("Premier accès d'un professionnel"),
        _("Un professionnel de santé consulte l'espace santé pour la première fois."),
    ),
    NotificationKind.EMERGENCY_ACCESS: KindInfo(
        _("Accès en urgence"),
        _("Un professionnel ou le SAMU accède à l'espace santé en situation d'urgence."),
        email_mandatory=True,
    ),
    NotificationKind.ACCESS_CODE_USED: KindInfo(
        _("Code d'accès utilisé"),
        _("Un professionnel utilise un code d'accès temporaire que vous lui avez donné."),
    ),
}
