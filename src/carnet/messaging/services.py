"""Secure messaging between holders and professionals (MSSanté-compatible).

Invariants:
- Every public function takes the actor first and goes through `access.gate`: `authorize` for
  reads, `visible` for the holder's inbox, a pre-checked grant recorded inside the write
  transaction for writes. A professional reads and writes only in the conversations they take
  part in; the MSSanté gateway (system actor `mss-gateway`) only delivers received mail.
- A professional or an establishment opens a conversation; the holder replies. The holder opens
  one only with a professional who already wrote to this space, or a pharmacy where the insurer's
  data show a reimbursement in the past year; never with another holder (a patient address is
  never a correspondent, and mail from the patient domain is never accepted).
- A message is stored once per space and Message-ID: a sender's retry finds it there.
- Attachment content is encrypted with the patient's data key before the rows are committed; a
  failed write removes what it stored. Opposed, closed or not yet created spaces receive nothing.
- A professional message with `X-MSS-MES: FIN` or `[FIN]` closes the conversation to replies;
  it stays closed.
- The holder's replies go to the professional's MSSanté address through the outbox (`outbound`),
  retried until sent or failed for good, and never lost: the holder sees each one's state.
- Deleting a conversation hides its messages from the holder only; they stay in the trace and
  remain visible to the professional who took part.
"""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind
from carnet.access.errors import AccessDenied
from carnet.access.policy import MSS_GATEWAY_ID, DocumentFacts, Target
from carnet.core import clock
from carnet.core.errors import InvalidInput, NotFound
from carnet.identity import ins as ins_rules
from carnet.identity.models import Holder, Organisation, Professional, SpaceStatus
from carnet.identity.professions import profession, specialty
from carnet.messaging import config, content
from carnet.messaging.errors import (
    AttachmentRefused,
    ConversationClosed,
    CorrespondentNotAllowed,
    NotSaveable,
    SpaceUnavailable,
)
from carnet.messaging.inbound import (
    display_subject,
    recipient_ins,
    resolve_content_type,
    sanitize_filename,
    subject_closes,
)
from carnet.messaging.models import (
    Attachment,
    Conversation,
    Direction,
    Message,
    Outbox,
    Source,
)

GATEWAY_ACTOR = Actor(
    kind=ActorKind.SYSTEM, id=MSS_GATEWAY_ID, label="Passerelle MSSanté", channel="smtp"
)
PHARMACY_FACILITY_TYPE = "SA33"  # TRE_R02 "Pharmacie d'officine"
PHARMACIST = "21"
REIMBURSEMENT_TYPE = "REMB"
REIMBURSEMENT_WINDOW = dt.timedelta(days=365)
REPLY_TYPES = {
    "application/pdf": b"%PDF-",
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
}
MAX_REPLY_FILES = 10
MAX_BODY_CHARS = 20_000
OPEN_STATUSES = frozenset({SpaceStatus.CREATED, SpaceStatus.ACTIVE})
UNKNOWN_PROFESSIONAL = "professionnel de santé"


# --- What adapters hand to the service ----------------------------------------------------------


@dataclass(frozen=True)
class IncomingFile:
    """A file of a professional's message; CDA documents from an XDM carry their metadata."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)
    title: str = ""
    xdm_metadata: dict[str, Any] | None = None
    invisible_to_representatives: bool = False


@dataclass(frozen=True)
class Incoming:
    """A message from a professional to a holder, whatever the channel (SMTP, FHIR API)."""

    message_id: str
    sender_address: str
    sender_name: str
    subject: str
    body: str
    source: str
    sent_at: dt.datetime | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    closes_conversation: bool = False
    files: tuple[IncomingFile, ...] = ()
    mss_headers: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    raw_sha256: str = ""
    raw_size: int = 0


@dataclass(frozen=True)
class OutgoingFile:
    """A file the holder attaches to a message (PDF, JPEG or PNG)."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class Received:
    message: Message
    created: bool


@dataclass(frozen=True)
class Mailbox:
    """A holder's mailbox found from the local part of `<INS>@patient.<domain>`."""

    patient_id: str | None
    status: str  # "open", "unknown", "not-created", "closed"


@dataclass(frozen=True)
class InboxRow:
    conversation: Conversation
    unread: int
    attachments: int
    correspondent: str
    profession: str


@dataclass(frozen=True)
class MessageView:
    message: Message
    attachments: list[Attachment]
    delivery: Outbox | None


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    messages: list[MessageView]
    may_reply: bool


@dataclass(frozen=True)
class Correspondent:
    """Someone the holder may write to, named without showing an address."""

    key: str
    name: str
    profession: str
    organisation: str
    reason: str


# --- Mailboxes and correspondents ---------------------------------------------------------------


def find_mailbox(matricule: str) -> Mailbox:
    """The space a patient address names, and whether it receives mail (for the gateway's RCPT).

    Releases no patient data: only whether mail can be delivered, as any mail server answers.
    """
    oids = _ins_oids()
    rows = list(
        Holder.objects.filter(ins_matricule=matricule.upper(), ins_oid__in=oids).values_list(
            "pk", "ins_oid", "space_status"
        )
    )
    if not rows:
        return Mailbox(None, "unknown")
    rows.sort(key=lambda row: oids.index(row[1]))
    pk, _oid, status = rows[0]
    return Mailbox(str(pk), _mailbox_status(status))


def _mailbox_status(space_status: str) -> str:
    if space_status in OPEN_STATUSES:
        return "open"
    if space_status == SpaceStatus.NOTIFIED:
        return "not-created"
    return "closed"


def _open_holder(patient_id: str) -> Holder:
    holder = _holder_or_none(patient_id)
    if holder is None:
        raise NotFound(gate.NOT_FOUND_MESSAGE)
    status = _mailbox_status(holder.space_status)
    if status == "not-created":
        raise SpaceUnavailable(
            _(
                "L'espace santé de ce patient n'est pas encore créé (délai d'opposition en "
                "cours) : il ne peut pas encore recevoir de message."
            )
        )
    if status == "closed":
        raise SpaceUnavailable(
            _(
                "Le titulaire s'est opposé à la création de son espace santé ou l'a clôturé : "
                "aucun message ne peut lui être remis."
            )
        )
    return holder


def _holder_or_none(patient_id: str) -> Holder | None:
    key = _uuid(patient_id)
    return Holder.objects.filter(pk=key).first() if key else None


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def professional_for_address(address: str) -> Professional | None:
    """The directory's professional with this MSSanté address, when exactly one has it."""
    if not address:
        return None
    rows = list(
        Professional.objects.select_related("organisation").filter(mssante_address__iexact=address)[
            :2
        ]
    )
    return rows[0] if len(rows) == 1 else None


def profession_label(professional: Professional | None) -> str:
    """ "Médecin - Médecine Générale (SM)", "Pharmacien"…, or "professionnel de santé"."""
    if professional is None:
        return _(UNKNOWN_PROFESSIONAL)
    known = specialty(professional.specialty_code) if professional.specialty_code else None
    if known is not None:
        return known.display
    found = profession(professional.profession_code)
    return found.display if found else _(UNKNOWN_PROFESSIONAL)


def _is_patient_address(address: str) -> bool:
    return recipient_ins(address, patient_domain=config.patient_domain()) is not None


# --- Receiving: the gateway and the professional API ----------------------------------------------


def receive_message(
    actor: Actor,
    *,
    patient_id: str,
    incoming: Incoming,
    reply_to_message: str | None = None,
) -> Received:
    """Deliver a professional's message into a holder's mailbox, once per Message-ID.

    The gateway delivers SMTP mail (threaded by In-Reply-To/References when the same
    correspondent wrote or received the earlier message); a professional using the API writes in
    their own name (`reply_to_message` continues one of their conversations). Raises NotFound,
    SpaceUnavailable, InvalidInput, or the gate's refusal.
    """
    holder = _open_holder(patient_id)
    professional = _sender(actor, incoming)
    conversation = _thread(actor, holder, professional, incoming, reply_to_message)
    grant = gate.precheck(
        actor, Action.MESSAGING_MESSAGE_CREATE, _create_target(holder, conversation)
    )
    existing = Message.objects.filter(patient=holder, message_id=incoming.message_id).first()
    if existing is not None:
        return Received(existing, created=False)
    stored: list[str] = []
    try:
        files = _store_files(holder, incoming.files, stored)
        with transaction.atomic():
            message = _insert_inbound(holder, conversation, professional, incoming, files)
            gate.commit_grant(
                replace(grant, resource_id=str(message.conversation_id)),
                details={
                    "message": str(message.pk),
                    "message_id": message.message_id,
                    "source": incoming.source,
                    "attachments": len(files),
                    "closes": incoming.closes_conversation,
                },
            )
            _notify_new_message(message)
    except _Duplicate:
        # The same Message-ID was stored concurrently (a sender retrying over two connections).
        content.discard(stored)
        duplicate = Message.objects.get(patient=holder, message_id=incoming.message_id)
        return Received(duplicate, created=False)
    except BaseException:
        content.discard(stored)
        raise
    return Received(message, created=True)


class _Duplicate(Exception):
    """Raised inside the write transaction to roll it back when the Message-ID is taken."""


def _sender(actor: Actor, incoming: Incoming) -> Professional | None:
    if actor.kind is ActorKind.PROFESSIONAL:
        return Professional.objects.select_related("organisation").filter(pk=actor.id).first()
    return professional_for_address(incoming.sender_address)


def _same_correspondent(
    conversation: Conversation, professional: Professional | None, address: str
) -> bool:
    if professional is not None and conversation.professional_id is not None:
        return conversation.professional_id == professional.pk
    return bool(address) and conversation.correspondent_address.lower() == address.lower()


def _thread(
    actor: Actor,
    holder: Holder,
    professional: Professional | None,
    incoming: Incoming,
    reply_to_message: str | None,
) -> Conversation | None:
    """The conversation a message continues, or None for a new one.

    Only a conversation with the same correspondent is continued, so nobody can slip a message
    into (and then read) a conversation of another professional by quoting its Message-ID.
    """
    if reply_to_message is not None:
        earlier = _message_or_none(reply_to_message)
        if earlier is None or earlier.patient_id != holder.pk:
            raise InvalidInput(
                _("Le message auquel vous répondez est introuvable dans cet espace."),
                field="inResponseTo",
            )
        return earlier.conversation
    ids = [i for i in (incoming.in_reply_to, *reversed(incoming.references)) if i]
    if not ids:
        return None
    earlier_messages = Message.objects.filter(patient=holder, message_id__in=ids[:50])
    by_id = {m.message_id: m for m in earlier_messages.select_related("conversation")}
    for message_id in ids:
        found = by_id.get(message_id)
        if found and _same_correspondent(found.conversation, professional, incoming.sender_address):
            return found.conversation
    return None


def _create_target(holder: Holder, conversation: Conversation | None) -> Target:
    if conversation is None:
        return Target("Conversation", patient_id=str(holder.pk), facts={"new_conversation": True})
    return _target(conversation)


def _target(conversation: Conversation, document: DocumentFacts | None = None) -> Target:
    return Target(
        "Conversation",
        resource_id=str(conversation.pk),
        patient_id=str(conversation.patient_id),
        document=document,
        facts={"participant_id": str(conversation.professional_id or "")},
    )


@dataclass(frozen=True)
class _StoredFile:
    id: uuid.UUID
    source: IncomingFile | OutgoingFile
    size: int
    sha256: str


def _store_files(
    holder: Holder, files: Sequence[IncomingFile | OutgoingFile], stored: list[str]
) -> list[_StoredFile]:
    result = []
    for item in files:
        attachment_id = uuid.uuid4()
        info = content.store(holder.pk, attachment_id, item.content)
        stored.append(content.content_key(holder.pk, attachment_id))
        result.append(_StoredFile(attachment_id, item, info.size, info.sha256))
    return result


def _insert_inbound(
    holder: Holder,
    conversation: Conversation | None,
    professional: Professional | None,
    incoming: Incoming,
    files: list[_StoredFile],
) -> Message:
    """The new message (and its conversation); `_Duplicate` if the same Message-ID won a race."""
    now = clock.now()
    shown_subject = display_subject(incoming.subject) or _("(sans objet)")
    if conversation is None:
        conversation = Conversation.objects.create(
            patient=holder,
            professional=professional,
            correspondent_address=incoming.sender_address
            or (professional.mssante_address if professional else ""),
            correspondent_name=_correspondent_name(professional, incoming.sender_name),
            correspondent_profession=profession_label(professional),
            correspondent_organisation=_organisation_name(professional),
            subject=shown_subject[:300],
            started_by=Conversation.StartedBy.PROFESSIONAL,
            created_at=now,
            last_message_at=now,
        )
    try:
        with transaction.atomic():
            message = Message.objects.create(
                patient=holder,
                conversation=conversation,
                direction=Direction.INBOUND,
                source=incoming.source,
                message_id=incoming.message_id,
                in_reply_to=incoming.in_reply_to or "",
                references=list(incoming.references),
                sender_address=incoming.sender_address,
                sender_name=_correspondent_name(professional, incoming.sender_name),
                subject=shown_subject[:300],
                body=incoming.body,
                sent_at=incoming.sent_at or now,
                received_at=now,
                closes_conversation=incoming.closes_conversation,
                mss_headers=incoming.mss_headers,
                problems=list(incoming.problems),
                raw_sha256=incoming.raw_sha256,
                raw_size=incoming.raw_size,
            )
    except IntegrityError as exc:
        raise _Duplicate from exc
    _create_attachments(holder, message, files)
    updates: dict[str, Any] = {"last_message_at": now}
    if incoming.closes_conversation and not conversation.closed:
        updates.update(closed=True, closed_at=now)
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    return message


def _create_attachments(holder: Holder, message: Message, files: list[_StoredFile]) -> None:
    for position, item in enumerate(files):
        source = item.source
        Attachment.objects.create(
            id=item.id,
            patient=holder,
            message=message,
            position=position,
            filename=source.filename[:255],
            title=(getattr(source, "title", "") or "")[:300],
            content_type=source.content_type[:100],
            size=item.size,
            sha256=item.sha256,
            content_key=content.content_key(holder.pk, item.id),
            xdm_metadata=getattr(source, "xdm_metadata", None),
            invisible_to_representatives=getattr(source, "invisible_to_representatives", False),
        )


def _correspondent_name(professional: Professional | None, display_name: str) -> str:
    if professional is not None:
        return str(professional)[:200]
    return (display_name.strip() or _(UNKNOWN_PROFESSIONAL).capitalize())[:200]


def _organisation_name(professional: Professional | None) -> str:
    if professional is None or professional.organisation is None:
        return ""
    return professional.organisation.name[:200]


def _notify_new_message(message: Message) -> None:
    notify = _notifier()
    if notify is not None:
        notify(
            message.patient_id,
            "message_new",
            dedupe_key=f"message_new:{message.pk}",
            context={"actor": message.sender_name},
            link_path=f"/messagerie/{message.conversation_id}/",
        )


def _notifier() -> Any:
    """`notifications.services.notify` once that app provides it (built in parallel)."""
    try:
        module = importlib.import_module("carnet.notifications.services")
    except ImportError:
        return None
    return getattr(module, "notify", None)


# --- The holder's inbox and conversations -------------------------------------------------------


def inbox(actor: Actor, *, patient_id: str, limit: int = 100) -> list[InboxRow]:
    """The conversations of a space the holder has not deleted, latest first, with the number of
    unread messages and of attachments."""
    own = str(patient_id) in actor.own_patient_ids
    rows = gate.visible(
        actor,
        Action.MESSAGING_CONVERSATION_SEARCH,
        Conversation.objects.filter(patient_id=_uuid(patient_id)),
        searched_patient_id=str(patient_id) if _holder_or_none(patient_id) else None,
    )
    shown = Message.objects.filter(conversation=OuterRef("pk"), hidden_by_holder=False)
    files = Attachment.objects.filter(
        message__conversation=OuterRef("pk"), message__hidden_by_holder=False
    )
    if not own:
        files = files.filter(invisible_to_representatives=False)
    rows = (
        rows.filter(Exists(shown))
        .annotate(
            unread_count=_count(shown.filter(direction=Direction.INBOUND, read_at__isnull=True)),
            attachment_count=_count(files, "message__conversation"),
        )
        .order_by("-last_message_at", "pk")[: max(1, min(limit, 500))]
    )
    return [
        InboxRow(
            conversation=row,
            unread=row.unread_count,
            attachments=row.attachment_count,
            correspondent=row.correspondent_name,
            profession=row.correspondent_profession,
        )
        for row in rows
    ]


def _count(rows: QuerySet[Any], group: str = "conversation") -> Coalesce:
    counted = rows.order_by().values(group).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _conversation_or_none(conversation_id: str) -> Conversation | None:
    key = _uuid(conversation_id)
    if key is None:
        return None
    return Conversation.objects.select_related("professional").filter(pk=key).first()


def _authorized_conversation(
    actor: Actor, action: Action, conversation_id: str
) -> tuple[Conversation, gate.Grant]:
    conversation = _conversation_or_none(conversation_id)
    if conversation is None:
        gate.refuse_missing(actor, action, "Conversation", conversation_id)
    return conversation, gate.authorize(actor, action, _target(conversation))


def _is_holder_side(actor: Actor) -> bool:
    return actor.kind is ActorKind.HOLDER


def read_conversation(actor: Actor, conversation_id: str) -> ConversationView:
    """A conversation with its messages, oldest first; opening it marks the holder's unread
    messages as read. A holder does not see what they deleted. Raises NotFound."""
    conversation, _grant = _authorized_conversation(
        actor, Action.MESSAGING_CONVERSATION_READ, conversation_id
    )
    messages = conversation.messages.order_by("received_at", "pk")
    if _is_holder_side(actor):
        messages = messages.filter(hidden_by_holder=False)
    rows = list(messages.select_related("outbox").prefetch_related("attachments"))
    if _is_holder_side(actor) and not rows:
        raise NotFound(gate.NOT_FOUND_MESSAGE)
    own = str(conversation.patient_id) in actor.own_patient_ids
    if _is_holder_side(actor):
        conversation.messages.filter(
            direction=Direction.INBOUND, read_at__isnull=True, hidden_by_holder=False
        ).update(read_at=clock.now())
    views = [
        MessageView(
            message=row,
            attachments=[
                a
                for a in row.attachments.all()
                if own or not _is_holder_side(actor) or not a.invisible_to_representatives
            ],
            delivery=getattr(row, "outbox", None),
        )
        for row in rows
    ]
    return ConversationView(
        conversation=conversation,
        messages=views,
        may_reply=_is_holder_side(actor) and not conversation.closed,
    )


def hide_conversation(actor: Actor, conversation_id: str) -> None:
    """Delete a conversation from the holder's inbox: its messages are hidden from the holder
    (and their representatives), kept in the trace and for the professional. A later message
    makes the conversation reappear with that message only."""
    conversation = _conversation_or_none(conversation_id)
    target = _target(conversation) if conversation else Target("Conversation", "missing")
    grant = gate.precheck(actor, Action.MESSAGING_CONVERSATION_DELETE, target)
    assert conversation is not None  # noqa: S101 (the gate refuses a missing target)
    with transaction.atomic():
        hidden = conversation.messages.filter(hidden_by_holder=False).update(hidden_by_holder=True)
        gate.commit_grant(grant, details={"hidden_messages": hidden})


# --- Attachments --------------------------------------------------------------------------------


def _attachment_or_none(attachment_id: str) -> Attachment | None:
    key = _uuid(attachment_id)
    if key is None:
        return None
    return Attachment.objects.select_related("message__conversation").filter(pk=key).first()


def _attachment_facts(attachment: Attachment) -> DocumentFacts | None:
    """A CDA from an XDM is a document: its visibility flags apply (representatives)."""
    metadata = attachment.xdm_metadata
    if metadata is None:
        return None
    return DocumentFacts(
        type_code=str(metadata.get("type_code") or ""),
        class_code=str(metadata.get("class_code") or ""),
        invisible_to_representatives=attachment.invisible_to_representatives,
    )


def _authorized_attachment(actor: Actor, action: Action, attachment_id: str) -> Attachment:
    attachment = _attachment_or_none(attachment_id)
    if attachment is None:
        gate.refuse_missing(actor, action, "Attachment", attachment_id)
    target = replace(
        _target(attachment.message.conversation, _attachment_facts(attachment)),
        resource_type="Attachment",
        resource_id=str(attachment.pk),
    )
    if _is_holder_side(actor) and attachment.message.hidden_by_holder:
        target = replace(target, patient_id=None)  # deleted by the holder: gone for them
    gate.authorize(actor, action, target)
    return attachment


def open_attachment(actor: Actor, attachment_id: str) -> tuple[Attachment, bytes]:
    """An attachment and its decrypted content. Raises NotFound."""
    attachment = _authorized_attachment(actor, Action.MESSAGING_ATTACHMENT_READ, attachment_id)
    return attachment, content.load(attachment.patient_id, attachment.pk)


def saveable(attachment: Attachment) -> bool:
    """Whether "Enregistrer dans mes documents" applies: a CDA from an XDM, a PDF, JPEG or PNG."""
    return attachment.is_cda or attachment.content_type in REPLY_TYPES


def save_attachment(actor: Actor, attachment_id: str, *, category: str | None = None) -> Any:
    """Save an attachment into the holder's documents, in one action.

    A CDA from an IHE_XDM.ZIP is deposited with its XDS metadata (type, title, dates, author…)
    through `documents.deposit_documents`, so identity vigilance applies (the CDA must be this
    space's patient); a PDF, JPEG or PNG goes into the `category` the holder chose. Returns the
    documents' `DepositResult` (`created` False if it was already there). Raises NotSaveable,
    NotFound, and the documents' errors (InvalidInput, IdentityMismatch, SpaceClosed…).
    """
    from carnet.documents import services as documents

    attachment = _authorized_attachment(actor, Action.MESSAGING_ATTACHMENT_READ, attachment_id)
    if not _is_holder_side(actor) or not saveable(attachment):
        raise NotSaveable(_("Cette pièce jointe ne peut pas être enregistrée dans vos documents."))
    data = content.load(attachment.patient_id, attachment.pk)
    holder = Holder.objects.get(pk=attachment.patient_id)
    if attachment.is_cda:
        result = _deposit_cda(actor, holder, attachment, data)
    else:
        result = documents.deposit_holder_document(
            actor,
            patient_id=str(holder.pk),
            content=data,
            mime_type=attachment.content_type,
            title=_title_of(attachment),
            category=category or "autres-documents",
        )
    target = replace(
        _target(attachment.message.conversation),
        resource_type="Attachment",
        resource_id=str(attachment.pk),
    )
    with gate.change(actor, Action.MESSAGING_ATTACHMENT_UPDATE, target) as grant:
        Attachment.objects.filter(pk=attachment.pk).update(
            saved_document_id=result.document.pk, saved_at=clock.now()
        )
        grant.details = {"document": str(result.document.pk), "created": result.created}
    return result


def _title_of(attachment: Attachment) -> str:
    stem, dot, _ext = attachment.filename.rpartition(".")
    return (attachment.title or (stem if dot else attachment.filename))[:300]


def _deposit_cda(actor: Actor, holder: Holder, attachment: Attachment, data: bytes) -> Any:
    from carnet.documents import services as documents
    from carnet.documents.cda import read_cda_header
    from carnet.messaging.xdm_mapping import patient_identity, submission, submission_set

    metadata = attachment.xdm_metadata or {}
    identity = patient_identity(metadata)
    if identity is None or (identity.matricule, identity.oid) != (
        holder.ins_matricule,
        holder.ins_oid,
    ):
        raise NotSaveable(
            _(
                "Ce document ne désigne pas le titulaire de cet espace (INS différent ou absent) : "
                "il ne peut pas y être enregistré."
            )
        )
    try:
        created = read_cda_header(data).effective_time
    except InvalidInput:
        created = None  # the documents service says what is wrong with this CDA
    return documents.deposit_documents(
        actor,
        patient=identity,
        documents=[(submission(metadata, created_fallback=created), data)],
        submission_set=submission_set(metadata),
    )[0]


def agenda_available() -> bool:
    """The agenda arrives with its own issue; until then ".ics → Ajouter à mon agenda" waits."""
    return False


def agenda_import_hook(actor: Actor, ics_bytes: bytes) -> str:
    """Where an .ics attachment will be handed to the agenda. For now it imports nothing and says
    so (the portal shows the button disabled)."""
    return _("L'agenda arrive bientôt : cette invitation pourra alors y être ajoutée.")


# --- Writing as the holder ----------------------------------------------------------------------


def _check_files(files: Sequence[OutgoingFile]) -> list[OutgoingFile]:
    if len(files) > MAX_REPLY_FILES:
        raise AttachmentRefused(
            _("Vous pouvez joindre au plus %(n)s fichiers.") % {"n": MAX_REPLY_FILES},
            field="files",
        )
    total = 0
    checked = []
    for item in files:
        magic = REPLY_TYPES.get(item.content_type)
        name = sanitize_filename(item.filename, fallback="piece-jointe")
        if magic is None or not item.content.startswith(magic):
            raise AttachmentRefused(
                _("« %(name)s » : seuls les fichiers PDF, JPEG et PNG peuvent être joints.")
                % {"name": name},
                field="files",
            )
        if len(item.content) > config.max_attachment_bytes():
            raise AttachmentRefused(
                _("« %(name)s » dépasse la taille maximale de %(mb)s Mo par pièce jointe.")
                % {"name": name, "mb": config.max_attachment_bytes() // (1024 * 1024)},
                field="files",
            )
        total += len(item.content)
        checked.append(replace(item, filename=name))
    if total > config.max_message_bytes() * 3 // 4:
        # Base64 makes the message a third larger than its files: keep within the message limit.
        raise AttachmentRefused(
            _("Les pièces jointes sont trop volumineuses pour un seul message."), field="files"
        )
    return checked


def _check_body(body: str) -> str:
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInput(_("Le message est vide."), field="body")
    if len(text) > MAX_BODY_CHARS:
        raise InvalidInput(
            _("Le message est trop long (%(n)s caractères au plus).") % {"n": MAX_BODY_CHARS},
            field="body",
        )
    return text


def reply(
    actor: Actor, conversation_id: str, *, body: str, files: Sequence[OutgoingFile] = ()
) -> Message:
    """The holder answers in a conversation; the reply is queued for the professional's MSSanté
    address (or left for their software to read through the API when they have none).
    Raises ConversationClosed, InvalidInput, AttachmentRefused, NotFound."""
    conversation = _conversation_or_none(conversation_id)
    target = _target(conversation) if conversation else Target("Conversation", "missing")
    if actor.kind is not ActorKind.HOLDER:
        raise AccessDenied(_("Seul le titulaire ou son représentant répond dans le portail."))
    grant = gate.precheck(actor, Action.MESSAGING_MESSAGE_CREATE, target)
    assert conversation is not None  # noqa: S101 (the gate refuses a missing target)
    if conversation.closed:
        raise ConversationClosed(
            _(
                "Le professionnel a clos cette conversation : vous ne pouvez plus y répondre. "
                "Vous pouvez lui écrire un nouveau message."
            )
        )
    holder = _open_holder(str(conversation.patient_id))
    return _write_outbound(
        actor, grant, holder, conversation, _check_body(body), _check_files(files)
    )


def allowed_correspondents(actor: Actor, *, patient_id: str) -> list[Correspondent]:
    """Whom the holder may write to: professionals who wrote to this space, and pharmacies where
    the insurer's data show a reimbursement in the past year (their pharmacists with an MSSanté
    address). Never another holder."""
    rows = gate.visible(
        actor,
        Action.MESSAGING_CONVERSATION_SEARCH,
        Conversation.objects.filter(patient_id=_uuid(patient_id)),
        searched_patient_id=str(patient_id) if _holder_or_none(patient_id) else None,
        details={"kind": "correspondents"},
    )
    wrote = rows.filter(
        pk__in=Message.objects.filter(direction=Direction.INBOUND).values("conversation")
    ).order_by("-last_message_at")
    found: dict[str, Correspondent] = {}
    for conversation in wrote.select_related("professional"):
        identity = (
            f"p:{conversation.professional_id}"
            if conversation.professional_id
            else f"a:{conversation.correspondent_address.lower()}"
        )
        if identity in found or _is_patient_address(conversation.correspondent_address):
            continue
        found[identity] = Correspondent(
            key=f"c:{conversation.pk}",
            name=conversation.correspondent_name,
            profession=conversation.correspondent_profession,
            organisation=conversation.correspondent_organisation,
            reason=_("vous a écrit"),
        )
    for pharmacist in _reimbursing_pharmacists(actor, patient_id):
        identity = f"p:{pharmacist.pk}"
        if identity not in found:
            found[identity] = Correspondent(
                key=f"p:{pharmacist.pk}",
                name=str(pharmacist),
                profession=profession_label(pharmacist),
                organisation=_organisation_name(pharmacist),
                reason=_("pharmacie où vous avez eu un remboursement dans l'année"),
            )
    return list(found.values())


def _reimbursing_pharmacists(actor: Actor, patient_id: str) -> Iterator[Professional]:
    """Pharmacists of the pharmacies (facility type SA33) that authored reimbursement data (type
    REMB) the insurer deposited in this space during the past year.

    The insurer's REMB documents name the dispensing pharmacy only in their narrative (by name,
    without identifier); the rule therefore reads the document metadata: its author organisation
    (IDNST) and facility type."""
    from carnet.documents import services as documents

    since = clock.now() - REIMBURSEMENT_WINDOW
    page = documents.search_documents(
        actor,
        patient_id=str(patient_id),
        filters=documents.SearchFilters(type_codes=(REIMBURSEMENT_TYPE,), created_from=since),
        limit=100,
    )
    pharmacies = {
        row.author_organisation: row.facility_type
        for row in page.rows
        if row.depositor_kind == "insurer" and row.author_organisation
    }
    organisations = [
        org
        for org in Organisation.objects.filter(idnst__in=list(pharmacies))
        if PHARMACY_FACILITY_TYPE in {org.facility_type, pharmacies[org.idnst]}
    ]
    yield from (
        Professional.objects.select_related("organisation")
        .filter(organisation__in=organisations, profession_code=PHARMACIST)
        .exclude(mssante_address="")
        .order_by("family_name", "given_name")
    )


def start_conversation(
    actor: Actor,
    *,
    patient_id: str,
    correspondent: str,
    subject: str,
    body: str,
    files: Sequence[OutgoingFile] = (),
) -> Conversation:
    """The holder writes a new message to one of `allowed_correspondents` (by its key).
    Raises CorrespondentNotAllowed, InvalidInput, AttachmentRefused, NotFound."""
    if actor.kind is not ActorKind.HOLDER:
        raise AccessDenied(_("Seul le titulaire ou son représentant écrit depuis le portail."))
    holder = _holder_or_none(patient_id)
    grant = gate.precheck(
        actor,
        Action.MESSAGING_MESSAGE_CREATE,
        Target(
            "Conversation",
            patient_id=str(holder.pk) if holder else None,
            facts={"new_conversation": True},
        ),
    )
    assert holder is not None  # noqa: S101 (the gate refuses a missing target)
    _open_holder(str(holder.pk))
    chosen = {c.key: c for c in allowed_correspondents(actor, patient_id=str(holder.pk))}
    if correspondent not in chosen:
        raise CorrespondentNotAllowed(
            _(
                "Vous pouvez écrire seulement à un professionnel qui vous a déjà écrit, ou à une "
                "pharmacie où vous avez eu un remboursement dans l'année."
            ),
            field="correspondent",
        )
    title = " ".join(subject.split())[:300]
    if not title:
        raise InvalidInput(_("Indiquez l'objet du message."), field="subject")
    text, checked = _check_body(body), _check_files(files)
    professional, address = _correspondent_of(correspondent)
    if address and (_is_patient_address(address) or not _trusted(address)):
        raise CorrespondentNotAllowed(
            _("Ce destinataire n'est pas une messagerie de professionnel de santé."),
            field="correspondent",
        )
    new = _NewConversation(professional, address, chosen[correspondent], title)
    return _write_outbound(actor, grant, holder, new, text, checked).conversation


def _trusted(address: str) -> bool:
    from carnet.messaging.inbound import sender_trusted

    return sender_trusted(address, trusted_domains=config.trusted_domains())


def _correspondent_of(key: str) -> tuple[Professional | None, str]:
    kind, _sep, value = key.partition(":")
    if kind == "c":
        conversation = _conversation_or_none(value)
        assert conversation is not None  # noqa: S101 (keys come from allowed_correspondents)
        professional = conversation.professional
        address = conversation.correspondent_address
        if professional is not None and professional.mssante_address:
            address = professional.mssante_address
        return professional, address
    professional = Professional.objects.get(pk=value)
    return professional, professional.mssante_address


@dataclass(frozen=True)
class _NewConversation:
    professional: Professional | None
    address: str
    correspondent: Correspondent
    subject: str


def _write_outbound(
    actor: Actor,
    grant: gate.Grant,
    holder: Holder,
    conversation: Conversation | _NewConversation,
    body: str,
    files: list[OutgoingFile],
) -> Message:
    """Store the holder's message (content first, rows second) and queue it for the relay."""
    stored: list[str] = []
    try:
        saved = _store_files(holder, files, stored)
        with transaction.atomic():
            now = clock.now()
            if isinstance(conversation, _NewConversation):
                conversation, last = _create_holder_conversation(holder, conversation, now), None
                subject = conversation.subject
            else:
                last = conversation.messages.order_by("-received_at", "-pk").first()
                subject = conversation.subject
                subject = subject if subject.upper().startswith("RE:") else f"RE: {subject}"
            references = [*(last.references if last else []), *([last.message_id] if last else [])]
            message = Message.objects.create(
                patient=holder,
                conversation=conversation,
                direction=Direction.OUTBOUND,
                source=Source.PORTAL,
                message_id=f"{uuid.uuid4().hex}@patient.{config.patient_domain()}",
                in_reply_to=last.message_id if last else "",
                references=references[-20:],
                sender_address=f"{holder.ins_matricule}@patient.{config.patient_domain()}",
                sender_name=str(holder),
                author_account_id=actor.id,
                subject=subject[:300],
                body=body,
                sent_at=now,
                received_at=now,
                read_at=now,
            )
            _create_attachments(holder, message, saved)
            Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now)
            if conversation.correspondent_address:
                from carnet.messaging import outbound

                outbound.queue(message, conversation.correspondent_address)
            gate.commit_grant(
                replace(grant, resource_id=str(conversation.pk)),
                details={"message": str(message.pk), "attachments": len(saved)},
            )
    except BaseException:
        content.discard(stored)
        raise
    return message


def _create_holder_conversation(
    holder: Holder, new: _NewConversation, now: dt.datetime
) -> Conversation:
    return Conversation.objects.create(
        patient=holder,
        professional=new.professional,
        correspondent_address=new.address,
        correspondent_name=new.correspondent.name,
        correspondent_profession=new.correspondent.profession,
        correspondent_organisation=new.correspondent.organisation,
        subject=new.subject,
        started_by=Conversation.StartedBy.HOLDER,
        created_at=now,
        last_message_at=now,
    )


def retry_delivery(actor: Actor, message_id: str) -> None:
    """Send a failed reply again (after the holder saw the failure)."""
    message = _message_or_none(message_id)
    target = _target(message.conversation) if message else Target("Message", "missing")
    grant = gate.precheck(actor, Action.MESSAGING_MESSAGE_UPDATE, target)
    assert message is not None  # noqa: S101 (the gate refuses a missing target)
    from carnet.messaging import outbound

    with transaction.atomic():
        if not outbound.requeue(message):
            raise InvalidInput(_("Ce message n'est pas en échec d'envoi."), field="message")
        gate.commit_grant(grant, details={"message": str(message.pk), "retry": True})


def _message_or_none(message_id: str) -> Message | None:
    key = _uuid(message_id)
    if key is None:
        return None
    return Message.objects.select_related("conversation").filter(pk=key).first()


# --- The professional's view (FHIR Communication) -----------------------------------------------


def get_message(actor: Actor, message_id: str) -> Message:
    """One message of a conversation the actor may read. Raises NotFound."""
    message = _message_or_none(message_id)
    target = (
        replace(
            _target(message.conversation),
            resource_type="Communication",
            resource_id=str(message.pk),
        )
        if message
        else Target("Communication", str(message_id)[:100])
    )
    if message is not None and _is_holder_side(actor) and message.hidden_by_holder:
        target = replace(target, patient_id=None)
    gate.authorize(actor, Action.MESSAGING_CONVERSATION_READ, target)
    assert message is not None  # noqa: S101 (the gate refuses a missing target)
    return message


def attachments_of(actor: Actor, message: Message) -> list[Attachment]:
    """The attachments of a message already read through `get_message` or a search."""
    rows = list(message.attachments.all())
    if _is_holder_side(actor) and str(message.patient_id) not in actor.own_patient_ids:
        rows = [a for a in rows if not a.invisible_to_representatives]
    return rows


def attachment_content(attachment: Attachment) -> bytes:
    """The content of an attachment of a message already read through the gate."""
    return content.load(attachment.patient_id, attachment.pk)


def search_messages(
    actor: Actor, *, patient_id: str | None = None, offset: int = 0, limit: int = 20
) -> tuple[list[Message], int]:
    """Messages of the conversations the actor takes part in (a professional) or of the spaces
    they hold (a holder), latest first. Each conversation a professional sees is authorised
    (and traced in that patient's trail) through the gate."""
    limit = max(0, min(limit, 100))
    offset = max(0, offset)
    if actor.kind is ActorKind.PROFESSIONAL:
        return _professional_messages(actor, patient_id, offset, limit)
    conversations = gate.visible(
        actor,
        Action.MESSAGING_CONVERSATION_SEARCH,
        Conversation.objects.filter(patient_id=_uuid(patient_id))
        if patient_id
        else Conversation.objects.all(),
        searched_patient_id=str(patient_id) if patient_id and _holder_or_none(patient_id) else None,
        details={"kind": "communications"},
    )
    rows = Message.objects.filter(conversation__in=conversations, hidden_by_holder=False)
    total = rows.count()
    page = list(
        rows.select_related("conversation").order_by("-sent_at", "pk")[offset : offset + limit]
    )
    return page, total


def _professional_messages(
    actor: Actor, patient_id: str | None, offset: int, limit: int
) -> tuple[list[Message], int]:
    professional_id = _uuid(actor.id)
    if professional_id is None:
        return [], 0
    mine = Conversation.objects.filter(professional_id=professional_id)
    if patient_id is not None:
        mine = mine.filter(patient_id=_uuid(patient_id))
    rows = Message.objects.filter(conversation__in=mine)
    total = rows.count()
    page = list(
        rows.select_related("conversation").order_by("-sent_at", "pk")[offset : offset + limit]
    )
    allowed: list[Message] = []
    decided: dict[uuid.UUID, bool] = {}
    for message in page:
        if message.conversation_id not in decided:
            try:
                gate.authorize(
                    actor, Action.MESSAGING_CONVERSATION_READ, _target(message.conversation)
                )
            except (NotFound, AccessDenied):
                decided[message.conversation_id] = False
            else:
                decided[message.conversation_id] = True
        if decided[message.conversation_id]:
            allowed.append(message)
    return allowed, total - (len(page) - len(allowed))


def send_as_professional(
    actor: Actor,
    *,
    patient_id: str | None = None,
    patient_ins: tuple[str, str] | None = None,
    subject: str,
    body: str,
    files: Sequence[IncomingFile] = (),
    in_reply_to: str | None = None,
) -> Received:
    """A professional's software writes to a holder through the API (FHIR Communication create):
    a new conversation, or a reply in one of theirs (`in_reply_to`: the id of a message). The
    holder is named by id or by INS (matricule, OID). A subject starting or ending with `[FIN]`
    closes the conversation to replies, as by mail. Raises InvalidInput, NotFound,
    SpaceUnavailable, AttachmentRefused, or the gate's refusal."""
    if actor.kind is not ActorKind.PROFESSIONAL:
        raise AccessDenied(_("Seul un professionnel de santé peut écrire à un titulaire ici."))
    if patient_ins is not None:
        found = find_mailbox(patient_ins[0]) if patient_ins[1] in _ins_oids() else None
        patient_id = found.patient_id if found else None
        if patient_id is None:
            raise NotFound(_("Aucun espace santé ne correspond à cet INS."))
    title = " ".join(subject.split())[:300] or _("Message de votre professionnel de santé")
    professional = Professional.objects.filter(pk=str(actor.id)).first()
    incoming = Incoming(
        message_id=f"{uuid.uuid4().hex}@api.{config.patient_domain()}",
        sender_address=professional.mssante_address if professional else "",
        sender_name=actor.label,
        subject=title,
        body=_check_body(body),
        source=Source.API,
        closes_conversation=subject_closes(title),
        files=_check_professional_files(files),
    )
    return receive_message(
        actor, patient_id=str(patient_id), incoming=incoming, reply_to_message=in_reply_to
    )


def _ins_oids() -> list[str]:
    oids = [ins_rules.OID_NIR, ins_rules.OID_NIA]
    if ins_rules.accept_fictitious_ins():
        oids += [ins_rules.OID_NIR_TEST, ins_rules.OID_NIR_DEMO]
    return oids


def _check_professional_files(files: Sequence[IncomingFile]) -> tuple[IncomingFile, ...]:
    """Files sent through the API: the mail limits apply, the type is what the bytes show."""
    checked = []
    total = 0
    for item in files:
        if len(item.content) > config.max_attachment_bytes():
            raise AttachmentRefused(
                _("La pièce jointe « %(name)s » dépasse %(mb)s Mo.")
                % {"name": item.filename, "mb": config.max_attachment_bytes() // (1024 * 1024)},
                field="payload",
            )
        total += len(item.content)
        name = sanitize_filename(item.filename, fallback="piece-jointe")
        checked.append(
            replace(
                item,
                filename=name,
                title=item.title[:300],
                content_type=resolve_content_type(item.content_type, item.content),
            )
        )
    if total > config.max_message_bytes():
        raise AttachmentRefused(_("Les pièces jointes dépassent 20 Mo au total."), field="payload")
    return tuple(checked)


def thread_parent(message: Message) -> Message | None:
    """The message this one answers, in the same conversation (for a message already read)."""
    if not message.in_reply_to:
        return None
    return Message.objects.filter(
        conversation_id=message.conversation_id, message_id=message.in_reply_to
    ).first()
