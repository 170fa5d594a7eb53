"""Forms of the holder's access pages: "Partage", "Paramètres", "Qui peut voir ce document ?" and
"Historique des accès". Every field is optional or bounded, and every message is French."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from carnet.access.explain import profession_choices, section_choices
from carnet.access.trace import TraceFilters


class DirectorySearchForm(forms.Form):
    q = forms.CharField(label=_("Nom, RPPS ou profession"), required=False, max_length=100)
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000)


class AuthoriseForm(forms.Form):
    professional = forms.UUIDField(
        error_messages={"required": _("Choisissez un professionnel dans l'annuaire.")}
    )
    until = forms.DateField(
        label=_("Jusqu'au (facultatif)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("Saisissez une date valide (jj/mm/aaaa).")},
    )
    extended_rights = forms.BooleanField(label=_("Droits étendus"), required=False)
    medecin_traitant = forms.BooleanField(label=_("C'est mon médecin traitant"), required=False)


class ProfessionalForm(forms.Form):
    professional = forms.UUIDField(
        error_messages={"required": _("Choisissez un professionnel dans l'annuaire.")}
    )


class ExtendedRightsForm(forms.Form):
    enabled = forms.BooleanField(required=False)


class AccessSettingsForm(forms.Form):
    """Phrased as permissions (ticked = allowed), as offered when the space was created."""

    break_glass_allowed = forms.BooleanField(
        label=_("J'autorise l'accès en urgence par un professionnel de santé (bris de glace)"),
        required=False,
    )
    centre_15_allowed = forms.BooleanField(
        label=_("J'autorise l'accès par le médecin régulateur du SAMU (centre 15)"),
        required=False,
    )
    mask_all = forms.BooleanField(
        label=_("Je masque tous mes documents, y compris en cas d'urgence"), required=False
    )

    @classmethod
    def from_settings(cls, settings: Any) -> AccessSettingsForm:
        return cls(
            initial={
                "break_glass_allowed": not settings.break_glass_opposed,
                "centre_15_allowed": not settings.centre_15_opposed,
                "mask_all": settings.mask_all,
            }
        )


class WhoCanSeeForm(forms.Form):
    profession = forms.ChoiceField(label=_("Profession"), required=False)
    section = forms.ChoiceField(label=_("Section de l'Ordre (pharmaciens)"), required=False)
    specialty = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["profession"]).choices = [
            ("", _("Choisissez une profession"))
        ] + [(c.code, c.label) for c in profession_choices()]
        cast(forms.ChoiceField, self.fields["section"]).choices = [("", _("Sans objet"))] + [
            (c.code, f"{c.code} — {c.label}") for c in section_choices()
        ]


class TraceFilterForm(forms.Form):
    personne = forms.CharField(label=_("Personne"), required=False, max_length=100)
    action = forms.CharField(label=_("Action"), required=False, max_length=80)
    du = forms.DateField(
        label=_("Du"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("Saisissez une date valide (jj/mm/aaaa).")},
    )
    au = forms.DateField(
        label=_("Au"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": _("Saisissez une date valide (jj/mm/aaaa).")},
    )
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: dt.date | None = data.get("du")
        end: dt.date | None = data.get("au")
        if start and end and start > end:
            self.add_error("au", _("La date de fin précède la date de début."))
        return data

    def filters(self) -> TraceFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return TraceFilters(
            actor_id=data.get("personne") or "",
            action=data.get("action") or "",
            date_from=data.get("du"),
            date_to=data.get("au"),
        )

    def page_number(self) -> int:
        return (self.cleaned_data.get("page") if self.is_valid() else None) or 1
