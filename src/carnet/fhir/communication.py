"""FHIR `Communication`: secure messages for professional software that does not send mail.

- `POST /Communication` writes to a holder: a new conversation, or a reply in one of the
  practitioner's own (`inResponseTo`). The subject is `Patient/<id>` or the patient's INS
  (`subject.identifier`, system `urn:oid:<INS OID>`); `topic.text` is the subject line (`[FIN]`
  closes the conversation to replies, as by mail); `payload` holds the text and attachments.
- `GET /Communication?subject=Patient/<id>` (or `patient=<id>`) lists the messages of the
  practitioner's conversations, both directions; `GET /Communication/<id>` reads one, with the
  attachments' content. A practitioner sees only the conversations they take part in.

Adapter only: the messaging services decide (through the access gate) and store.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from fhir.resources.R4B.communication import Communication
from ninja import Router
from pydantic import ValidationError

from carnet.access.actors import Actor
from carnet.core.errors import InvalidInput
from carnet.fhir import capability, emitted
from carnet.fhir.outcome import fhir_response
from carnet.messaging import services as messaging

router = Router(tags=["FHIR"])

MESSAGE_ID_SYSTEM = "urn:ietf:rfc:5322"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
MAX_BODY_BYTES = 30 * 1024 * 1024  # 20 MB of attachments once base64-decoded, and the text

capability.declare(
    "Communication",
    interactions=["create", "read", "search-type"],
    search_params=[
        ("subject", "reference", "Patient/<id> : les messages échangés avec ce titulaire."),
        ("patient", "reference", "Identifiant du titulaire (même sens que subject)."),
        ("_count", "number", "Nombre de messages par page (100 au plus)."),
        ("_offset", "number", "Rang du premier message renvoyé."),
    ],
)


def _actor(request: HttpRequest) -> Actor:
    return request.auth  # type: ignore[attr-defined, no-any-return]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _professional_party(message: Any) -> dict[str, Any]:
    professional = message.conversation.professional
    party: dict[str, Any] = {"display": message.conversation.correspondent_name}
    if professional is not None:
        party["identifier"] = {"system": IDNPS_SYSTEM, "value": f"8{professional.rpps}"}
    return party


def communication_resource(
    message: Any, attachments: list[Any], *, parent_id: str | None, data: dict[str, bytes]
) -> dict[str, Any]:
    """One message as a FHIR Communication; attachments carry their content when in `data`."""
    holder = {"reference": f"Patient/{message.patient_id}"}
    professional = _professional_party(message)
    inbound = message.direction == "in"
    payload: list[dict[str, Any]] = []
    if message.body:
        payload.append({"contentString": message.body})
    for attachment in attachments:
        content: dict[str, Any] = {
            "contentType": attachment.content_type,
            "title": attachment.title or attachment.filename,
            "size": attachment.size,
        }
        if str(attachment.pk) in data:
            content["data"] = base64.b64encode(data[str(attachment.pk)]).decode("ascii")
        payload.append({"contentAttachment": content})
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": str(message.pk),
        "identifier": [{"system": MESSAGE_ID_SYSTEM, "value": message.message_id}],
        "status": "completed",
        "subject": holder,
        "topic": {"text": message.subject},
        "sent": _iso(message.sent_at),
        "received": _iso(message.received_at),
        "sender": professional if inbound else holder,
        "recipient": [holder if inbound else professional],
        "payload": payload or [{"contentString": ""}],
    }
    if parent_id:
        resource["inResponseTo"] = [{"reference": f"Communication/{parent_id}"}]
    emitted.check(Communication, resource)
    return resource


def _resource(actor: Actor, message: Any, *, with_data: bool) -> dict[str, Any]:
    attachments = messaging.attachments_of(actor, message)
    data = {str(a.pk): messaging.attachment_content(a) for a in attachments} if with_data else {}
    parent = messaging.thread_parent(message)
    return communication_resource(
        message, attachments, parent_id=str(parent.pk) if parent else None, data=data
    )


@router.get("/Communication/{message_id}", include_in_schema=False)
def communication_read(request: HttpRequest, message_id: str) -> HttpResponse:
    actor = _actor(request)
    message = messaging.get_message(actor, message_id)
    return fhir_response(_resource(actor, message, with_data=True))


def _patient_param(request: HttpRequest) -> str | None:
    subject = request.GET.get("subject") or request.GET.get("patient")
    if subject is None:
        return None
    return subject.removeprefix("Patient/")


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    value = request.GET.get(name, "")
    if not value:
        return default
    if not value.isdigit():
        raise InvalidInput(f"Le paramètre {name} doit être un entier positif.", field=name)
    return int(value)


@router.get("/Communication", include_in_schema=False)
def communication_search(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    count, offset = _int_param(request, "_count", 20), _int_param(request, "_offset", 0)
    rows, total = messaging.search_messages(
        actor, patient_id=_patient_param(request), offset=offset, limit=count
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "entry": [
            {
                "fullUrl": f"Communication/{row.pk}",
                "resource": _resource(actor, row, with_data=False),
                "search": {"mode": "match"},
            }
            for row in rows
        ],
    }
    return fhir_response(bundle)


def _parse(request: HttpRequest) -> Communication:
    if len(request.body) > MAX_BODY_BYTES:
        raise InvalidInput("La ressource Communication est trop volumineuse.", field="payload")
    try:
        data = json.loads(request.body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("Le corps de la requête n'est pas du JSON valide.") from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Communication":
        raise InvalidInput("Une ressource Communication est attendue.", field="resourceType")
    try:
        return Communication.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise InvalidInput(f"Communication invalide : {first.get('msg', '')}", field=where) from exc


def _subject(resource: Communication) -> tuple[str | None, tuple[str, str] | None]:
    subject = resource.subject
    if subject is None:
        raise InvalidInput("Le titulaire destinataire (subject) est obligatoire.", field="subject")
    if subject.reference:
        return str(subject.reference).removeprefix("Patient/"), None
    identifier = subject.identifier
    if identifier is not None and identifier.system and identifier.value:
        return None, (str(identifier.value), str(identifier.system).removeprefix("urn:oid:"))
    raise InvalidInput(
        "subject doit désigner le titulaire : Patient/<id> ou son INS (identifier).",
        field="subject",
    )


def _decoded(data: object, where: str) -> bytes:
    """fhir.resources already decodes base64Binary; a plain string is decoded here."""
    if isinstance(data, bytes):
        return data
    try:
        return base64.b64decode(str(data), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("Contenu base64 illisible.", field=where) from exc


def _payload(resource: Communication) -> tuple[str, list[messaging.IncomingFile]]:
    texts: list[str] = []
    files: list[messaging.IncomingFile] = []
    for index, part in enumerate(resource.payload or []):
        if part.contentString is not None:
            texts.append(str(part.contentString))
            continue
        attachment = part.contentAttachment
        if attachment is None or attachment.data is None:
            raise InvalidInput(
                "Chaque pièce jointe doit porter son contenu (contentAttachment.data).",
                field=f"payload[{index}]",
            )
        content = _decoded(attachment.data, f"payload[{index}]")
        files.append(
            messaging.IncomingFile(
                filename=str(attachment.title or f"piece-jointe-{index + 1}"),
                content_type=str(attachment.contentType or "application/octet-stream"),
                content=content,
                title=str(attachment.title or ""),
            )
        )
    return "\n\n".join(texts), files


@router.post("/Communication", include_in_schema=False)
def communication_create(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    resource = _parse(request)
    patient_id, ins = _subject(resource)
    body, files = _payload(resource)
    parent = resource.inResponseTo[0] if resource.inResponseTo else None
    received = messaging.send_as_professional(
        actor,
        patient_id=patient_id,
        patient_ins=ins,
        subject=str(resource.topic.text) if resource.topic and resource.topic.text else "",
        body=body,
        files=files,
        in_reply_to=str(parent.reference).removeprefix("Communication/")
        if parent is not None and parent.reference
        else None,
    )
    created = _resource(actor, received.message, with_data=False)
    return fhir_response(
        created,
        status=201 if received.created else 200,
        Location=f"Communication/{received.message.pk}",
    )
