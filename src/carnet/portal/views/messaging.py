"""The holder's secure messaging ("Messagerie"): inbox, conversation, reply with attachments, new
message to an allowed correspondent, saving an attachment into the documents, deleting a
conversation from the inbox, sending a failed reply again.

Views parse, call `messaging.services`, render; the services decide through the access gate and
trace every read and write, and anything the actor may not see is a plain 404. Included from
`portal/urls.py` with one line, so the URL list lives here with its views.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from carnet.core.errors import CarnetError, NotFound
from carnet.documents import classification
from carnet.messaging import config
from carnet.messaging import services as messaging
from carnet.messaging.inbound import sniff_content_type
from carnet.portal import session

DOWNLOAD_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
MAX_FILES = messaging.MAX_REPLY_FILES


# --- Forms --------------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if len(files) > MAX_FILES:
            raise forms.ValidationError(_("Joignez au plus %(n)s fichiers.") % {"n": MAX_FILES})
        limit = config.max_attachment_bytes()
        for upload in files:
            if (upload.size or 0) > limit:
                raise forms.ValidationError(
                    _("« %(name)s » dépasse %(mb)s Mo.")
                    % {"name": upload.name, "mb": limit // (1024 * 1024)}
                )
        return [super(MultipleFileField, self).clean(upload, initial) for upload in files]


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Votre réponse"),
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=messaging.MAX_BODY_CHARS,
    )
    pieces = MultipleFileField(
        label=gettext_lazy("Pièces jointes (PDF, JPEG ou PNG, 10 Mo au plus chacune)"),
        required=False,
    )


class NewMessageForm(ReplyForm):
    correspondent = forms.ChoiceField(label=gettext_lazy("Destinataire"))
    subject = forms.CharField(label=gettext_lazy("Objet"), max_length=200)
    field_order = ["correspondent", "subject", "body", "pieces"]

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["correspondent"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101 (declared above)
        field.choices = choices
        self.fields["body"].label = gettext_lazy("Message")


def category_choices() -> list[tuple[str, str]]:
    return [(c.slug, c.label) for c in classification.holder_categories()]


def _outgoing(form: ReplyForm) -> list[messaging.OutgoingFile]:
    files = []
    for upload in form.cleaned_data.get("pieces") or []:
        data = upload.read()
        files.append(
            messaging.OutgoingFile(
                upload.name or "", sniff_content_type(data) or "application/octet-stream", data
            )
        )
    return files


# --- Views --------------------------------------------------------------------------------------


def _space_id(request: HttpRequest) -> str:
    space_id = session.current_space(request)
    if space_id is None:
        raise Http404
    return space_id


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    rows = messaging.inbox(_actor(request), patient_id=_space_id(request))
    return render(request, "portal/messaging/inbox.html", {"rows": rows})


def _conversation_page(
    request: HttpRequest, conversation_id: str, form: ReplyForm, status: int = 200
) -> HttpResponse:
    try:
        view = messaging.read_conversation(_actor(request), conversation_id)
    except NotFound as exc:
        raise Http404 from exc
    context = {
        "view": view,
        "form": form,
        "categories": category_choices(),
        "agenda_available": messaging.agenda_available(),
    }
    return render(request, "portal/messaging/conversation.html", context, status=status)


@require_GET
def conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    return _conversation_page(request, str(conversation_id), ReplyForm())


@require_POST
def reply(request: HttpRequest, conversation_id: str) -> HttpResponse:
    form = ReplyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            messaging.reply(
                _actor(request),
                str(conversation_id),
                body=form.cleaned_data["body"],
                files=_outgoing(form),
            )
        except NotFound as exc:
            raise Http404 from exc
        except CarnetError as exc:
            form.add_error("pieces" if exc.field == "files" else None, exc.message)
        else:
            messages.success(request, _("Votre message est envoyé."))
            return redirect("portal:messaging_conversation", conversation_id=conversation_id)
    return _conversation_page(request, str(conversation_id), form, status=400)


@require_http_methods(["GET", "POST"])
def new_message(request: HttpRequest) -> HttpResponse:
    actor, space_id = _actor(request), _space_id(request)
    correspondents = messaging.allowed_correspondents(actor, patient_id=space_id)
    choices = [(c.key, _correspondent_label(c)) for c in correspondents]
    form = NewMessageForm(request.POST or None, request.FILES or None, choices=choices)
    if request.method == "POST" and form.is_valid():
        try:
            created = messaging.start_conversation(
                actor,
                patient_id=space_id,
                correspondent=form.cleaned_data["correspondent"],
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                files=_outgoing(form),
            )
        except CarnetError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Votre message est envoyé."))
            return redirect("portal:messaging_conversation", conversation_id=created.pk)
    context = {"form": form, "correspondents": correspondents}
    status = 400 if form.errors else 200
    return render(request, "portal/messaging/new.html", context, status=status)


def _correspondent_label(correspondent: messaging.Correspondent) -> str:
    parts = [correspondent.name, correspondent.profession, correspondent.organisation]
    return " — ".join(part for part in parts if part)


@require_POST
def hide(request: HttpRequest, conversation_id: str) -> HttpResponse:
    try:
        messaging.hide_conversation(_actor(request), str(conversation_id))
    except NotFound as exc:
        raise Http404 from exc
    messages.success(
        request,
        _("La conversation est supprimée de votre messagerie (elle reste dans l'historique)."),
    )
    return redirect("portal:messaging_inbox")


@require_GET
def attachment(request: HttpRequest, attachment_id: str) -> HttpResponse:
    try:
        found, data = messaging.open_attachment(_actor(request), str(attachment_id))
    except NotFound as exc:
        raise Http404 from exc
    response = HttpResponse(data, content_type=found.content_type or "application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, found.filename) or ""
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_POST
def save_attachment(request: HttpRequest, conversation_id: str, attachment_id: str) -> HttpResponse:
    category = request.POST.get("category") or None
    if category is not None and category not in dict(category_choices()):
        category = None
    try:
        result = messaging.save_attachment(_actor(request), str(attachment_id), category=category)
    except NotFound as exc:
        raise Http404 from exc
    except CarnetError as exc:
        messages.error(request, exc.message)
    else:
        text = (
            _("Enregistré dans vos documents.") if result.created else _("Déjà dans vos documents.")
        )
        messages.success(request, text)
    return redirect("portal:messaging_conversation", conversation_id=conversation_id)


@require_POST
def retry(request: HttpRequest, conversation_id: str, message_id: str) -> HttpResponse:
    try:
        messaging.retry_delivery(_actor(request), str(message_id))
    except NotFound as exc:
        raise Http404 from exc
    except CarnetError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Nouvel essai d'envoi programmé."))
    return redirect(reverse("portal:messaging_conversation", args=[conversation_id]))


urlpatterns = [
    path("", inbox, name="messaging_inbox"),
    path("nouveau/", new_message, name="messaging_new"),
    path("<uuid:conversation_id>/", conversation, name="messaging_conversation"),
    path("<uuid:conversation_id>/repondre/", reply, name="messaging_reply"),
    path("<uuid:conversation_id>/supprimer/", hide, name="messaging_hide"),
    path(
        "<uuid:conversation_id>/pieces-jointes/<uuid:attachment_id>/enregistrer/",
        save_attachment,
        name="messaging_save_attachment",
    ),
    path(
        "<uuid:conversation_id>/envois/<uuid:message_id>/renvoyer/",
        retry,
        name="messaging_retry",
    ),
    path("pieces-jointes/<uuid:attachment_id>/", attachment, name="messaging_attachment"),
]
