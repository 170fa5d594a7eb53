"""The holder's "Historique des accès": the trace of every action by anyone but the holder,
filterable by person, action and dates, paged, and exportable as CSV (streamed).

Included from `portal/urls.py` with one line, so the URL list lives here with its views.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from carnet.access import trace as traces
from carnet.core.errors import NotFound
from carnet.core.requests import PortalRequest
from carnet.portal import session
from carnet.portal.forms_access import TraceFilterForm

CSV_NAME = "historique-des-acces.csv"


def _space_id(request: PortalRequest) -> str:
    space_id = session.current_space(request)
    if space_id is None:
        raise Http404
    return space_id


@require_GET
@vary_on_headers("HX-Request")
def trace(request: PortalRequest) -> HttpResponse:
    form = TraceFilterForm(request.GET)
    filters = form.filters()
    try:
        view = traces.read_trace(
            request.actor,
            patient_id=_space_id(request),
            filters=filters,
            page=form.page_number(),
        )
    except NotFound as exc:
        raise Http404 from exc
    context = {"form": form, "view": view, "export_query": urlencode(filters.as_params())}
    status = 400 if form.errors else 200
    if request.htmx:
        return render(request, "portal/trace/trace.html#results", context, status=200)
    return render(request, "portal/trace/trace.html", context, status=status)


class _Echo:
    """A file-like object whose `write` returns what it is given, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


def _lines(rows: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Echo(), delimiter=";", quoting=csv.QUOTE_MINIMAL)
    yield "\ufeff"  # byte-order mark: spreadsheets then read the file as UTF-8
    for row in rows:
        yield writer.writerow(row)


@require_GET
def trace_csv(request: PortalRequest) -> HttpResponseBase:
    form = TraceFilterForm(request.GET)
    if not form.is_valid():  # the page says what to correct
        return redirect(f"{reverse('portal:trace')}?{urlencode(request.GET.dict())}")
    try:
        rows = traces.export_trace(
            request.actor,
            patient_id=_space_id(request),
            filters=form.filters(),
        )
    except NotFound as exc:
        raise Http404 from exc
    response = StreamingHttpResponse(_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{CSV_NAME}"'
    return response


urlpatterns: list[Any] = [
    path("", trace, name="trace"),
    path("export.csv", trace_csv, name="trace_csv"),
]
