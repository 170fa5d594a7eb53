"""The gateway through real SMTP sessions on loopback (Python's smtplib against the aiosmtpd
server `manage.py smtp_gateway` runs): acceptance, each refusal with its code, retries, FIN,
STARTTLS with a self-signed certificate, and saving a received CDA into the documents."""

from __future__ import annotations

import datetime as dt
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import threading

import pytest

from carnet.documents import services as documents
from carnet.identity.services import actor_for_user
from carnet.messaging import services
from carnet.messaging.models import Conversation, Message
from tests.conftest import free_port
from tests.messaging.builders import (
    SAMPLE_CDAS,
    SENDER,
    build_mss_message,
    build_xdm_zip,
    embedded_pdf,
    patient_address,
    read_cda_header,
    zip_bytes,
)
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.slow

MB = 1024 * 1024


def _crlf(raw):
    """SMTP lines end with CRLF (the builders write LF, as files do)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _session(gateway, raw, sender, rcpt, starttls):
    with smtplib.SMTP(gateway.hostname, gateway.port, timeout=30) as client:
        client.ehlo("lps.labo-charmes.mssante.fr")
        if starttls:
            context = ssl.create_default_context()
            context.check_hostname = False  # the test certificate is self-signed
            context.verify_mode = ssl.CERT_NONE
            client.starttls(context=context)
            client.ehlo("lps.labo-charmes.mssante.fr")
        return client.sendmail(sender, [rcpt or patient_address()], _crlf(raw))


def _send(gateway, raw, *, sender=SENDER, rcpt=None, starttls=False):
    """An SMTP session from a client thread while this thread serves the gateway's storage."""
    outcome = {}

    def client():
        try:
            outcome["value"] = _session(gateway, raw, sender, rcpt, starttls)
        except Exception as exc:  # re-raised below, in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=client)
    thread.start()
    gateway.executor.serve_while(thread.is_alive)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _refusal(gateway, raw, **kwargs):
    with pytest.raises(smtplib.SMTPException) as caught:
        _send(gateway, raw, **kwargs)
    exc = caught.value
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        ((code, text),) = exc.recipients.values()
        return code, text.decode()
    return exc.smtp_code, exc.smtp_error.decode()


def test_a_message_with_an_xdm_and_a_pdf_reaches_the_inbox_and_its_cda_is_saved(gateway, holder):
    # given a laboratory's message with three CDAs in an IHE_XDM.ZIP and a PDF copy
    raw = build_mss_message(cda_files=SAMPLE_CDAS, pdf=embedded_pdf())

    # when it is sent over SMTP
    assert _send(gateway, raw) == {}

    # then it is in the holder's inbox, with its sender named and its attachments counted
    actor = actor_for_user(holder.user)
    (row,) = services.inbox(actor, patient_id=str(holder.pk))
    assert row.unread == 1
    assert row.attachments == 4
    assert row.conversation.subject == "Compte rendu d'examens biologiques"
    assert row.correspondent == "Dr Marcel CAMPARINI"
    view = services.read_conversation(actor, str(row.conversation.pk))
    (message,) = view.messages
    header = read_cda_header(SAMPLE_CDAS[1])
    cda = next(
        a
        for a in message.attachments
        if a.is_cda and a.xdm_metadata["unique_id"] == header.unique_id
    )

    # and saving the CDA gives a document with the CDA's own metadata
    result = services.save_attachment(actor, str(cda.pk))
    entry = documents.get_document(actor, str(result.document.pk))
    assert result.created
    assert entry.type_code == header.type_code[0] == "11502-2"
    assert entry.title == header.title
    assert entry.unique_id == header.unique_id
    assert entry.created_at_source == dt.datetime(2021, 4, 1, 16, 10, tzinfo=dt.UTC)
    assert entry.mime_type == "text/xml"
    assert entry.cda_level == "N3"


def test_starttls_is_offered_and_works(gateway, holder):
    assert _send(gateway, build_mss_message(), starttls=True) == {}
    assert Message.objects.count() == 1


def test_an_untrusted_sender_is_refused(gateway, holder):
    code, text = _refusal(gateway, build_mss_message(), sender="dr.house@gmail.com")
    assert (code, text[:5]) == (550, "5.7.1")


def test_an_unknown_recipient_is_refused(gateway, holder):
    code, text = _refusal(gateway, build_mss_message(), rcpt="190017512345678@patient.mssante.fr")
    assert (code, text[:5]) == (550, "5.1.1")


def test_a_message_over_20_mb_is_refused_before_its_data(gateway, holder):
    pieces = [(f"annexe-{i}.pdf", "application/pdf", b"%PDF-" + bytes(7 * MB)) for i in range(3)]
    code, _text = _refusal(gateway, build_mss_message(attachments=pieces))
    assert code == 552
    assert Message.objects.count() == 0


def test_an_attachment_over_10_mb_is_refused(gateway, holder):
    big = [("imagerie.pdf", "application/pdf", b"%PDF-" + bytes(11 * MB))]
    code, text = _refusal(gateway, build_mss_message(attachments=big))
    assert (code, text[:5]) == (552, "5.3.4")


def test_malformed_mime_is_refused(gateway, holder):
    raw = build_mss_message(pdf=embedded_pdf())
    truncated = raw[: raw.rindex(b"--")]  # the closing boundary is lost
    code, text = _refusal(gateway, truncated)
    assert (code, text[:5]) == (554, "5.6.0")


def test_an_unreadable_xdm_is_refused(gateway, holder):
    raw = build_mss_message(xdm=zip_bytes({"README.TXT": b"pas de IHE_XDM"}))
    code, text = _refusal(gateway, raw)
    assert (code, text[:5]) == (554, "5.6.0")


def test_a_retried_message_is_stored_once(gateway, holder):
    raw = build_mss_message(message_id="<envoi-42@labo-charmes.mssante.fr>", xdm=build_xdm_zip())
    _send(gateway, raw)
    _send(gateway, raw)
    assert Message.objects.count() == 1


def test_a_fin_message_closes_the_conversation_to_replies(gateway, holder):
    _send(gateway, build_mss_message(headers={"X-MSS-MES": "FIN"}))
    conversation = Conversation.objects.get()
    assert conversation.closed
    actor = actor_for_user(holder.user)
    assert not services.read_conversation(actor, str(conversation.pk)).may_reply


def test_the_command_runs_the_gateway_as_a_process_of_its_own(tmp_path, tls_files):
    # given `manage.py smtp_gateway` started with its certificate
    cert, key = tls_files
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        CARNET_MODE="test",
        CARNET_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PYTHONPATH=str(REPO_ROOT / "src"),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO_ROOT / "manage.py"),
            "smtp_gateway",
            f"--port={port}",
            f"--tls-cert={cert}",
            f"--tls-key={key}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "Passerelle MSSanté sur 127.0.0.1" in process.stdout.readline()  # nothing before
        # then it speaks ESMTP with STARTTLS and the size limit, and refuses untrusted senders
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            code, features = client.ehlo("lps.exemple.org")
            assert code == 250
            assert b"STARTTLS" in features
            assert b"SIZE 20971520" in features
            assert b"AUTH" not in features
            code, reply = client.mail("dr.house@gmail.com")
            assert (code, reply[:5]) == (550, b"5.7.1")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
