"""Login with one-time code, logout, switching between the spaces one holds or represents."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from carnet.core.errors import CarnetError
from carnet.core.requests import client_address
from carnet.identity import services as identity
from carnet.portal import session
from carnet.portal.forms import CodeForm, LoginForm


def _safe_next(request: HttpRequest) -> str:
    """Where to go after logging in, when it is a path of this site (never another host)."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted.startswith("/") and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return ""


@login_not_required
@require_GET
def operator_login(request: HttpRequest) -> HttpResponse:
    """The back office (`/gestion/`) has no login of its own: operators log in like holders,
    password then one-time code, with the same throttling, and come back to where they were."""
    wanted = _safe_next(request) or reverse("admin:index")
    return redirect(f"{reverse('portal:login')}?{urlencode({'next': wanted})}")


@login_not_required
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_safe_next(request) or "portal:home")
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
            request.session[session.AFTER_LOGIN] = _safe_next(request)
            return redirect("portal:login_code")
    context = {"form": form, "next": _safe_next(request)}
    return render(request, "portal/login.html", context, status=400 if form.errors else 200)


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
            after = request.session.pop(session.AFTER_LOGIN, "")
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            actor = identity.actor_for_user(user)
            session.set_spaces(request, [(str(h.pk), str(h)) for h in identity.spaces_of(actor)])
            return redirect(after or "portal:home")
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
