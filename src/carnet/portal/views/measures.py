"""Health measures pages: the measures of the profile with their last value, and one page per
measure with its chart over time, the accessible table of values and the entry form.

The entry form posts with htmx when it can: the answer is the page's `panel` fragment (chart,
table and a fresh form, or the form with its errors), so the chart updates in place; without
JavaScript the same view answers with a redirect (post/redirect/get) or the full page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from carnet.core.errors import CarnetError, NotFound
from carnet.core.requests import PortalRequest
from carnet.portal.forms_profile import MeasureForm
from carnet.portal.views.home import current_space
from carnet.portal.views.profile import not_found_as_404
from carnet.profile import kinds, services, summary
from carnet.profile import measures as measure_rules
from carnet.profile.measures import InvalidMeasure
from carnet.profile.sections import MESURES, get_section


def _definition(key: str) -> Any:
    definition = measure_rules.catalogue().get(key)
    if definition is None or not definition.writable:
        raise Http404
    return definition


@require_GET
@not_found_as_404
def measures(request: PortalRequest) -> HttpResponse:
    space = current_space(request)
    actor = request.actor
    found = summary.profile_overview(actor, patient_id=str(space.pk))
    items = services.list_items(actor, patient_id=str(space.pk), section=MESURES)
    context = {
        "portal_space": space,
        "section": get_section(MESURES),
        "overview": found,
        "items": [services.view_item(actor, item) for item in items],
        "blood_group_kind": None if items else kinds.get_kind("groupe-sanguin"),
    }
    return render(request, "portal/profile/measures.html", context)


def _measure_page(
    request: PortalRequest, key: str, form: MeasureForm, status: int, *, saved: bool = False
) -> HttpResponse:
    space = current_space(request)
    series = summary.measure_series(request.actor, patient_id=str(space.pk), key=key)
    template = "portal/profile/measure.html"
    if request.htmx:
        template += "#panel"
    context = {
        "portal_space": space,
        "series": series,
        "form": form,
        "definition": form.definition,
        "saved": saved,
    }
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@not_found_as_404
def measure(request: PortalRequest, key: str) -> HttpResponse:
    definition = _definition(key)
    form = MeasureForm(definition, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_measure(
                request.actor,
                patient_id=str(current_space(request).pk),
                **form.measure_arguments(),
            )
        except InvalidMeasure as exc:
            form.add_measure_error(exc)
        else:
            if request.htmx:
                return _measure_page(request, key, MeasureForm(definition), 200, saved=True)
            messages.success(request, _("Mesure enregistrée."))
            return redirect("portal:profile_measure", key=key)
    # htmx swaps only 2xx answers: a refused measure is shown in place with 200, and keeps the
    # 400 of an invalid form for a plain POST.
    invalid = form.errors and not request.htmx
    return _measure_page(request, key, form, 400 if invalid else 200)


@require_POST
@not_found_as_404
def measure_delete(request: PortalRequest, key: str, measure_id: str) -> HttpResponse:
    _definition(key)
    try:
        services.delete_measure(request.actor, str(measure_id))
    except CarnetError as exc:
        if isinstance(exc, NotFound):
            raise
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Mesure supprimée."))
    return redirect("portal:profile_measure", key=key)
