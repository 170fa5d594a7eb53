"""Login with one-time code, logout, switching between the spaces one holds or represents."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from carnet.core.errors import CarnetError
from carnet.core.requests import client_address
from carnet.identity import services as identity
from carnet.portal import session
from carnet.portal.forms import CodeForm, LoginForm


@login_not_required
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:home")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = identity.start_login(
                form.cleaned_data["identifier"],
                form.cleaned_data["password"],
                client_address=client_address(request),
            )
        except CarnetError as exc:
            form.add_error(None, exc.message)
        else:
            request.session.cycle_key()
            request.session[session.PENDING_LOGIN] = str(user.pk)
            return redirect("portal:login_code")
    return render(request, "portal/login.html", {"form": form}, status=400 if form.errors else 200)


@login_not_required
@require_http_methods(["GET", "POST"])
def login_code_view(request: HttpRequest) -> HttpResponse:
    user = identity.pending_login_user(request.session.get(session.PENDING_LOGIN))
    if user is None:
        return redirect("portal:login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            identity.verify_login_code(
                user, form.cleaned_data["code"], client_address=client_address(request)
            )
        except CarnetError as exc:
            form.add_error(None, exc.message)
        else:
            del request.session[session.PENDING_LOGIN]
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            actor = identity.actor_for_user(user)
            session.set_spaces(request, [(str(h.pk), str(h)) for h in identity.spaces_of(actor)])
            return redirect("portal:home")
    return render(
        request, "portal/login_code.html", {"form": form}, status=400 if form.errors else 200
    )


@login_not_required
@require_POST
def login_code_resend(request: HttpRequest) -> HttpResponse:
    user = identity.pending_login_user(request.session.get(session.PENDING_LOGIN))
    if user is None:
        return redirect("portal:login")
    if identity.resend_login_code(user, client_address=client_address(request)):
        messages.success(request, _("Un nouveau code vous a été envoyé."))
    else:
        messages.error(
            request,
            _(
                "Plusieurs codes vous ont déjà été envoyés : utilisez le dernier reçu, ou "
                "patientez quelques minutes avant d'en demander un nouveau."
            ),
        )
    return redirect("portal:login_code")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.success(request, _("Vous êtes déconnecté."))
    return redirect("portal:login")


@require_POST
def switch_space(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("space", "")
    if wanted in {space["pk"] for space in session.spaces(request)}:
        request.session[session.CURRENT_SPACE] = wanted
    return redirect("portal:home")
