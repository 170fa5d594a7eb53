"""Inbound MSSanté mail: who may write, to whom, and what a received message holds.

The SMTP gateway calls `check_sender` at MAIL FROM, `check_recipient` at RCPT TO and
`parse_message` at DATA; each raises an `InboundRejected` whose `smtp_reply` is the line to send
back. Nothing here touches the database: storing the message (once per recipient and Message-ID,
so that a sender's retry is not stored twice) belongs to the messaging services.

What is refused and what is tolerated (a gateway that bounces a professional's mail must have a
reason the sender can act on; one that accepts garbage loses documents silently):
* refused, 554 5.6.0: no or several From addresses, an unparseable From; no usable Message-ID (the
  deduplication key; large providers refuse such mail too); a repeated From, Subject, Date,
  Message-ID, In-Reply-To, References or X-MSS-* header (ambiguous); a multipart without boundary,
  whose first or closing boundary is missing (truncated mail: the last attachment would be
  silently cut), whose headers run into the body, or with a transfer encoding on a multipart;
  base64 that cannot be decoded without losing bytes; a transfer encoding other than
  7bit/8bit/binary/quoted-printable/base64; more than `max_parts` parts or deeper than
  `max_depth`; an IHE_XDM.ZIP that `read_xdm` refuses (the sender learns that its documents were
  not delivered, rather than the patient never seeing them);
* tolerated and listed in `tolerated_defects` for the audit trail: 8-bit bytes in headers, an
  invalid Date (the date becomes None), obsolete header syntax, missing base64 padding, a first
  header line that is a continuation, unknown charsets (decoded as UTF-8 with replacement).

`[FIN]` in the subject closes the conversation when the subject, once the `XDM/1.0/DDM+` prefix is
removed, is `[FIN]`, starts with it or ends with it (any case); a `[FIN]` in the middle of a
sentence does not. `X-MSS-MES: FIN` closes it too (compared without case or surrounding spaces).
"""

from __future__ import annotations

import email.policy
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors
from email.headerregistry import Address, AddressHeader, DateHeader
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import NoReturn

from carnet.core.errors import InvalidInput
from carnet.identity.ins import InvalidIns, validate_matricule
from carnet.messaging.limits import (
    DEFAULT_MESSAGE_LIMITS,
    DEFAULT_XDM_LIMITS,
    MAX_ATTACHMENT_BYTES,
    MAX_MESSAGE_BYTES,
    MessageLimits,
    XdmLimits,
)
from carnet.messaging.xdm import XdmDocument, XdmError, XdmPackage, XdmTooLargeError, read_xdm
from carnet.messaging.xdm import xml_root_name as _xml_root_name

XDM_FILENAME = "IHE_XDM.ZIP"


# --- errors -------------------------------------------------------------------------------------


class InboundRejected(InvalidInput):
    """A refusal of the SMTP gateway: `message` in French (audit, portal), the reply in English."""

    code = "inbound-rejected"
    smtp_code = 554
    smtp_status = "5.6.0"
    smtp_text = "Message rejected"

    def __init__(self, message: str, *, smtp_text: str | None = None) -> None:
        super().__init__(message)
        if smtp_text is not None:
            # One line of printable ASCII: it goes straight into the SMTP reply.
            self.smtp_text = re.sub(r"[^\x20-\x7e]", " ", smtp_text)[:400]

    @property
    def smtp_reply(self) -> str:
        return f"{self.smtp_code} {self.smtp_status} {self.smtp_text}"


class UnknownRecipient(InboundRejected):
    code = "unknown-recipient"
    smtp_code = 550
    smtp_status = "5.1.1"
    smtp_text = "Recipient address rejected: no such mailbox"


class UntrustedSender(InboundRejected):
    code = "untrusted-sender"
    smtp_code = 550
    smtp_status = "5.7.1"
    smtp_text = "Sender is not in the MSSante trust space"


class MessageTooLarge(InboundRejected):
    code = "message-too-large"
    smtp_code = 552
    smtp_status = "5.3.4"
    smtp_text = "Message too large"


class AttachmentTooLarge(InboundRejected):
    code = "attachment-too-large"
    smtp_code = 552
    smtp_status = "5.3.4"
    smtp_text = "Attachment too large"


class UnknownCharsetDefect(errors.MessageDefect):
    """A text part names a charset Python does not know; it was decoded as UTF-8."""


class MalformedMessage(InboundRejected):
    code = "malformed-message"
    smtp_code = 554
    smtp_status = "5.6.0"
    smtp_text = "Malformed message"


class InvalidXdmAttachment(MalformedMessage):
    code = "invalid-xdm-attachment"
    smtp_text = "Invalid IHE_XDM.ZIP attachment"


class XdmAttachmentTooLarge(AttachmentTooLarge):
    code = "xdm-attachment-too-large"
    smtp_text = "IHE_XDM.ZIP attachment too large once uncompressed"


# --- addresses ----------------------------------------------------------------------------------

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MATRICULE = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}")


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return (
        len(domain) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def _split_address(address: str) -> tuple[str, str] | None:
    """(local part, lower-case domain) of a plain ASCII mailbox, or None.

    Only the dot-atom form is accepted: no quoted local part, no second `@`, no route, no domain
    literal, no trailing dot, nothing outside ASCII (a Cyrillic `а` must not pass for an `a`).
    """
    value = address.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    if not value.isascii() or len(value) > 254 or value.count("@") != 1:
        return None
    local, domain = value.split("@")
    domain = domain.lower()
    if len(local) > 64 or not _LOCAL_PART.fullmatch(local) or not _valid_domain(domain):
        return None
    return local, domain


def normalize_domains(domains: Iterable[str]) -> frozenset[str]:
    """The configured trust list, lower-cased; `.d` or `*.d` mean d. Raises ValueError if invalid.

    A bare top-level domain is refused: trusting `fr` would trust all of France.
    """
    found = set()
    for entry in domains:
        domain = entry.strip().lower().removeprefix("*.").removeprefix(".").removesuffix(".")
        if not domain.isascii() or not _valid_domain(domain):
            raise ValueError(f"Invalid mail domain in configuration: {entry!r}")
        found.add(domain)
    return frozenset(found)


def sender_trusted(address: str, *, trusted_domains: Iterable[str]) -> bool:
    """Whether `address` belongs to a configured domain or one of its subdomains."""
    parts = _split_address(address)
    if parts is None:
        return False
    domain = parts[1]
    return any(
        domain == trusted or domain.endswith("." + trusted)
        for trusted in normalize_domains(trusted_domains)
    )


def recipient_ins(address: str, *, patient_domain: str) -> str | None:
    """The matricule INS of `<INS>@patient.<patient_domain>`, or None if the address is not ours.

    Case-insensitive (`2a` is Corsica's `2A`); the INS key is checked; no sub-addressing.
    """
    parts = _split_address(address)
    if parts is None:
        return None
    (base,) = normalize_domains([patient_domain])
    local, domain = parts
    matricule = local.upper()
    if domain != f"patient.{base}" or not _MATRICULE.fullmatch(matricule):
        return None
    try:
        return validate_matricule(matricule)
    except InvalidIns:
        return None


def check_sender(address: str, *, trusted_domains: Iterable[str]) -> str:
    """The envelope sender, normalised, or `UntrustedSender` (550 5.7.1)."""
    parts = _split_address(address)
    if parts is None or not sender_trusted(address, trusted_domains=trusted_domains):
        raise UntrustedSender(
            "L'expéditeur n'appartient pas à l'espace de confiance MSSanté configuré."
        )
    return f"{parts[0]}@{parts[1]}"


def check_recipient(address: str, *, patient_domain: str) -> str:
    """The matricule INS of the recipient, or `UnknownRecipient` (550 5.1.1)."""
    matricule = recipient_ins(address, patient_domain=patient_domain)
    if matricule is None:
        raise UnknownRecipient("Cette adresse n'est pas celle d'une messagerie patient.")
    return matricule


# --- the parsed message -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MssHeaders:
    """The MSSanté headers (docs/standards/mssante-xdm.md); only X-MSS-MES is confirmed by an ANS
    guide, the others come from a summary of the Référentiel socle MSSanté."""

    code_cda: tuple[str, ...]
    ins_qualified: bool | None
    nil: str
    mes: str


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    original_filename: str | None
    declared_content_type: str
    content_type: str
    content: bytes = field(repr=False)
    sha256: str
    inline: bool
    content_id: str | None
    xdm: XdmPackage | None

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def is_calendar(self) -> bool:
        return self.content_type == "text/calendar"

    @property
    def content_type_mismatch(self) -> bool:
        return self.content_type != self.declared_content_type


@dataclass(frozen=True, slots=True)
class InboundMessage:
    message_id: str
    from_address: str
    from_display_name: str
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]
    subject: str
    display_subject: str
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    closes_conversation: bool
    mss: MssHeaders
    text_body: str
    body_from_html: bool
    attachments: tuple[Attachment, ...]
    disposition_notification_to: str | None
    size: int
    sha256: str
    tolerated_defects: tuple[str, ...]

    @property
    def xdm_documents(self) -> tuple[XdmDocument, ...]:
        return tuple(doc for a in self.attachments if a.xdm for doc in a.xdm.documents)

    @property
    def calendar_attachments(self) -> tuple[Attachment, ...]:
        return tuple(a for a in self.attachments if a.is_calendar)

    @property
    def problems(self) -> tuple[str, ...]:
        """What the holder or the audit should know although the message was accepted."""
        found = []
        for attachment in self.attachments:
            if attachment.content_type_mismatch:
                found.append(
                    f"La pièce jointe « {attachment.filename} » est annoncée comme "
                    f"{attachment.declared_content_type} mais contient "
                    f"{attachment.content_type}."
                )
            if attachment.xdm is not None:
                found.extend(attachment.xdm.problems)
        declared = set(self.mss.code_cda)
        carried = {d.type_code.code for d in self.xdm_documents if d.type_code is not None}
        if declared and declared != carried:
            found.append(
                f"L'en-tête X-MSS-CODECDA ({', '.join(sorted(declared))}) ne correspond pas aux "
                f"types des documents de l'archive XDM ({', '.join(sorted(carried)) or 'aucun'})."
            )
        return tuple(found)


# --- parsing ------------------------------------------------------------------------------------

_UNIQUE_HEADERS = (
    "From",
    "Sender",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "X-MSS-MES",
    "X-MSS-INS",
    "X-MSS-CODECDA",
    "X-MSS-NIL",
)
# Defect → (French reason, English reason for the SMTP reply).
_FATAL_DEFECTS: dict[type[errors.MessageDefect], tuple[str, str]] = {
    errors.NoBoundaryInMultipartDefect: (
        "partie multipart sans délimiteur",
        "multipart without boundary",
    ),
    errors.StartBoundaryNotFoundDefect: (
        "délimiteur multipart introuvable",
        "multipart boundary not found",
    ),
    errors.CloseBoundaryNotFoundDefect: (
        "délimiteur de fin multipart absent (message tronqué ?)",
        "multipart closing boundary missing",
    ),
    errors.MultipartInvariantViolationDefect: (
        "structure multipart incohérente",
        "broken multipart structure",
    ),
    errors.MissingHeaderBodySeparatorDefect: (
        "en-têtes non terminés par une ligne vide",
        "header section not terminated",
    ),
    errors.InvalidMultipartContentTransferEncodingDefect: (
        "encodage de transfert sur une partie multipart",
        "transfer encoding on a multipart",
    ),
    errors.InvalidBase64LengthDefect: ("contenu base64 indécodable", "undecodable base64"),
}
_ENCODINGS = frozenset({"7bit", "8bit", "binary", "quoted-printable", "base64"})
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_WHITESPACE = re.compile(r"\s+")
# The stdlib parser does not raise on bad input by design, but some header parsers have crashed
# on hostile values in the past; any such crash is bad input, never a 500 or a 451.
# What the standard library's parser raises on damaged input instead of recording a defect (its
# address-list parser raises AttributeError on e.g. a display name starting with ".").
_PARSER_CRASHES = (
    errors.MessageError,
    AttributeError,
    ValueError,
    TypeError,
    IndexError,
    LookupError,
)


def parse_message(
    raw: bytes,
    *,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
    limits: MessageLimits = DEFAULT_MESSAGE_LIMITS,
    xdm_limits: XdmLimits = DEFAULT_XDM_LIMITS,
) -> InboundMessage:
    """Parse the DATA of an inbound message into an `InboundMessage`.

    Sizes: the message is measured as received (what SMTP SIZE counts), each attachment once
    decoded. Raises `MessageTooLarge`, `AttachmentTooLarge`, `MalformedMessage` and their
    subclasses; see the module docstring for what counts as malformed.
    """
    if len(raw) > max_message_bytes:
        raise MessageTooLarge(
            f"Le message dépasse la taille maximale de {_mb(max_message_bytes)} Mo.",
            smtp_text=f"Message too large (max {_mb(max_message_bytes)} MB)",
        )
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
        leaves = _leaves(message, limits)
        headers = _readable_headers(message)
        body, from_html = _body(leaves)
        attachments: list[Attachment] = []
        for part, _ancestors in leaves:
            if not _is_body_text(part):
                number = len(attachments) + 1
                attachments.append(_attachment(part, number, max_attachment_bytes, xdm_limits))
        tolerated = sorted(
            {type(d).__name__ for part in message.walk() for d in part.defects}
            | {type(d).__name__ for _, h in message.items() for d in getattr(h, "defects", ())}
        )
    except InboundRejected:
        raise
    except (*_PARSER_CRASHES, RecursionError) as exc:
        raise _malformed("structure MIME illisible", "unreadable MIME structure") from exc
    return InboundMessage(
        message_id=headers.message_id,
        from_address=headers.from_address,
        from_display_name=headers.from_display_name,
        to_addresses=headers.to_addresses,
        cc_addresses=headers.cc_addresses,
        subject=headers.subject,
        display_subject=display_subject(headers.subject),
        date=headers.date,
        in_reply_to=headers.in_reply_to,
        references=headers.references,
        closes_conversation=headers.mss.mes.upper() == "FIN" or subject_closes(headers.subject),
        mss=headers.mss,
        text_body=body,
        body_from_html=from_html,
        attachments=tuple(attachments),
        disposition_notification_to=headers.disposition_notification_to,
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        tolerated_defects=tuple(tolerated),
    )


def _malformed(french: str, english: str) -> MalformedMessage:
    return MalformedMessage(
        f"Message mal formé : {french}.", smtp_text=f"Malformed message: {english}"
    )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


_Leaf = tuple[Message, tuple[Message, ...]]


def _leaves(message: Message, limits: MessageLimits) -> list[_Leaf]:
    """The non-multipart parts in order, each with its ancestors; checks structure and defects.

    A `message/*` part (a forwarded mail, a delivery report) is one opaque leaf.
    """
    found: list[_Leaf] = []
    stack: list[_Leaf] = [(message, ())]
    count = 0
    while stack:
        part, ancestors = stack.pop()
        count += 1
        if count > limits.max_parts:
            raise _malformed(
                f"plus de {limits.max_parts} parties MIME", f"more than {limits.max_parts} parts"
            )
        if len(ancestors) > limits.max_depth:
            raise _malformed("parties MIME trop imbriquées", "MIME nesting too deep")
        for defect in part.defects:
            for kind, (french, english) in _FATAL_DEFECTS.items():
                if isinstance(defect, kind):
                    raise _malformed(french, english)
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            stack.extend((child, (*ancestors, part)) for child in reversed(payload))
        else:
            found.append((part, ancestors))
    return found


def _raw_headers(message: Message, name: str) -> list[str]:
    """Header values as received, unfolded (the parsed forms lose text for Message-ID)."""
    wanted = name.lower()
    return [
        re.sub(r"\r?\n(?=[ \t])", "", value).strip()
        for key, value in message.raw_items()
        if key.lower() == wanted
    ]


def _raw_header(message: Message, name: str) -> str:
    values = _raw_headers(message, name)
    return values[0] if values else ""


_MSG_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")


def normalize_message_id(value: str) -> str | None:
    """The msg-id without its angle brackets (`<a@b>` → `a@b`), or None if unusable.

    Brackets may be missing (some software omits them); anything else around the id is refused.
    """
    value = value.strip()
    ids = _MSG_ID.findall(value)
    if len(ids) == 1 and _MSG_ID.sub("", value).strip() == "":
        candidate = str(ids[0])
    elif not ids and value and not _WHITESPACE.search(value) and "<" not in value:
        candidate = value
    else:
        return None
    if len(candidate) > 250 or not _PRINTABLE_ASCII.fullmatch(candidate):
        return None
    return candidate


def _message_ids(value: str) -> tuple[str, ...]:
    return tuple(
        found for found in (normalize_message_id(f"<{i}>") for i in _MSG_ID.findall(value)) if found
    )[:200]


@dataclass(frozen=True, slots=True)
class _Headers:
    message_id: str
    from_address: str
    from_display_name: str
    to_addresses: tuple[str, ...]
    cc_addresses: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: str | None
    references: tuple[str, ...]
    mss: MssHeaders
    disposition_notification_to: str | None


def _readable_headers(message: Message) -> _Headers:
    """The headers, or the refusal that names them when the parser cannot read them."""
    try:
        return _headers(message)
    except _PARSER_CRASHES as exc:
        raise _malformed("en-tête illisible", "unreadable header") from exc


def _headers(message: Message) -> _Headers:
    for name in _UNIQUE_HEADERS:
        if len(_raw_headers(message, name)) > 1:
            raise _malformed(f"en-tête {name} répété", f"duplicate {name} header")
    message_id = normalize_message_id(_raw_header(message, "Message-ID"))
    if message_id is None:
        raise _malformed(
            "en-tête Message-ID absent ou invalide", "missing or invalid Message-ID header"
        )
    sender = message["From"]
    if not isinstance(sender, AddressHeader):
        raise _malformed("en-tête From absent", "missing From header")
    author = sender.addresses[0] if len(sender.addresses) == 1 else None
    if (
        author is None
        or not author.username
        or not author.domain
        or any(
            isinstance(d, errors.InvalidHeaderDefect | errors.HeaderMissingRequiredValue)
            for d in getattr(sender, "defects", ())
        )
    ):
        raise _malformed("en-tête From invalide", "invalid From header")
    codes = _clean_line(_raw_header(message, "X-MSS-CODECDA")).split(",")
    notify = parseaddr(_raw_header(message, "Disposition-Notification-To"))[1]
    notify_parts = _split_address(notify) if notify else None
    return _Headers(
        message_id=message_id,
        from_address=Address(username=author.username, domain=author.domain.lower()).addr_spec,
        from_display_name=_clean_line(author.display_name),
        to_addresses=_addresses(message, "To"),
        cc_addresses=_addresses(message, "Cc"),
        subject=_clean_line(str(message["Subject"] or "")),
        date=_date(message),
        in_reply_to=next(iter(_message_ids(_raw_header(message, "In-Reply-To"))), None),
        references=_message_ids(_raw_header(message, "References")),
        mss=MssHeaders(
            code_cda=tuple(code.strip() for code in codes if code.strip()),
            ins_qualified={"O": True, "N": False}.get(
                _clean_line(_raw_header(message, "X-MSS-INS")).upper()
            ),
            nil=_clean_line(_raw_header(message, "X-MSS-NIL")),
            mes=_clean_line(_raw_header(message, "X-MSS-MES")),
        ),
        disposition_notification_to="@".join(notify_parts) if notify_parts else None,
    )


def _addresses(message: Message, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for header in message.get_all(name, []):
        if isinstance(header, AddressHeader):
            found.extend(
                Address(username=a.username, domain=a.domain.lower()).addr_spec
                for a in header.addresses
                if a.username and a.domain
            )
    return tuple(found)


def _date(message: Message) -> datetime | None:
    header = message["Date"]
    if not isinstance(header, DateHeader) or header.datetime is None:
        return None
    value = header.datetime
    # `-0000` (zone unknown) parses as naive: RFC 5322 says the time is then in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _clean_line(value: str) -> str:
    """One line of text: control and format characters removed, whitespace collapsed."""
    text = "".join(
        " " if char.isspace() else char
        for char in value
        if char.isspace() or unicodedata.category(char)[0] != "C"
    )
    return _WHITESPACE.sub(" ", text).strip()


_REPLY_PREFIX = re.compile(r"^(?:\s*(?:RE|TR|FW|FWD|REF|RÉF)\s*:)+\s*", re.IGNORECASE)
_XDM_PREFIX = re.compile(r"^\s*XDM/1\.0/DDM\s*\+\s*", re.IGNORECASE)
_FIN = "[FIN]"


def _split_subject(subject: str) -> tuple[str, str]:
    """(reply prefixes such as `RE: `, the rest without the `XDM/1.0/DDM+` prefix)."""
    match = _REPLY_PREFIX.match(subject)
    reply = match.group(0) if match else ""
    return reply, _XDM_PREFIX.sub("", subject[len(reply) :]).strip()


def subject_closes(subject: str) -> bool:
    """Whether the subject carries the `[FIN]` marker at its start or end (module docstring)."""
    core = _split_subject(subject)[1].upper()
    return core.startswith(_FIN) or core.endswith(_FIN)


def display_subject(subject: str) -> str:
    """The subject shown to the holder: technical prefixes and a leading/trailing `[FIN]` removed.

    Reply prefixes are kept: `RE: XDM/1.0/DDM+Résultats [FIN]` → `RE: Résultats`.
    """
    reply, text = _split_subject(subject)
    while True:
        before = text
        if text.upper().startswith(_FIN):
            text = text[len(_FIN) :].strip()
        text = _XDM_PREFIX.sub("", text).strip()
        if text.upper().endswith(_FIN):
            text = text[: -len(_FIN)].strip()
        if text == before:
            break
    return f"{_WHITESPACE.sub(' ', reply).strip()} {text}".strip()


# --- body ---------------------------------------------------------------------------------------


def _is_body_text(part: Message) -> bool:
    return (
        part.get_content_type() in ("text/plain", "text/html")
        and part.get_content_disposition() != "attachment"
        and part.get_filename() is None
    )


def _body(leaves: list[_Leaf]) -> tuple[str, bool]:
    """The text body: inline text/plain parts in order; HTML only when no plain alternative."""
    with_plain = {
        id(ancestor)
        for part, ancestors in leaves
        if _is_body_text(part) and part.get_content_type() == "text/plain"
        for ancestor in ancestors
        if ancestor.get_content_type() == "multipart/alternative"
    }
    pieces = []
    from_html = False
    for part, ancestors in leaves:
        if not _is_body_text(part):
            continue
        _check_transfer_encoding(part)
        text = _text_content(part)
        if part.get_content_type() == "text/html":
            if any(id(a) in with_plain for a in ancestors):
                continue
            text = html_to_text(text)
            from_html = True
        pieces.append(_clean_text(text))
    return "\n\n".join(piece for piece in pieces if piece), from_html


def _text_content(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        part.defects.append(UnknownCharsetDefect(charset))
        return data.decode("utf-8", errors="replace")


def _clean_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(char for char in text if char in "\n\t" or unicodedata.category(char)[0] != "C")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _HtmlText(HTMLParser):
    """Text of an HTML body: no script or style content, line breaks where blocks are."""

    _PARAGRAPHS = frozenset(
        {"address", "article", "aside", "blockquote", "dl", "footer", "h1", "h2", "h3", "h4"}
        | {"h5", "h6", "header", "hr", "ol", "p", "pre", "section", "table", "ul"}
    )
    _LINES = frozenset({"br", "dd", "div", "dt", "li", "tr"})
    _CELLS = frozenset({"td", "th"})
    _HIDDEN = frozenset({"script", "style", "template", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._PARAGRAPHS:
            self.pieces.append("\n\n")
        elif tag in self._LINES:
            self.pieces.append("\n- " if tag == "li" else "\n")
        elif tag in self._CELLS:
            self.pieces.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._PARAGRAPHS:
            self.pieces.append("\n\n")
        elif tag in self._LINES and tag != "li":
            self.pieces.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._PARAGRAPHS or tag in self._LINES:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.pieces.append(re.sub(r"[ \t\r\n\f]+", " ", data))


def html_to_text(html: str) -> str:
    """Plain text from untrusted HTML: tags, scripts, styles and comments dropped, entities decoded.

    The stdlib tokenizer fetches nothing and runs in linear time; the result is text, to be escaped
    like any other text where it is shown.
    """
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.pieces).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- attachments --------------------------------------------------------------------------------


def _check_transfer_encoding(part: Message) -> str:
    encoding = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower() or "7bit"
    if encoding not in _ENCODINGS:
        raise _malformed(
            f"encodage de transfert « {_clean_line(encoding)[:40]} » non pris en charge",
            "unsupported Content-Transfer-Encoding",
        )
    if encoding == "base64":
        payload = part.get_payload()
        # str.split() drops the same whitespace as \s+ without a regex pass per line break.
        compact = "".join(payload.split()) if isinstance(payload, str) else ""
        if not _BASE64.fullmatch(compact) or len(compact) % 4 == 1:
            raise _malformed("contenu base64 indécodable", "undecodable base64")
    return encoding


def _attachment(part: Message, number: int, max_bytes: int, xdm_limits: XdmLimits) -> Attachment:
    try:
        original = part.get_filename() or part.get_param("name")
    except _PARSER_CRASHES:
        original = None
    original_name = original if isinstance(original, str) else None
    if part.get_content_maintype() == "message":
        content = _message_bytes(part)
    else:
        encoding = _check_transfer_encoding(part)
        payload = part.get_payload()
        if (
            encoding == "base64"
            and isinstance(payload, str)
            and len(payload) // 4 * 3 > max_bytes * 1.05
        ):
            # Refuse before decoding what is certainly too large (line breaks make up < 5 %).
            _too_large(original_name, max_bytes)
        decoded = part.get_payload(decode=True)
        content = decoded if isinstance(decoded, bytes) else b""
    if len(content) > max_bytes:
        _too_large(original_name, max_bytes)
    declared = part.get_content_type()
    content_type = resolve_content_type(declared, content)
    filename = sanitize_filename(
        original_name, fallback=f"piece-jointe-{number}{_EXTENSIONS.get(content_type, '.bin')}"
    )
    xdm = None
    if filename.upper() == XDM_FILENAME:
        xdm = _read_xdm_attachment(content, content_type, xdm_limits)
    content_id = part.get("Content-ID")
    return Attachment(
        filename=filename,
        original_filename=original_name,
        declared_content_type=declared,
        content_type=content_type,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        inline=part.get_content_disposition() == "inline",
        content_id=normalize_message_id(str(content_id)) if content_id else None,
        xdm=xdm,
    )


def _too_large(filename: str | None, max_bytes: int) -> NoReturn:
    shown = sanitize_filename(filename, fallback="sans nom")
    raise AttachmentTooLarge(
        f"La pièce jointe « {shown} » dépasse la taille maximale de {_mb(max_bytes)} Mo.",
        smtp_text=f"Attachment too large (max {_mb(max_bytes)} MB)",
    )


def _message_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    items = payload if isinstance(payload, list) else []
    try:
        return b"\n".join(
            item.as_bytes(policy=email.policy.default)
            for item in items
            if isinstance(item, Message)
        )
    except _PARSER_CRASHES as exc:
        raise _malformed("message joint illisible", "unreadable attached message") from exc


def _read_xdm_attachment(content: bytes, content_type: str, limits: XdmLimits) -> XdmPackage:
    if content_type != "application/zip":
        raise InvalidXdmAttachment(
            f"La pièce jointe {XDM_FILENAME} n'est pas une archive ZIP ({content_type})."
        )
    try:
        return read_xdm(content, limits=limits)
    except XdmTooLargeError as exc:
        raise XdmAttachmentTooLarge(exc.message) from exc
    except XdmError as exc:
        raise InvalidXdmAttachment(exc.message) from exc


_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)]
)


def sanitize_filename(name: str | None, *, fallback: str) -> str:
    """A file name safe to show and to offer for download: no folders, no control or bidi marks.

    `../../etc/passwd` → `passwd`; a right-to-left override hiding `.exe` is removed; characters
    that Windows forbids become `_`; the length is capped, keeping the extension.
    """
    if not name:
        return fallback
    text = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(char for char in text if unicodedata.category(char)[0] != "C")
    text = re.sub(r'[<>:"|?*]', "_", text)
    text = _WHITESPACE.sub(" ", text).strip(" .")
    if not text:
        return fallback
    stem, dot, extension = text.rpartition(".")
    if (stem if dot else text).upper() in _RESERVED_NAMES:
        text = f"_{text}"
    if len(text) > 200:
        keep = f".{extension[:20]}" if dot else ""
        text = text[: 200 - len(keep)].rstrip(" .") + keep
    return text


# --- content types ------------------------------------------------------------------------------

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
)
_SNIFFABLE = frozenset(
    {
        "application/pdf",
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/tiff",
        "application/zip",
        "application/x-zip-compressed",
        "application/dicom",
        "text/calendar",
        "text/xml",
        "application/xml",
    }
)
_ZIP_CONTAINERS = frozenset(
    {
        "application/x-zip-compressed",
        "application/epub+zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
    }
)
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/tiff": ".tif",
    "application/zip": ".zip",
    "application/dicom": ".dcm",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "text/calendar": ".ics",
    "text/plain": ".txt",
    "text/html": ".html",
    "message/rfc822": ".eml",
}


def _is_xml_type(content_type: str) -> bool:
    return content_type in ("text/xml", "application/xml") or content_type.endswith("+xml")


def sniff_content_type(data: bytes) -> str | None:
    """The type the bytes themselves show (magic numbers), or None when they show nothing known."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if data[128:132] == b"DICM":
        return "application/dicom"
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if head[:15].upper() == b"BEGIN:VCALENDAR":
        return "text/calendar"
    if head.startswith(b"<"):
        root = _xml_root_name(head)
        if root is not None and root.lower() == "html":
            return "text/html"
        if head.startswith(b"<?xml") or root == "ClinicalDocument":
            return "application/xml"
    return None


def resolve_content_type(declared: str, data: bytes) -> str:
    """The content type to trust: what the bytes show, else a label that claims nothing checkable.

    A label that names a type we can recognise but the bytes do not show becomes
    `application/octet-stream`; a more specific label compatible with the bytes is kept
    (`.docx` is a ZIP, a CDA labelled `text/xml` is XML).
    """
    declared = declared.lower()
    sniffed = sniff_content_type(data)
    if sniffed is None:
        if declared in _SNIFFABLE or _is_xml_type(declared):
            if _is_xml_type(declared) and data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
                return declared
            return "application/octet-stream"
        if declared.startswith("text/") and b"\x00" in data[:8192]:
            return "application/octet-stream"
        return declared
    if sniffed == "application/zip" and declared in _ZIP_CONTAINERS:
        return declared
    if sniffed == "application/xml" and _is_xml_type(declared):
        return declared
    return sniffed
