from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    identifier = forms.CharField(label=_("Identifiant"), max_length=254)
    password = forms.CharField(label=_("Mot de passe"), max_length=256, strip=False)


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"),
        regex=r"^\s*\d{3}\s?\d{3}\s*$",
        error_messages={"invalid": _("Le code comporte 6 chiffres.")},
    )
