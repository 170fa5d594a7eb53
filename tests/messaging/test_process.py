"""`process_inbound`, the gateway's processing function, called directly: what is stored for the
holder, and the SMTP reply of each refusal."""

from __future__ import annotations

import pytest

from carnet.audit.models import AuditEvent
from carnet.identity.models import SpaceStatus
from carnet.messaging.gateway import process_inbound
from carnet.messaging.models import Attachment, Conversation, Message
from tests.messaging.builders import (
    SAMPLE_CDAS,
    SENDER,
    build_mss_message,
    embedded_pdf,
    patient_address,
)

pytestmark = pytest.mark.django_db


def _process(raw, *, mail_from=SENDER, rcpt=None):
    return process_inbound(raw, mail_from=mail_from, rcpt_tos=[rcpt or patient_address()])


def test_a_message_with_an_xdm_and_a_pdf_is_stored_with_its_documents(holder):
    raw = build_mss_message(cda_files=SAMPLE_CDAS, pdf=embedded_pdf())

    result = _process(raw)

    assert result.reply.startswith("250 2.0.0")
    (delivered,) = result.delivered
    assert delivered.created
    message = Message.objects.get(pk=delivered.message_id)
    assert message.patient_id == holder.pk
    assert message.subject == "Compte rendu d'examens biologiques"
    assert "résultats d'analyses" in message.body
    files = list(Attachment.objects.filter(message=message).order_by("position"))
    assert [f.content_type for f in files] == ["application/pdf"] + ["text/xml"] * 3
    cdas = [f for f in files if f.is_cda]
    assert [f.xdm_metadata["type_code"] for f in cdas] == ["11502-2", "11502-2", "87273-9"]
    event = AuditEvent.objects.filter(patient_id=holder.pk, action="messaging:message:create")
    assert event.get().actor_id == "mss-gateway"


def test_a_retried_message_is_stored_once(holder):
    raw = build_mss_message(message_id="<retry-1@labo-charmes.mssante.fr>")
    first = _process(raw)
    again = _process(raw)
    assert first.accepted
    assert again.accepted
    assert again.delivered[0].created is False
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


@pytest.mark.parametrize(
    ("headers", "subject"),
    [({"X-MSS-MES": "FIN"}, "Résultats"), ({}, "[FIN] Résultats")],
)
def test_a_fin_message_closes_the_conversation(holder, headers, subject):
    result = _process(build_mss_message(subject=subject, headers=headers))
    assert result.accepted
    assert Conversation.objects.get().closed


@pytest.mark.parametrize(
    ("kwargs", "reply"),
    [
        ({"mail_from": "someone@gmail.com"}, "550 5.7.1"),
        ({"rcpt": "123@patient.mssante.fr"}, "550 5.1.1"),
        ({"rcpt": "279035121518989@patient.example.org"}, "550 5.1.1"),
        ({"mail_from": "123456789012345@patient.mssante.fr"}, "550 5.7.1"),
    ],
)
def test_envelope_refusals(holder, kwargs, reply):
    result = _process(build_mss_message(), **kwargs)
    assert result.reply.startswith(reply)
    assert Message.objects.count() == 0


def test_an_unknown_patient_is_an_unknown_recipient(db):
    assert _process(build_mss_message()).reply.startswith("550 5.1.1")


@pytest.mark.parametrize("status", [SpaceStatus.OPPOSED, SpaceStatus.CLOSED, SpaceStatus.NOTIFIED])
def test_a_space_that_is_not_open_refuses_mail_with_a_clear_reason(holder, status):
    holder.space_status = status
    holder.save()
    result = _process(build_mss_message())
    assert result.reply.startswith("550 5.2.1")
    assert Message.objects.count() == 0


def test_a_from_header_outside_the_trust_space_is_refused(holder):
    raw = build_mss_message(sender="dr.house@gmail.com")
    result = _process(raw, mail_from=SENDER)
    assert result.reply.startswith("550 5.7.1")
    assert Message.objects.count() == 0


def test_the_smtp_replies_are_one_line_of_ascii(holder):
    result = _process(build_mss_message(), rcpt="279035121518989@patient.exemple.org")
    assert result.code == 550
    assert result.reply.isascii()
    assert "\n" not in result.reply
