"""The portal's sections, in menu order; those whose issue is not done yet say so plainly."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Section:
    slug: str
    label: str | Promise
    summary: str | Promise
    url_name: str | None = None  # a dedicated view once the section exists


SECTIONS = (
    Section(
        "documents",
        _("Documents"),
        _("Vos documents de santé déposés par vous, vos professionnels et l'Assurance Maladie."),
        url_name="portal:documents",
    ),
    Section(
        "profil",
        _("Profil médical"),
        _("Vos maladies, traitements, allergies, vaccinations, mesures de santé…"),
        url_name="portal:profile",
    ),
    Section(
        "messagerie",
        _("Messagerie"),
        _("Les messages sécurisés de vos professionnels de santé."),
        url_name="portal:messaging_inbox",
    ),
    Section("agenda", _("Agenda"), _("Vos rendez-vous, tâches et rappels de prévention.")),
    Section(
        "catalogue",
        _("Catalogue de services"),
        _("Les applications de santé référencées que vous pouvez autoriser."),
    ),
    Section(
        "partage",
        _("Partage"),
        _("Les professionnels autorisés, bloqués, et les codes d'accès temporaires."),
        url_name="portal:sharing",
    ),
    Section(
        "historique",
        _("Historique des accès"),
        _("Qui a consulté ou modifié votre espace, et quand."),
        url_name="portal:trace",
    ),
    Section(
        "parametres",
        _("Paramètres"),
        _("Vos préférences de notification et de confidentialité, l'accès en urgence."),
        url_name="portal:access_settings",
    ),
)

BY_SLUG = {section.slug: section for section in SECTIONS}
