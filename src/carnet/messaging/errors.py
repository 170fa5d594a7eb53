"""Domain errors of the messaging services; each adapter maps them once (portal: a French message
on the same page, FHIR: an OperationOutcome, SMTP gateway: a reply code)."""

from __future__ import annotations

from carnet.core.errors import Conflict, InvalidInput


class ConversationClosed(Conflict):
    """The professional closed the conversation (`X-MSS-MES: FIN` or `[FIN]`): no more replies."""

    code = "conversation-closed"


class SpaceUnavailable(Conflict):
    """The space was opposed, closed, or is not created yet: it receives no message."""

    code = "space-unavailable"


class CorrespondentNotAllowed(InvalidInput):
    """The holder may only write to a professional who wrote to them, or a pharmacy where they had
    a reimbursement in the past year; never to another holder."""

    code = "correspondent-not-allowed"


class AttachmentRefused(InvalidInput):
    """A file the holder attached is not a PDF, JPEG or PNG, or is too large."""

    code = "attachment-refused"


class NotSaveable(InvalidInput):
    """This attachment cannot be saved into the documents (type, or another patient's CDA)."""

    code = "attachment-not-saveable"
