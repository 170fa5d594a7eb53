"""Medical profile pages: the overview (summary card, completeness), each section's items,
the item forms (add, correct, delete, hide from professionals) and the synthesis PDF.

Views parse, call `profile.services` / `profile.summary` / `profile.synthesis` (which go through
the access gate), and render. A refusal or a missing item is a plain 404; a domain error is a
French message on the same form, with what was typed kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from carnet.core.errors import CarnetError, NotFound
from carnet.core.requests import PortalRequest
from carnet.portal.forms_profile import ItemForm
from carnet.portal.views.home import current_space
from carnet.profile import kinds, services, summary, synthesis
from carnet.profile.items import InvalidItem
from carnet.profile.sections import MESURES

View = Callable[..., HttpResponse]


def not_found_as_404(view: View) -> View:
    """A refusal or a missing target is the same 404 page (existence is never confirmed)."""

    @functools.wraps(view)
    def wrapper(request: PortalRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404 from exc

    return wrapper


def _page(request: PortalRequest, template: str, status: int = 200, **context: Any) -> HttpResponse:
    context.setdefault("portal_space", current_space(request))
    return render(request, template, context, status=status)


def _section_page(request: PortalRequest, slug: str) -> HttpResponse:
    section = services.section_or_404(slug)
    space = current_space(request)
    rows = services.list_items(request.actor, patient_id=str(space.pk), section=slug)
    present = {item.kind for item in rows}
    return _page(
        request,
        "portal/profile/section.html",
        portal_space=space,
        section=section,
        items=[services.view_item(request.actor, item) for item in rows],
        kinds=[k for k in kinds.kinds_of(slug) if k.fields and not (k.single and k.key in present)],
        none_kinds=[k for k in kinds.kinds_of(slug) if k.none_of and not present],
    )


@require_GET
@not_found_as_404
def overview(request: PortalRequest) -> HttpResponse:
    space = current_space(request)
    found = summary.profile_overview(request.actor, patient_id=str(space.pk))
    return _page(request, "portal/profile/overview.html", portal_space=space, overview=found)


@require_GET
@not_found_as_404
def section(request: PortalRequest, slug: str) -> HttpResponse:
    if slug == MESURES:
        return redirect("portal:profile_measures")
    return _section_page(request, slug)


def _form_page(
    request: PortalRequest, form: ItemForm, *, section: str, title: str, status: int = 200
) -> HttpResponse:
    return _page(
        request,
        "portal/profile/item_form.html",
        status,
        form=form,
        fields=form.shown(),
        section=services.section_or_404(section),
        title=title,
    )


def _back_to(section: str) -> HttpResponse:
    if section == MESURES:
        return redirect("portal:profile_measures")
    return redirect("portal:profile_section", slug=section)


@require_http_methods(["GET", "POST"])
@not_found_as_404
def item_add(request: PortalRequest, slug: str, kind: str) -> HttpResponse:
    definition = kinds.get_kind(kind)
    if (
        definition is None
        or definition.section != slug
        or not (definition.fields or definition.none_of)
    ):
        raise Http404
    form = ItemForm(definition, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_item(
                request.actor,
                patient_id=str(current_space(request).pk),
                kind=kind,
                data=form.raw(),
            )
        except InvalidItem as exc:
            form.add_errors(exc.errors)
        except CarnetError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, _("« %(label)s » a été ajouté.") % {"label": definition.label}
            )
            return _back_to(slug)
    status = 400 if form.errors else 200
    return _form_page(request, form, section=slug, title=definition.add_label, status=status)


@require_http_methods(["GET", "POST"])
@not_found_as_404
def item_edit(request: PortalRequest, item_id: str) -> HttpResponse:
    item = services.get_item(request.actor, str(item_id))
    kind = services.item_kind(item)
    form = ItemForm(
        kind,
        request.POST if request.method == "POST" else None,
        initial=services.item_form_data(item),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_item(request.actor, str(item_id), data=form.raw())
        except InvalidItem as exc:
            form.add_errors(exc.errors)
        except CarnetError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Les modifications ont été enregistrées."))
            return _back_to(item.section)
    title = _("Modifier : %(title)s") % {"title": item.title}
    status = 400 if form.errors else 200
    return _form_page(request, form, section=item.section, title=title, status=status)


@require_http_methods(["GET", "POST"])
@not_found_as_404
def item_delete(request: PortalRequest, item_id: str) -> HttpResponse:
    item = services.get_item(request.actor, str(item_id))
    shown = services.view_item(request.actor, item)
    if request.method == "POST":
        try:
            services.delete_item(request.actor, str(item_id))
        except CarnetError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("« %(title)s » a été supprimé.") % {"title": shown.title})
        return _back_to(item.section)
    section = services.section_or_404(item.section)
    return _page(request, "portal/profile/delete.html", shown=shown, section=section)


@require_POST
@not_found_as_404
def item_hide(request: PortalRequest, item_id: str) -> HttpResponse:
    hidden = request.POST.get("masquer") == "1"
    try:
        item = services.set_item_hidden(request.actor, str(item_id), hidden=hidden)
    except CarnetError as exc:
        if isinstance(exc, NotFound):
            raise
        messages.error(request, exc.message)
        return redirect("portal:profile")
    shown = services.view_item(request.actor, item)
    if request.htmx:
        return render(request, "portal/profile/section.html#item", {"shown": shown})
    done = _("Élément masqué aux professionnels.") if hidden else _("Élément de nouveau visible.")
    messages.success(request, done)
    return _back_to(item.section)


@require_GET
@not_found_as_404
def synthesis_pdf(request: PortalRequest) -> HttpResponse:
    space = current_space(request)
    document = synthesis.render_synthesis(request.actor, patient_id=str(space.pk))
    response = HttpResponse(document.content, content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(True, document.filename) or ""
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'; sandbox"
    return response


@require_POST
@not_found_as_404
def synthesis_share(request: PortalRequest) -> HttpResponse:
    space = current_space(request)
    try:
        synthesis.share_synthesis(request.actor, patient_id=str(space.pk))
    except CarnetError as exc:
        if isinstance(exc, NotFound):
            raise
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _(
                "La synthèse de votre profil médical a été ajoutée à vos documents : les "
                "professionnels autorisés peuvent la consulter."
            ),
        )
    return redirect("portal:profile")
