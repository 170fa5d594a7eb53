"""Notifications in the portal: the full list, marking as read, and "Paramètres › Notifications".

The home page shows the latest ones (`home.home` calls the same service). Included from
`portal/urls.py` with one line, so the URL list lives here with its views.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from carnet.core.errors import CarnetError, NotFound
from carnet.core.requests import PortalRequest
from carnet.notifications import services as notifications
from carnet.notifications.kinds import NotificationKind
from carnet.portal import session
from carnet.portal.sections import BY_SLUG

LIST_LIMIT = 50


class PreferencesForm(forms.Form):
    email = forms.MultipleChoiceField(
        label=gettext_lazy("Recevoir un e-mail"),
        choices=[(kind.value, kind.info.label) for kind in NotificationKind],
        required=False,
    )


def _space_id(request: PortalRequest) -> str:
    space_id = session.current_space(request)
    if space_id is None:
        raise Http404
    return space_id


def _back(request: PortalRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=False):
        target = reverse("portal:home")
    return redirect(target)


def notification_list(request: PortalRequest) -> HttpResponse:
    # The list is a search: the gate filters it (an unknown space shows nothing, never an error).
    found = notifications.latest(request.actor, _space_id(request), limit=LIST_LIMIT)
    return render(request, "portal/notifications/list.html", {"notifications": found})


@require_POST
def mark_read(request: PortalRequest, pk: int) -> HttpResponse:
    try:
        notifications.mark_read(request.actor, _space_id(request), pk)
    except CarnetError as exc:  # not found, or not theirs: the same answer
        raise Http404 from exc
    return _back(request)


@require_POST
def mark_all_read(request: PortalRequest) -> HttpResponse:
    try:
        notifications.mark_all_read(request.actor, _space_id(request))
    except CarnetError as exc:
        raise Http404 from exc
    return _back(request)


@require_http_methods(["GET", "POST"])
def preferences(request: PortalRequest) -> HttpResponse:
    actor, space_id = request.actor, _space_id(request)
    form = PreferencesForm(request.POST or None)
    try:
        if request.method == "POST" and form.is_valid():
            notifications.update_preferences(
                actor, space_id, email_kinds=form.cleaned_data["email"]
            )
            messages.success(request, _("Vos préférences de notification sont enregistrées."))
            return redirect("portal:notification_preferences")
        rows = notifications.preferences(actor, space_id)
    except NotFound as exc:
        raise Http404 from exc
    except CarnetError as exc:
        form.add_error(None, exc.message)
        rows = notifications.preferences(actor, space_id)
    context = {"rows": rows, "form": form, "settings_url": _settings_url()}
    return render(
        request,
        "portal/notifications/preferences.html",
        context,
        status=400 if form.errors else 200,
    )


def _settings_url() -> str:
    """The "Paramètres" page (its own view once built, the section page until then)."""
    section = BY_SLUG["parametres"]
    if section.url_name:
        return reverse(section.url_name)
    return reverse("portal:section", args=[section.slug])


urlpatterns = [
    path("notifications/", notification_list, name="notifications"),
    path("notifications/<int:pk>/lue/", mark_read, name="notification_read"),
    path("notifications/tout-lu/", mark_all_read, name="notifications_read_all"),
    path("parametres/notifications/", preferences, name="notification_preferences"),
]
