"""Forms of the medical profile pages.

The fields of an item form come from its kind (`profile.kinds`): the domain checks the values
(`profile.items.clean_data`, French messages per field), so these forms only carry the posted
strings and the errors, and describe each field for the template (`fields`), which renders
labels, hints, fieldsets for choices and the error summary linked to the fields.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.core import clock
from carnet.profile.items import Choice, Field, ItemKind
from carnet.profile.measures import InvalidMeasure, MeasureDefinition

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class ShownField:
    """A field as the template draws it."""

    spec: Field
    id: str
    value: str
    error: str

    @property
    def grouped(self) -> bool:
        return self.spec.widget in {"radio"}

    @property
    def describedby(self) -> str:
        ids = []
        if self.spec.hint:
            ids.append(f"{self.id}-hint")
        if self.error:
            ids.append(f"{self.id}-error")
        return " ".join(ids)

    @property
    def option_groups(self) -> list[tuple[str, list[Choice]]]:
        groups: list[tuple[str, list[Choice]]] = []
        for choice in self.spec.choices:
            if not groups or groups[-1][0] != choice.group:
                groups.append((choice.group, []))
            groups[-1][1].append(choice)
        return groups


class ItemForm(forms.Form):
    """The form of one kind of item; every field is text, the domain validates."""

    def __init__(self, kind: ItemKind, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        for spec in kind.fields:
            self.fields[spec.name] = forms.CharField(
                label=spec.label, required=False, strip=False, max_length=spec.max_length + 100
            )

    def raw(self) -> dict[str, str]:
        """The posted strings (what the domain checks), once `is_valid()` ran."""
        return {name: str(self.cleaned_data.get(name) or "") for name in self.fields}

    def add_errors(self, errors: Mapping[str, str]) -> None:
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)

    def error_links(self) -> list[tuple[str, str]]:
        """(element id, message) pairs for the error summary, in the order of the form."""
        return [(f"{f.id}_0" if f.grouped else f.id, f.error) for f in self.shown() if f.error]

    def shown(self) -> list[ShownField]:
        values = self.data if self.is_bound else self.initial
        return [
            ShownField(
                spec=spec,
                id=f"id_{spec.name}",
                value=str(values.get(spec.name, "") or ""),
                error=" ".join(str(e) for e in self.errors.get(spec.name, [])),
            )
            for spec in self.kind.fields
        ]


class MeasureForm(forms.Form):
    """One measure: value(s), unit, date and time, glucose moment, reason."""

    value = forms.CharField(label=gettext_lazy("Valeur"), required=False, max_length=40)
    systolic = forms.CharField(label=gettext_lazy("Systolique"), required=False, max_length=40)
    diastolic = forms.CharField(label=gettext_lazy("Diastolique"), required=False, max_length=40)
    unit = forms.CharField(label=gettext_lazy("Unité"), required=False, max_length=20)
    date = forms.DateField(
        label=gettext_lazy("Date"),
        error_messages={"required": gettext_lazy("La date de la mesure est obligatoire.")},
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
    )
    time = forms.TimeField(
        label=gettext_lazy("Heure (facultatif)"), required=False, input_formats=["%H:%M"]
    )
    moment = forms.CharField(label=gettext_lazy("Moment"), required=False, max_length=20)
    reason = forms.CharField(
        label=gettext_lazy("Motif (facultatif)"), required=False, max_length=600
    )

    FIELD_OF_ERROR = {"at": "date", "key": None, "value": "value"}

    def __init__(self, definition: MeasureDefinition, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"date": clock.today().isoformat()})
        super().__init__(*args, **kwargs)
        self.definition = definition
        self.fields["date"].error_messages["invalid"] = _("Date non reconnue (jj/mm/aaaa).")
        self.fields["time"].error_messages["invalid"] = _("Heure non reconnue (hh:mm).")

    def measure_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `profile.services.add_measure`."""
        data = self.cleaned_data
        day: dt.date = data["date"]
        at: dt.date | dt.datetime = (
            dt.datetime.combine(day, data["time"], tzinfo=PARIS) if data.get("time") else day
        )
        value: Any
        if self.definition.components:
            value = {"systolic": data["systolic"], "diastolic": data["diastolic"]}
        else:
            value = data["value"]
        return {
            "key": self.definition.key,
            "value": value,
            "unit": data.get("unit") or None,
            "at": at,
            "moment": data.get("moment") or None,
            "reason": data.get("reason") or None,
        }

    def component_fields(self) -> list[tuple[str, str, str, bool]]:
        """(name, label, value typed, in error) of each blood-pressure component."""
        return [
            (
                c.key,
                c.label,
                str(self.data.get(c.key, "")) if self.is_bound else "",
                bool(self.errors.get(c.key)),
            )
            for c in self.definition.components
        ]

    def add_measure_error(self, error: InvalidMeasure) -> None:
        name = self.FIELD_OF_ERROR.get(error.field or "", error.field)
        self.add_error(name if name in self.fields else None, error.message)

    def error_list(self) -> list[tuple[str, str]]:
        """(field id, message) pairs for the error summary, in the order of the form."""
        pairs = [("", str(e)) for e in self.non_field_errors()]
        for name in self.fields:
            pairs += [(f"id_{name}", str(e)) for e in self.errors.get(name, [])]
        return pairs
