"""Inbound MSSanté mail: addresses, trust, and the parsing of what a professional sends."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.messaging.inbound import (
    AttachmentTooLarge,
    InboundRejected,
    InvalidXdmAttachment,
    MalformedMessage,
    MessageTooLarge,
    UnknownRecipient,
    UntrustedSender,
    XdmAttachmentTooLarge,
    check_recipient,
    check_sender,
    display_subject,
    html_to_text,
    normalize_domains,
    normalize_message_id,
    parse_message,
    recipient_ins,
    resolve_content_type,
    sanitize_filename,
    sender_trusted,
)
from carnet.messaging.limits import MIB, MessageLimits
from carnet.messaging.xdm import DocumentKind
from tests.messaging.builders import (
    PATIENT_DOMAIN,
    PATIENT_INS,
    SAMPLE_CDAS,
    SENDER,
    TRUSTED_DOMAINS,
    build_mss_message,
    embedded_pdf,
    read_cda_header,
    sample_entries,
    xdm_entries,
    zip_bytes,
)

MESSAGE_ID = "<20240116151112.4242@labo-charmes.mssante.fr>"


def _raw(headers: str, body: str = "Bonjour.\n") -> bytes:
    """A hand-written message, for shapes the stdlib would refuse to compose."""
    return (headers.strip("\n") + "\n\n" + body).replace("\n", "\r\n").encode("utf-8")


BASE_HEADERS = f"""
From: Dr Marcel CAMPARINI <{SENDER}>
To: {PATIENT_INS}@patient.{PATIENT_DOMAIN}
Subject: Résultats
Date: Tue, 16 Jan 2024 16:11:12 +0100
Message-ID: {MESSAGE_ID}
MIME-Version: 1.0
"""


# --- recipient ----------------------------------------------------------------------------------


def _corsican_address() -> str:
    # Référentiel INS (docs/standards/ins.md): 2A counts as 19 in the key, key = 97 − (N mod 97).
    body = "2790319215189"
    key = 97 - int(body) % 97
    return f"27903{'2a'}215189{key:02d}@patient.mssante.fr"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("279035121518989@patient.mssante.fr", "279035121518989"),
        ("279035121518989@PATIENT.MSSANTE.FR", "279035121518989"),
        ("<279035121518989@patient.mssante.fr>", "279035121518989"),
        ("  279035121518989@patient.mssante.fr ", "279035121518989"),
        (_corsican_address(), _corsican_address()[:15].upper()),
    ],
)
def test_recipient_ins_of_a_patient_address(address, expected):
    assert recipient_ins(address, patient_domain="mssante.fr") == expected


@pytest.mark.parametrize(
    "address",
    [
        "279035121518988@patient.mssante.fr",  # wrong key
        "27903512151898@patient.mssante.fr",  # 14 characters
        "2790351215189890@patient.mssante.fr",  # 16 characters
        "279.035.121.518.989@patient.mssante.fr",  # separators are not part of an address
        "279035121518989+resultats@patient.mssante.fr",  # no sub-addressing
        "279035121518989@mssante.fr",  # not the patient subdomain
        "279035121518989@x.patient.mssante.fr",
        "279035121518989@patient.mssante.fr.evil.example",
        "279035121518989@patient.mssante.fr.",  # trailing dot
        "279035121518989@patient.mssаnte.fr",  # Cyrillic а
        "２７９035121518989@patient.mssante.fr",  # full-width digits
        '"279035121518989"@patient.mssante.fr',  # quoted local part
        "279035121518989@evil.example@patient.mssante.fr",
        "979035121518989@patient.mssante.fr",  # 9 is not a sex digit
        "",
        "@patient.mssante.fr",
    ],
)
def test_addresses_that_are_not_a_patient_mailbox(address):
    assert recipient_ins(address, patient_domain="mssante.fr") is None


def test_check_recipient_rejects_with_550_5_1_1():
    assert check_recipient(f"{PATIENT_INS}@patient.mssante.fr", patient_domain="mssante.fr") == (
        PATIENT_INS
    )
    with pytest.raises(UnknownRecipient) as caught:
        check_recipient("someone@patient.mssante.fr", patient_domain="mssante.fr")

    assert caught.value.smtp_reply.startswith("550 5.1.1 ")
    assert "patient" in caught.value.message


# --- sender -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        ("dr.x@mssante.fr", True),
        ("dr.x@chu-x.mssante.fr", True),
        ("Dr.X@CHU-X.MSSANTE.FR", True),
        ("<dr.x@chu-x.mssante.fr>", True),
        ("dr.x@evilmssante.fr", False),
        ("dr.x@mssante.fr.evil.example", False),
        ('"dr.x@chu.mssante.fr"@evil.example', False),
        ('"dr x"@chu.mssante.fr', False),
        ("dr.x@evil.example@chu.mssante.fr", False),
        ("dr.x@chu.mssante.fr.", False),
        ("dr.x@chu.mssаnte.fr", False),  # Cyrillic а
        ("dr.x@chu.mssante.fr\x00", False),
        ("dr.x@[192.0.2.1]", False),
        ("dr..x@chu.mssante.fr", False),
        ("@chu.mssante.fr", False),
        ("chu.mssante.fr", False),
        ("", False),
    ],
)
def test_sender_trusted(address, trusted):
    assert sender_trusted(address, trusted_domains=["mssante.fr"]) is trusted


def test_sender_trust_is_exact_domain_or_subdomain_of_the_list():
    domains = ["chu-x.mssante.fr", "test-ci-sis.mssante.fr"]

    assert sender_trusted("a@chu-x.mssante.fr", trusted_domains=domains)
    assert sender_trusted("a@urgences.chu-x.mssante.fr", trusted_domains=domains)
    assert not sender_trusted("a@mssante.fr", trusted_domains=domains)
    assert not sender_trusted("a@chu-y.mssante.fr", trusted_domains=domains)
    assert not sender_trusted("a@chu-x.mssante.fr", trusted_domains=[])


def test_trust_list_is_normalised_and_checked():
    assert normalize_domains([" MSSante.fr ", ".chu.example", "*.labo.example."]) == {
        "mssante.fr",
        "chu.example",
        "labo.example",
    }
    for invalid in ["fr", "", "mss ante.fr", "mssanté.fr", "a..b"]:
        with pytest.raises(ValueError, match="Invalid mail domain"):
            normalize_domains([invalid])


def test_check_sender_rejects_with_550_5_7_1():
    assert check_sender("Dr.X@CHU.mssante.fr", trusted_domains=TRUSTED_DOMAINS) == (
        "Dr.X@chu.mssante.fr"
    )
    with pytest.raises(UntrustedSender) as caught:
        check_sender("spam@evil.example", trusted_domains=TRUSTED_DOMAINS)

    assert caught.value.smtp_reply == "550 5.7.1 Sender is not in the MSSante trust space"
    assert "espace de confiance" in caught.value.message


# --- a realistic message ------------------------------------------------------------------------


def test_composed_message_parses_into_its_fields_and_xdm_documents():
    pdf = embedded_pdf()
    raw = build_mss_message(cda_files=SAMPLE_CDAS, pdf=pdf, message_id=MESSAGE_ID)

    message = parse_message(raw)

    assert message.message_id == "20240116151112.4242@labo-charmes.mssante.fr"
    assert message.from_address == SENDER
    assert message.from_display_name == "Dr Marcel CAMPARINI"
    assert message.to_addresses == (f"{PATIENT_INS}@patient.mssante.fr",)
    assert message.subject == "XDM/1.0/DDM+Compte rendu d'examens biologiques"
    assert message.display_subject == "Compte rendu d'examens biologiques"
    assert message.date == datetime(2024, 1, 16, 15, 11, 12, tzinfo=UTC)
    assert message.closes_conversation is False
    assert message.mss.code_cda == ("11502-2", "87273-9")
    assert message.mss.ins_qualified is True
    assert message.mss.nil == "CARNET-TESTS-1.0"
    assert message.text_body.startswith("Madame,\n\nVous trouverez ci-joint vos résultats")
    assert message.body_from_html is False
    assert message.size == len(raw)
    assert message.sha256 == hashlib.sha256(raw).hexdigest()
    assert message.problems == ()
    report, archive = message.attachments
    assert (report.filename, report.content_type, report.declared_content_type) == (
        "compte-rendu.pdf",
        "application/pdf",
        "application/pdf",
    )
    assert report.content == pdf
    assert report.sha256 == hashlib.sha256(pdf).hexdigest()
    assert report.size == len(pdf)
    assert report.xdm is None
    assert archive.filename == "IHE_XDM.ZIP"
    assert archive.xdm is not None
    documents = message.xdm_documents
    assert [d.unique_id for d in documents] == [read_cda_header(p).unique_id for p in SAMPLE_CDAS]
    assert [d.content for d in documents] == [p.read_bytes() for p in SAMPLE_CDAS]
    assert all(d.kind is DocumentKind.CDA for d in documents)


def test_a_retry_keeps_the_message_id_that_deduplicates_it():
    first = parse_message(build_mss_message(message_id=MESSAGE_ID))
    retry = parse_message(
        build_mss_message(
            message_id=f"  {MESSAGE_ID} ", date=datetime(2024, 1, 16, 15, 20, tzinfo=UTC)
        )
    )

    assert first.message_id == retry.message_id
    assert first.sha256 != retry.sha256


def test_reply_headers_are_read():
    raw = build_mss_message(
        headers={
            "In-Reply-To": "<question-1@patient.mssante.fr>",
            "References": "<start@chu.mssante.fr> <question-1@patient.mssante.fr>",
            "Disposition-Notification-To": "Secrétariat <secretariat@chu.mssante.fr>",
        }
    )

    message = parse_message(raw)

    assert message.in_reply_to == "question-1@patient.mssante.fr"
    assert message.references == ("start@chu.mssante.fr", "question-1@patient.mssante.fr")
    assert message.disposition_notification_to == "secretariat@chu.mssante.fr"


# --- closing and subjects -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["FIN", " fin ", "Fin"])
def test_x_mss_mes_fin_closes_the_conversation(value):
    message = parse_message(build_mss_message(headers={"X-MSS-MES": value}))

    assert message.closes_conversation is True
    assert message.mss.mes == value.strip()


@pytest.mark.parametrize(
    ("subject", "closes", "shown"),
    [
        ("[FIN]", True, ""),
        ("[fin]", True, ""),
        ("XDM/1.0/DDM+[FIN]", True, ""),
        ("XDM/1.0/DDM+[FIN] Résultats définitifs", True, "Résultats définitifs"),
        ("Résultats définitifs [FIN]", True, "Résultats définitifs"),
        ("RE: [FIN]", True, "RE:"),
        ("RE: XDM/1.0/DDM+Résultats [FIN]", True, "RE: Résultats"),
        ("Résultats [FIN] puis contrôle", False, "Résultats [FIN] puis contrôle"),
        ("Fin de traitement", False, "Fin de traitement"),
        ("XDM/1.0/DDM+Compte rendu", False, "Compte rendu"),
        ("xdm/1.0/ddm + Compte rendu", False, "Compte rendu"),
        ("Compte rendu XDM/1.0/DDM+", False, "Compte rendu XDM/1.0/DDM+"),
    ],
)
def test_fin_subject_and_display_subject(subject, closes, shown):
    message = parse_message(build_mss_message(subject=subject))

    assert message.closes_conversation is closes
    assert message.display_subject == shown
    assert display_subject(subject) == shown


def test_encoded_subject_is_decoded_and_cleaned():
    raw = _raw(
        BASE_HEADERS.replace(
            "Subject: Résultats", "Subject: =?utf-8?q?R=C3=A9sultats=07?=\n\t d'analyses"
        )
    )

    message = parse_message(raw)

    assert message.subject == "Résultats d'analyses"


# --- sizes --------------------------------------------------------------------------------------


def test_oversized_message_is_refused_with_552():
    raw = build_mss_message(
        attachments=[("scan.pdf", "application/pdf", b"%PDF-1.7\n" + bytes(16 * MIB))]
    )
    assert len(raw) > 20 * MIB

    with pytest.raises(MessageTooLarge) as caught:
        parse_message(raw)

    assert caught.value.smtp_reply == "552 5.3.4 Message too large (max 20 MB)"
    assert "20 Mo" in caught.value.message


def test_oversized_attachment_is_refused_with_552():
    content = b"%PDF-1.7\n" + bytes(10 * MIB)
    raw = build_mss_message(attachments=[("irm.pdf", "application/pdf", content)])
    assert len(raw) < 20 * MIB

    with pytest.raises(AttachmentTooLarge) as caught:
        parse_message(raw)

    assert caught.value.smtp_reply == "552 5.3.4 Attachment too large (max 10 MB)"
    assert "irm.pdf" in caught.value.message


@pytest.mark.parametrize(("extra", "accepted"), [(0, True), (1, False)])
def test_attachment_limit_is_inclusive(extra, accepted):
    content = b"%PDF-1.7\n" + bytes(1000 - 9 + extra)
    raw = build_mss_message(attachments=[("a.pdf", "application/pdf", content)])

    if accepted:
        assert parse_message(raw, max_attachment_bytes=1000).attachments[0].size == 1000
    else:
        with pytest.raises(AttachmentTooLarge):
            parse_message(raw, max_attachment_bytes=1000)


# --- malformed MIME -----------------------------------------------------------------------------

MULTIPART = BASE_HEADERS + 'Content-Type: multipart/mixed; boundary="XX"\n'
TEXT_PART = "--XX\nContent-Type: text/plain; charset=utf-8\n\nBonjour.\n"


def _with_part(part_headers: str, payload: str) -> bytes:
    return _raw(MULTIPART, f"{TEXT_PART}--XX\n{part_headers.strip()}\n\n{payload}\n--XX--\n")


MALFORMED = {
    "no boundary": (
        _raw(BASE_HEADERS + "Content-Type: multipart/mixed\n", "texte\n"),
        "multipart without boundary",
    ),
    "boundary never found": (
        _raw(MULTIPART, "texte sans séparateur\n"),
        "multipart boundary not found",
    ),
    "truncated": (
        _raw(MULTIPART, TEXT_PART + "--XX\nContent-Type: application/pdf\n\nJVBE"),
        "multipart closing boundary missing",
    ),
    "headers run into the body": (
        _raw(BASE_HEADERS + "this line is not a header\nX-A: b\n"),
        "header section not terminated",
    ),
    "transfer encoding on a multipart": (
        _raw(MULTIPART + "Content-Transfer-Encoding: base64\n", TEXT_PART + "--XX--\n"),
        "transfer encoding on a multipart",
    ),
    "base64 with foreign characters": (
        _with_part(
            "Content-Type: application/pdf\nContent-Transfer-Encoding: base64", "JVBERi0x!!LjQK"
        ),
        "undecodable base64",
    ),
    "base64 of impossible length": (
        _with_part("Content-Type: application/pdf\nContent-Transfer-Encoding: base64", "JVBERi0xL"),
        "undecodable base64",
    ),
    "padding in the middle": (
        _with_part("Content-Type: application/pdf\nContent-Transfer-Encoding: base64", "JVA=JVA="),
        "undecodable base64",
    ),
    "base64 text body": (
        _raw(
            BASE_HEADERS + "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n",
            "Qm9uam91*ci4=",
        ),
        "undecodable base64",
    ),
    "unknown transfer encoding": (
        _with_part(
            "Content-Type: application/pdf\nContent-Transfer-Encoding: x-uuencode", "begin 644 a"
        ),
        "unsupported Content-Transfer-Encoding",
    ),
    "no From": (
        _raw(BASE_HEADERS.replace(f"From: Dr Marcel CAMPARINI <{SENDER}>\n", "")),
        "missing From header",
    ),
    "two From addresses": (
        _raw(BASE_HEADERS.replace(f"<{SENDER}>", f"<{SENDER}>, b@chu.mssante.fr")),
        "invalid From header",
    ),
    "From without address": (
        _raw(BASE_HEADERS.replace(f"<{SENDER}>", "<<<@@")),
        "invalid From header",
    ),
    "group as From": (
        _raw(BASE_HEADERS.replace(f"Dr Marcel CAMPARINI <{SENDER}>", "Undisclosed:;")),
        "invalid From header",
    ),
    "two From headers": (
        _raw(BASE_HEADERS + "From: other@chu.mssante.fr\n"),
        "duplicate From header",
    ),
    "no Message-ID": (
        _raw(BASE_HEADERS.replace(f"Message-ID: {MESSAGE_ID}\n", "")),
        "missing or invalid Message-ID header",
    ),
    "Message-ID with spaces": (
        _raw(BASE_HEADERS.replace(MESSAGE_ID, "<a b@c>")),
        "missing or invalid Message-ID header",
    ),
    "two Message-ID": (
        _raw(BASE_HEADERS + "Message-ID: <other@chu.mssante.fr>\n"),
        "duplicate Message-ID header",
    ),
    "two Subject": (_raw(BASE_HEADERS + "Subject: [FIN]\n"), "duplicate Subject header"),
    "two X-MSS-MES": (
        _raw(BASE_HEADERS + "X-MSS-MES: FIN\nX-MSS-MES: OK\n"),
        "duplicate X-MSS-MES header",
    ),
    # Found by the property test below: the standard library's parser raises on this display name.
    "From the parser cannot read": (
        _raw(BASE_HEADERS.replace("From: Dr", "From: . Dr")),
        "unreadable header",
    ),
    "garbage": (b"\x00\x01\x02\xff\xfe garbage", "header section not terminated"),
    "empty": (b"", "missing or invalid Message-ID header"),
}


@pytest.mark.parametrize(("raw", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_messages_are_refused_with_554_5_6_0(raw, reason):
    with pytest.raises(MalformedMessage) as caught:
        parse_message(raw)

    assert caught.value.smtp_reply == f"554 5.6.0 Malformed message: {reason}"
    assert caught.value.message.startswith("Message mal formé : ")


def test_too_many_parts_are_refused():
    parts = "".join(f"--XX\nContent-Type: text/plain\n\npartie {i}\n" for i in range(30))

    with pytest.raises(MalformedMessage, match="plus de 20 parties"):
        parse_message(_raw(MULTIPART, parts + "--XX--\n"), limits=MessageLimits(max_parts=20))


def test_too_deep_nesting_is_refused():
    depth = 30
    opening = "".join(
        f'--B{i}\nContent-Type: multipart/mixed; boundary="B{i + 1}"\n\n' for i in range(depth)
    )
    closing = "".join(f"--B{i}--\n" for i in reversed(range(depth + 1)))
    raw = _raw(
        BASE_HEADERS + 'Content-Type: multipart/mixed; boundary="B0"\n',
        opening + f"--B{depth}\nContent-Type: text/plain\n\nfond\n" + closing,
    )

    with pytest.raises(MalformedMessage, match="trop imbriquées"):
        parse_message(raw)


def test_tolerated_defects_are_kept_for_the_audit():
    raw = _raw(
        BASE_HEADERS.replace("Tue, 16 Jan 2024 16:11:12 +0100", "le 16 janvier")
        + 'Content-Type: multipart/mixed; boundary="XX"\n',
        "--XX\nContent-Type: text/plain; charset=x-martian\n\nBonjour\n"
        "--XX\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n"
        "Content-Transfer-Encoding: base64\n\n"
        + base64.b64encode(b"%PDF-1.4\n%%EOF\r\n").decode().rstrip("=")
        + "\n--XX--\n",
    )

    message = parse_message(raw)

    assert message.date is None
    assert message.text_body == "Bonjour"
    assert message.attachments[0].content == b"%PDF-1.4\n%%EOF\r\n"
    assert set(message.tolerated_defects) >= {
        "InvalidBase64PaddingDefect",
        "InvalidDateDefect",
        "UnknownCharsetDefect",
    }


# --- bodies -------------------------------------------------------------------------------------


def test_plain_text_is_preferred_to_its_html_alternative():
    raw = build_mss_message(body="Texte brut.\n", html_body="<p>Version <b>HTML</b></p>")

    message = parse_message(raw)

    assert message.text_body == "Texte brut."
    assert message.body_from_html is False
    assert message.attachments == ()


def test_html_only_body_is_converted_to_text_safely():
    html = (
        "<html><head><title>Courrier</title><style>p{color:red}</style></head><body>"
        "<p>Bonjour&nbsp;Madame,</p><script>alert('x')</script>"
        "<p>Vos r&eacute;sultats&#160;: <a href='javascript:evil()'>ici</a><br>merci</p>"
        "<ul><li>TSH</li><li>T4</li></ul><!-- <p>caché</p> --></body></html>"
    )
    raw = _raw(BASE_HEADERS + "Content-Type: text/html; charset=utf-8\n", html)

    message = parse_message(raw)

    assert message.body_from_html is True
    assert message.text_body == "Bonjour\xa0Madame,\n\nVos résultats\xa0: ici\nmerci\n\n- TSH\n- T4"
    assert "alert" not in message.text_body
    assert "color" not in message.text_body
    assert "caché" not in message.text_body


def test_html_to_text_ignores_unclosed_and_broken_markup():
    assert html_to_text("<p>un<p>deux<div>trois") == "un\n\ndeux\ntrois"
    assert html_to_text("<b>gras</i> & <3") == "gras & <3"


# --- attachments --------------------------------------------------------------------------------


def test_calendar_invitation_is_flagged():
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    raw = build_mss_message(attachments=[("rendez-vous.ics", "text/calendar", ics)])

    message = parse_message(raw)

    (invitation,) = message.calendar_attachments
    assert invitation.filename == "rendez-vous.ics"
    assert invitation.content == ics


def test_forwarded_message_is_kept_whole_as_an_eml_attachment():
    inner = _raw(BASE_HEADERS.replace(MESSAGE_ID, "<inner@chu.mssante.fr>"), "Message transféré.\n")
    raw = _raw(
        MULTIPART,
        TEXT_PART + "--XX\nContent-Type: message/rfc822\n\n" + inner.decode() + "\n--XX--\n",
    )

    message = parse_message(raw)

    (forwarded,) = message.attachments
    assert forwarded.filename == "piece-jointe-1.eml"
    assert forwarded.content_type == "message/rfc822"
    assert b"Message-ID: <inner@chu.mssante.fr>" in forwarded.content
    assert message.text_body == "Bonjour."


def test_path_in_attachment_name_is_removed():
    raw = build_mss_message(attachments=[("../../etc/passwd", "text/plain", b"root:x:0:0\n")])

    (attachment,) = parse_message(raw).attachments

    assert attachment.filename == "passwd"
    assert attachment.original_filename == "../../etc/passwd"


def test_encoded_attachment_names_are_decoded():
    encoded = "=?utf-8?B?" + base64.b64encode("compte rendu été.pdf".encode()).decode() + "?="
    pdf = base64.b64encode(b"%PDF-1.4\n").decode()
    raw = _raw(
        MULTIPART,
        TEXT_PART
        + f'--XX\nContent-Type: application/pdf; name="{encoded}"\n'
        + f'Content-Disposition: attachment; filename="{encoded}"\n'
        + f"Content-Transfer-Encoding: base64\n\n{pdf}\n"
        + "--XX\nContent-Type: application/pdf\n"
        + "Content-Disposition: attachment; filename*=utf-8''%E2%80%AEfdp.exe\n"
        + f"Content-Transfer-Encoding: base64\n\n{pdf}\n--XX--\n",
    )

    first, second = parse_message(raw).attachments

    assert first.filename == "compte rendu été.pdf"
    # The right-to-left override that would display "exe.pdf" is removed.
    assert second.original_filename == "\u202efdp.exe"
    assert second.filename == "fdp.exe"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\ordonnance.pdf", "ordonnance.pdf"),
        ("..", "fallback.bin"),
        ("  .hidden. ", "hidden"),
        ("a\x00b\x1fc\x7f.pdf", "abc.pdf"),
        ('rapport<1>:"v2"|?*.pdf', "rapport_1___v2____.pdf"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("e\u0301chographie.pdf", "échographie.pdf"),
        ("", "fallback.bin"),
        (None, "fallback.bin"),
    ],
)
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name, fallback="fallback.bin") == expected


def test_long_filename_keeps_its_extension():
    name = sanitize_filename("x" * 300 + ".pdf", fallback="f")

    assert len(name) == 200
    assert name.endswith("xxx.pdf")


def test_nameless_attachment_gets_a_name_from_its_real_type():
    raw = _with_part(
        "Content-Type: application/octet-stream\nContent-Disposition: attachment\n"
        "Content-Transfer-Encoding: base64",
        base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(20)).decode(),
    )

    (attachment,) = parse_message(raw).attachments

    assert attachment.filename == "piece-jointe-1.png"
    assert attachment.content_type == "image/png"


def test_executable_labelled_pdf_is_reported_as_what_it_is():
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(120) + b"This program cannot be run in DOS mode."
    raw = build_mss_message(attachments=[("resultats.pdf", "application/pdf", exe)])

    message = parse_message(raw)

    (attachment,) = message.attachments
    assert attachment.declared_content_type == "application/pdf"
    assert attachment.content_type == "application/x-msdownload"
    assert attachment.content_type_mismatch
    assert any("resultats.pdf" in p and "application/x-msdownload" in p for p in message.problems)


@pytest.mark.parametrize(
    ("declared", "data", "expected"),
    [
        ("application/pdf", b"%PDF-1.7\n...", "application/pdf"),
        ("application/octet-stream", b"%PDF-1.7\n...", "application/pdf"),
        ("image/png", b"just text", "application/octet-stream"),
        ("image/jpeg", b"\x89PNG\r\n\x1a\n....", "image/png"),
        ("application/pdf", b"\x7fELF\x02\x01", "application/x-executable"),
        ("text/xml", b'<?xml version="1.0"?><ClinicalDocument/>', "text/xml"),
        (
            "application/octet-stream",
            b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>",
            "application/xml",
        ),
        ("text/xml", b"%PDF-1.4", "application/pdf"),
        ("application/xml", b"not xml at all", "application/octet-stream"),
        ("text/plain", b"<!DOCTYPE html><html><body>", "text/html"),
        ("text/plain", b"Bonjour", "text/plain"),
        ("text/plain", b"Bon\x00jour", "application/octet-stream"),
        ("text/calendar", b"BEGIN:VCALENDAR\r\n", "text/calendar"),
        ("text/calendar", b"MZ\x90\x00", "application/x-msdownload"),
        ("text/calendar", b"nope", "application/octet-stream"),
        ("application/zip", b"PK\x03\x04....", "application/zip"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"PK\x03\x04....",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("application/dicom", bytes(128) + b"DICM....", "application/dicom"),
        ("application/msword", b"\xd0\xcf\x11\xe0", "application/msword"),
    ],
)
def test_content_type_follows_the_bytes(declared, data, expected):
    assert resolve_content_type(declared, data) == expected


# --- IHE_XDM.ZIP attachments --------------------------------------------------------------------


def test_hostile_xdm_attachment_is_refused_with_554():
    entries = {**xdm_entries(sample_entries(SAMPLE_CDAS[:1])), "../../evil": b"x"}
    raw = build_mss_message(xdm=zip_bytes(entries))

    with pytest.raises(InvalidXdmAttachment) as caught:
        parse_message(raw)

    assert caught.value.smtp_reply == "554 5.6.0 Invalid IHE_XDM.ZIP attachment"
    assert "sort de son dossier" in caught.value.message


def test_zip_bomb_in_xdm_attachment_is_refused_with_552():
    entries = {
        **xdm_entries(sample_entries(SAMPLE_CDAS[:1])),
        "IHE_XDM/SUBSET01/BOMB.XML": bytes(40 * MIB),
    }
    raw = build_mss_message(xdm=zip_bytes(entries))

    with pytest.raises(XdmAttachmentTooLarge) as caught:
        parse_message(raw)

    assert caught.value.smtp_reply.startswith("552 5.3.4 ")


def test_xdm_attachment_that_is_not_a_zip_is_refused():
    raw = build_mss_message(xdm=b"%PDF-1.4 not a zip")

    with pytest.raises(InvalidXdmAttachment, match="n'est pas une archive ZIP"):
        parse_message(raw)


def test_code_cda_header_that_disagrees_with_the_xdm_is_reported():
    raw = build_mss_message(
        xdm=zip_bytes(xdm_entries(sample_entries(SAMPLE_CDAS[2:]))),
        headers={"X-MSS-CODECDA": "11502-2"},
    )

    message = parse_message(raw)

    assert any("X-MSS-CODECDA" in problem for problem in message.problems)


# --- message ids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a.b@c.fr>", "a.b@c.fr"),
        ("  < a.b@c.fr >  ", "a.b@c.fr"),
        ("a.b@c.fr", "a.b@c.fr"),
        ("<a b@c.fr>", None),
        ("<a@b> <c@d>", None),
        ("<a@b> trailing", None),
        ("", None),
        ("<" + "x" * 300 + "@c.fr>", None),
        ("<é@c.fr>", None),
    ],
)
def test_normalize_message_id(value, expected):
    assert normalize_message_id(value) == expected


# --- robustness ---------------------------------------------------------------------------------

SMALL_MESSAGE = build_mss_message(
    html_body="<p>Bonjour</p>",
    attachments=[("a.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")],
    message_id=MESSAGE_ID,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_messages_give_a_message_or_an_smtp_rejection(data):
    raw = bytearray(SMALL_MESSAGE)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position : position + 1] = data.draw(st.binary(min_size=0, max_size=3))

    try:
        parse_message(bytes(raw))
        reply = "250 OK"
    except InboundRejected as rejection:
        reply = rejection.smtp_reply
    # Accepted, or refused with one printable SMTP line: never another exception.
    assert re.fullmatch(r"(250 OK|5\d\d 5\.\d\.\d [\x20-\x7e]+)", reply)
