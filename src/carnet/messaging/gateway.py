"""The inbound MSSanté SMTP gateway: `process_inbound`, and the aiosmtpd handler around it.

`process_inbound(raw, mail_from=…, rcpt_tos=…)` does everything a received message needs and
returns the SMTP reply to give; it is called directly by tests, by the handler at DATA, and by the
benchmark. The handler also answers early where SMTP allows it: the sender at MAIL FROM, each
recipient at RCPT TO (so a sender learns which address is wrong), the size at MAIL FROM (SIZE)
and during DATA. `manage.py smtp_gateway` runs it as a process of its own.

| situation | reply |
|---|---|
| accepted (also a retry of an already stored Message-ID) | `250 2.0.0` |
| envelope sender or From header outside the trust list, or a patient address | `550 5.7.1` |
| recipient not `<INS>@patient.<domain>`, bad INS key, or no such space | `550 5.1.1` |
| space opposed, closed, or not created yet | `550 5.2.1` |
| more than 100 recipients | `452 4.5.3` |
| message over 20 MB (SIZE, DATA) / an attachment over 10 MB | `552` / `552 5.3.4` |
| malformed MIME, missing Message-ID, unreadable IHE_XDM.ZIP | `554 5.6.0` |
| XDM document invisible to the patient, or naming another patient | `554 5.7.1` |
| anything unexpected (database down…): the sender retries later | `451 4.3.0` |
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from django.db import close_old_connections

from carnet.core.errors import NotFound
from carnet.messaging import config, services
from carnet.messaging.errors import SpaceUnavailable
from carnet.messaging.inbound import (
    Attachment,
    InboundMessage,
    InboundRejected,
    UnknownRecipient,
    UntrustedSender,
    check_recipient,
    check_sender,
    parse_message,
    resolve_content_type,
    sanitize_filename,
)
from carnet.messaging.models import Source
from carnet.messaging.xdm import DocumentKind, XdmDocument, XdmSubmissionSet
from carnet.messaging.xdm_mapping import document_metadata

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RECIPIENTS = 100
ACCEPTED = "250 2.0.0 Message accepted for delivery"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please retry later"


class MailboxDisabled(InboundRejected):
    code = "mailbox-disabled"
    smtp_code = 550
    smtp_status = "5.2.1"
    smtp_text = "Mailbox disabled: the holder opposed or closed this health space"


class MailboxNotOpenYet(MailboxDisabled):
    code = "mailbox-not-open"
    smtp_text = "Mailbox not available yet: this health space is not created"


class RefusedForPatient(InboundRejected):
    code = "refused-for-patient"
    smtp_code = 554
    smtp_status = "5.7.1"
    smtp_text = "Message refused for this patient"


@dataclass(frozen=True)
class Delivered:
    patient_id: str
    message_id: str
    created: bool


@dataclass(frozen=True)
class InboundResult:
    reply: str
    delivered: tuple[Delivered, ...] = ()
    rejection: InboundRejected | None = None

    @property
    def accepted(self) -> bool:
        return self.reply.startswith("250")

    @property
    def code(self) -> int:
        return int(self.reply[:3])


# --- The checks of the SMTP stages --------------------------------------------------------------


def check_envelope_sender(address: str) -> str:
    """MAIL FROM: a trusted MSSanté domain, never a patient address (no holder-to-holder mail)."""
    sender = check_sender(address, trusted_domains=config.trusted_domains())
    if sender.rpartition("@")[2] == f"patient.{config.patient_domain()}":
        raise UntrustedSender(
            "Un titulaire ne peut pas écrire à un autre titulaire.",
            smtp_text="Patient mailboxes cannot send to patient mailboxes",
        )
    return sender


def check_mailbox(address: str) -> str:
    """RCPT TO: the patient id of an open space, else `UnknownRecipient` or `MailboxDisabled`."""
    matricule = check_recipient(address, patient_domain=config.patient_domain())
    mailbox = services.find_mailbox(matricule)
    if mailbox.patient_id is None:
        raise UnknownRecipient("Aucun espace santé ne correspond à cette adresse.")
    if mailbox.status == "not-created":
        raise MailboxNotOpenYet("L'espace santé de ce patient n'est pas encore créé.")
    if mailbox.status != "open":
        raise MailboxDisabled(
            "Le titulaire s'est opposé à la création de son espace santé ou l'a clôturé."
        )
    return mailbox.patient_id


# --- The processing function --------------------------------------------------------------------


def process_inbound(raw: bytes, *, mail_from: str, rcpt_tos: Sequence[str]) -> InboundResult:
    """Check, parse and store one received message for each recipient; the reply to give.

    Bad input never raises: it becomes the rejection reply (see the module's table). Unexpected
    errors (the database is down…) do raise; the SMTP handler answers them with a 451.
    """
    try:
        check_envelope_sender(mail_from)
        recipients = {
            check_recipient(r, patient_domain=config.patient_domain()): r for r in rcpt_tos
        }
        if not recipients:
            raise UnknownRecipient("Aucun destinataire.")
        patients = {matricule: check_mailbox(address) for matricule, address in recipients.items()}
        message = parse_message(
            raw,
            max_message_bytes=config.max_message_bytes(),
            max_attachment_bytes=config.max_attachment_bytes(),
        )
        check_envelope_sender(message.from_address)
        files = _files(message)
        for matricule in patients:
            _check_patient(message, matricule)
        incoming = _incoming(message, files)
        delivered = tuple(
            _deliver(patient_id, incoming) for patient_id in dict.fromkeys(patients.values())
        )
    except InboundRejected as exc:
        logger.info("inbound mail from %s refused: %s", mail_from, exc.smtp_reply)
        return InboundResult(exc.smtp_reply, rejection=exc)
    return InboundResult(ACCEPTED, delivered)


def _deliver(patient_id: str, incoming: services.Incoming) -> Delivered:
    try:
        received = services.receive_message(
            services.GATEWAY_ACTOR, patient_id=patient_id, incoming=incoming
        )
    except SpaceUnavailable as exc:
        raise MailboxDisabled(exc.message) from exc
    except NotFound as exc:
        raise UnknownRecipient(exc.message) from exc
    return Delivered(patient_id, str(received.message.pk), received.created)


def _files(message: InboundMessage) -> tuple[services.IncomingFile, ...]:
    """Attachments to keep: each document of an IHE_XDM.ZIP (CDA with its metadata; detached
    signatures dropped), and every other attachment as received."""
    found: list[services.IncomingFile] = []
    for attachment in message.attachments:
        if attachment.xdm is None:
            found.append(_plain_file(attachment))
            continue
        for submission_set in attachment.xdm.submission_sets:
            found.extend(
                _xdm_file(document, submission_set)
                for document in submission_set.documents
                if document.kind is not DocumentKind.SIGNATURE
            )
    return tuple(found)


def _plain_file(attachment: Attachment) -> services.IncomingFile:
    return services.IncomingFile(
        filename=attachment.filename,
        content_type=attachment.content_type,
        content=attachment.content,
    )


def _xdm_file(document: XdmDocument, submission_set: XdmSubmissionSet) -> services.IncomingFile:
    if document.invisible_to_patient:
        raise RefusedForPatient(
            "Un document de l'archive XDM est marqué invisible au patient : il ne peut pas être "
            "envoyé dans sa messagerie.",
            smtp_text="A document marked INVISIBLE_PATIENT cannot be sent to the patient",
        )
    is_cda = document.kind is DocumentKind.CDA
    name = sanitize_filename(document.path.rsplit("/", 1)[-1], fallback="document.xml")
    return services.IncomingFile(
        filename=name,
        content_type="text/xml"
        if is_cda
        else resolve_content_type(document.mime_type or "", document.content),
        content=document.content,
        title=document.title,
        xdm_metadata=document_metadata(document, submission_set) if is_cda else None,
        invisible_to_representatives=document.invisible_to_legal_representatives,
    )


def _check_patient(message: InboundMessage, matricule: str) -> None:
    """Identity vigilance: the documents of the XDM must be the recipient's."""
    for document in message.xdm_documents:
        patient = document.patient_id or document.source_patient_id
        if patient is not None and patient.is_ins and patient.value.upper() != matricule:
            raise RefusedForPatient(
                "Les documents de l'archive XDM concernent un autre patient que le destinataire.",
                smtp_text="IHE_XDM.ZIP documents concern another patient than the recipient",
            )


def _incoming(
    message: InboundMessage, files: tuple[services.IncomingFile, ...]
) -> services.Incoming:
    return services.Incoming(
        message_id=message.message_id,
        sender_address=message.from_address,
        sender_name=message.from_display_name,
        subject=message.subject,
        body=message.text_body,
        source=Source.SMTP,
        sent_at=message.date,
        in_reply_to=message.in_reply_to,
        references=message.references,
        closes_conversation=message.closes_conversation,
        files=files,
        mss_headers={
            "code_cda": list(message.mss.code_cda),
            "ins_qualified": message.mss.ins_qualified,
            "nil": message.mss.nil,
            "mes": message.mss.mes,
        },
        problems=(*message.problems, *message.tolerated_defects),
        raw_sha256=message.sha256,
        raw_size=message.size,
    )


# --- The aiosmtpd handler -----------------------------------------------------------------------


def _in_worker(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # Worker threads live long: give each call a usable connection and release it afterwards.
    close_old_connections()
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()


class GatewayHandler:
    """aiosmtpd hooks; database work runs in a thread pool, never on the event loop."""

    def __init__(self, executor: Executor, *, manage_connections: bool = True) -> None:
        self.executor = executor
        # A pool of our own: each call opens and releases its thread's database connection.
        self.manage_connections = manage_connections

    async def _run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(function, *args, **kwargs)
        if self.manage_connections:
            call = functools.partial(_in_worker, function, *args, **kwargs)
        return await loop.run_in_executor(self.executor, call)

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        try:
            check_envelope_sender(address)
        except InboundRejected as exc:
            logger.info("MAIL FROM %s refused: %s", address, exc.smtp_reply)
            return exc.smtp_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            await self._run(check_mailbox, address)
        except InboundRejected as exc:
            return exc.smtp_reply
        except Exception:
            logger.exception("RCPT TO %s: unexpected error", address)
            return TEMPORARY_FAILURE
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        try:
            result = await self._run(
                process_inbound,
                bytes(envelope.original_content or b""),
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
            )
        except Exception:
            logger.exception("DATA from %s: unexpected error", envelope.mail_from)
            return TEMPORARY_FAILURE
        return result.reply


# --- The server ---------------------------------------------------------------------------------


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The server context for STARTTLS (TLS 1.2 at least)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class GatewayController(Controller):
    """An aiosmtpd controller that owns the gateway's worker threads."""

    def __init__(self, handler: GatewayHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.executor = handler.executor

    def stop(self, *args: Any, **kwargs: Any) -> None:
        super().stop(*args, **kwargs)
        self.executor.shutdown(wait=True)


def make_controller(
    *,
    host: str | None = None,
    port: int | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    require_tls: bool | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
) -> GatewayController:
    """The gateway server, configured from the settings unless told otherwise (not started).

    Database work runs on `executor`: by default a pool of `workers` threads whose connections
    the gateway manages; a given executor manages its own threads' connections."""
    cert = config.string("CARNET_MSS_GATEWAY_TLS_CERT") if tls_cert is None else tls_cert
    key = config.string("CARNET_MSS_GATEWAY_TLS_KEY") if tls_key is None else tls_key
    if bool(cert) != bool(key):
        raise ValueError("CARNET_MSS_GATEWAY_TLS_CERT and _KEY must be set together")
    for path in (cert, key):
        if path and not os.path.isfile(path):
            raise ValueError(f"TLS file not found: {path}")
    require = config.flag("CARNET_MSS_GATEWAY_REQUIRE_TLS") if require_tls is None else require_tls
    if require and not cert:
        raise ValueError("CARNET_MSS_GATEWAY_REQUIRE_TLS needs a certificate and a key")
    threads = workers or config.integer("CARNET_MSS_GATEWAY_WORKERS", 4)
    handler = GatewayHandler(
        executor or ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mss"),
        manage_connections=executor is None,
    )
    return GatewayController(
        handler,
        hostname=host or config.string("CARNET_MSS_GATEWAY_HOST", "127.0.0.1"),
        port=port if port is not None else config.integer("CARNET_MSS_GATEWAY_PORT", 2525),
        server_hostname=config.string("CARNET_MSS_GATEWAY_HOSTNAME", "carnet-mss-gateway"),
        ident="Carnet MSSante gateway",
        data_size_limit=config.max_message_bytes(),
        tls_context=tls_context(cert, key) if cert else None,
        require_starttls=require,
        decode_data=False,
        timeout=300,
        # Senders are trusted by domain (and the operators' TLS), never by SMTP AUTH: offer none.
        auth_exclude_mechanism=["LOGIN", "PLAIN"],
    )
