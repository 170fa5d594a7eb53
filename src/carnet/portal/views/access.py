"""The holder's access controls: "Partage" (authorised and blocked professionals, the directory),
"Paramètres" (emergency access, masking everything) and the "Qui peut voir ce document ?" panel.

Views parse, call a service of `carnet.access`, render; the services go through the gate.
Included from `portal/urls.py` with one line, so the URL list lives here with its views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from carnet.access import explain
from carnet.access import services as access
from carnet.core.errors import CarnetError, NotFound
from carnet.core.requests import PortalRequest
from carnet.portal import session
from carnet.portal.forms_access import (
    AccessSettingsForm,
    AuthoriseForm,
    DirectorySearchForm,
    ExtendedRightsForm,
    ProfessionalForm,
    WhoCanSeeForm,
)

DEFAULT_PROFESSION = "10"  # the panel opens on médecins, the profession that reads the most


def _space_id(request: PortalRequest) -> str:
    space_id = session.current_space(request)
    if space_id is None:
        raise Http404
    return space_id


@contextmanager
def _not_found_as_404() -> Iterator[None]:
    try:
        yield
    except NotFound as exc:
        raise Http404 from exc


def _back_to_sharing(request: PortalRequest) -> HttpResponse:
    query = request.POST.get("q", "").strip()[:100]
    url = reverse("portal:sharing")
    return redirect(f"{url}?{urlencode({'q': query})}" if query else url)


def _act(
    request: PortalRequest, call: Callable[[], Any], success: Callable[[Any], str]
) -> HttpResponse:
    """Run a holder's change; a refusal or bad input becomes a French message on the page."""
    try:
        result = call()
    except NotFound as exc:
        raise Http404 from exc
    except CarnetError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success(result))
    return _back_to_sharing(request)


def _invalid(request: PortalRequest, form: Any) -> HttpResponse:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)
    return _back_to_sharing(request)


# --- "Partage" ------------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
def sharing(request: PortalRequest) -> HttpResponse:
    actor, space_id = request.actor, _space_id(request)
    form = DirectorySearchForm(request.GET)
    context: dict[str, Any] = {"search_form": form, "directory": None, "query": ""}
    if form.is_valid() and form.cleaned_data["q"]:
        context["query"] = form.cleaned_data["q"]
        try:
            context["directory"] = access.search_directory(
                actor, query=form.cleaned_data["q"], page=form.cleaned_data["page"] or 1
            )
        except CarnetError as exc:
            form.add_error("q", exc.message)
    if request.htmx:
        return render(request, "portal/access/sharing.html#directory", context)
    with _not_found_as_404():
        context["sharing"] = access.sharing_overview(actor, patient_id=space_id)
    return render(
        request, "portal/access/sharing.html", context, status=400 if form.errors else 200
    )


@require_POST
def authorise(request: PortalRequest) -> HttpResponse:
    form = AuthoriseForm(request.POST)
    if not form.is_valid():
        return _invalid(request, form)
    data = form.cleaned_data
    return _act(
        request,
        lambda: access.authorise_professional(
            request.actor,
            patient_id=_space_id(request),
            professional_id=str(data["professional"]),
            until=data["until"],
            extended_rights=data["extended_rights"],
            medecin_traitant=data["medecin_traitant"],
        ),
        lambda row: (
            _("%(name)s peut désormais consulter votre espace santé.")
            % {"name": row.professional.name}
        ),
    )


@require_POST
def revoke(request: PortalRequest, authorisation_id: Any) -> HttpResponse:
    return _act(
        request,
        lambda: access.revoke_authorisation(
            request.actor,
            patient_id=_space_id(request),
            authorisation_id=str(authorisation_id),
        ),
        lambda _result: _("L'autorisation est retirée."),
    )


@require_POST
def extended_rights(request: PortalRequest, authorisation_id: Any) -> HttpResponse:
    enabled = ExtendedRightsForm(request.POST).is_valid() and request.POST.get("enabled") == "on"
    return _act(
        request,
        lambda: access.set_extended_rights(
            request.actor,
            patient_id=_space_id(request),
            authorisation_id=str(authorisation_id),
            enabled=enabled,
        ),
        lambda _result: (
            _("Droits étendus accordés : ce professionnel voit aussi vos documents masqués.")
            if enabled
            else _("Droits étendus retirés : ce professionnel ne voit plus vos documents masqués.")
        ),
    )


@require_POST
def block(request: PortalRequest) -> HttpResponse:
    form = ProfessionalForm(request.POST)
    if not form.is_valid():
        return _invalid(request, form)
    return _act(
        request,
        lambda: access.block_professional(
            request.actor,
            patient_id=_space_id(request),
            professional_id=str(form.cleaned_data["professional"]),
        ),
        lambda row: (
            _("%(name)s est bloqué(e) : aucun accès à votre espace santé n'est possible.")
            % {"name": row.professional.name}
        ),
    )


@require_POST
def unblock(request: PortalRequest, block_id: Any) -> HttpResponse:
    return _act(
        request,
        lambda: access.unblock_professional(
            request.actor,
            patient_id=_space_id(request),
            block_id=str(block_id),
        ),
        lambda _result: _(
            "Le professionnel est débloqué : ses autorisations s'appliquent de nouveau."
        ),
    )


# --- "Paramètres" -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def access_settings(request: PortalRequest) -> HttpResponse:
    actor, space_id = request.actor, _space_id(request)
    with _not_found_as_404():
        if request.method == "POST":
            form = AccessSettingsForm(request.POST)
            form.full_clean()  # only checkboxes: always valid
            access.update_access_settings(
                actor,
                patient_id=space_id,
                break_glass_opposed=not form.cleaned_data["break_glass_allowed"],
                centre_15_opposed=not form.cleaned_data["centre_15_allowed"],
                mask_all=form.cleaned_data["mask_all"],
            )
            messages.success(request, _("Vos paramètres de confidentialité sont enregistrés."))
            return redirect("portal:access_settings")
        form = AccessSettingsForm.from_settings(access.access_settings(actor, patient_id=space_id))
    return render(request, "portal/access/settings.html", {"form": form})


# --- "Qui peut voir ce document ?" ----------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
def document_who_can_see(request: PortalRequest, document_id: Any) -> HttpResponse:
    form = WhoCanSeeForm(request.GET or {"profession": DEFAULT_PROFESSION})
    form.is_valid()  # errors are shown next to the choices; the service decides what is valid
    explanation = None
    try:
        explanation = explain.who_can_see(
            request.actor,
            document_id=str(document_id),
            profession_code=form.data.get("profession") or DEFAULT_PROFESSION,
            pharmacist_section=form.data.get("section") or "",
            specialty=form.data.get("specialty") or "",
        )
    except NotFound as exc:
        raise Http404 from exc
    except CarnetError as exc:  # an unknown profession or section
        if not form.errors:
            form.add_error(None, exc.message)
    template = "portal/access/who_can_see.html"
    context = {"form": form, "explanation": explanation, "document_id": document_id}
    if request.htmx:
        return render(request, f"{template}#panel", context)
    return render(request, template, context, status=400 if form.errors else 200)


urlpatterns = [
    path("partage/", sharing, name="sharing"),
    path("partage/autoriser/", authorise, name="sharing_authorise"),
    path("partage/autorisations/<uuid:authorisation_id>/retirer/", revoke, name="sharing_revoke"),
    path(
        "partage/autorisations/<uuid:authorisation_id>/droits-etendus/",
        extended_rights,
        name="sharing_extended_rights",
    ),
    path("partage/bloquer/", block, name="sharing_block"),
    path("partage/blocages/<uuid:block_id>/lever/", unblock, name="sharing_unblock"),
    path("parametres/", access_settings, name="access_settings"),
    path(
        "documents/<uuid:document_id>/qui-peut-voir/",
        document_who_can_see,
        name="document_who_can_see",
    ),
]
