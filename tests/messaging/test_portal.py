"""The portal's "Messagerie": inbox like the seed, conversation, reply with attachments, saving
an attachment, deleting a conversation, writing to an allowed correspondent; another holder
gets 404 everywhere."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from carnet.documents.models import DocumentEntry
from carnet.messaging.gateway import process_inbound
from carnet.messaging.models import Message, Outbox
from tests.factories import make_holder
from tests.messaging.builders import (
    SAMPLE_CDAS,
    SENDER,
    build_mss_message,
    embedded_pdf,
    patient_address,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(holder):
    raw = build_mss_message(cda_files=SAMPLE_CDAS[:1], pdf=embedded_pdf())
    result = process_inbound(raw, mail_from=SENDER, rcpt_tos=[patient_address()])
    return Message.objects.get(pk=result.delivered[0].message_id)


@pytest.fixture
def portal(logged_in_client, holder):
    return logged_in_client(holder.user)


def _url(name, *args):
    from django.urls import reverse

    return reverse(f"portal:{name}", args=args)


def test_the_inbox_shows_sender_profession_subject_date_files_and_unread(portal, message):
    page = portal.get(_url("messaging_inbox")).content.decode()
    assert "Dr Marcel CAMPARINI" in page
    assert "professionnel de santé" in page
    assert "Compte rendu d&#x27;examens biologiques" in page
    assert "XDM/1.0/DDM" not in page
    assert SENDER not in page  # never the raw address
    assert "2 pièces jointes" in page
    assert "1 non lu" in page


def test_the_navigation_leads_to_the_messaging(portal, message):
    page = portal.get(_url("home")).content.decode()
    assert f'href="{_url("messaging_inbox")}"' in page


def test_opening_the_conversation_shows_it_and_marks_it_read(portal, message):
    page = portal.get(_url("messaging_conversation", message.conversation_id)).content.decode()
    assert "Vous trouverez ci-joint vos résultats" in page
    assert "Enregistrer dans mes documents" in page
    assert "Répondre" in page
    assert "non lu" not in portal.get(_url("messaging_inbox")).content.decode()


def test_a_reply_with_a_pdf_is_queued_for_the_professional(portal, message):
    upload = SimpleUploadedFile("carte-vitale.pdf", embedded_pdf(), content_type="application/pdf")
    response = portal.post(
        _url("messaging_reply", message.conversation_id),
        {"body": "Merci docteur.", "pieces": [upload]},
    )
    assert response.status_code == 302
    sent = Message.objects.get(direction="out")
    assert sent.attachments.get().filename == "carte-vitale.pdf"
    assert Outbox.objects.get(message=sent).recipient == SENDER
    page = portal.get(response["Location"]).content.decode()
    assert "Envoi en cours" in page


def test_a_reply_with_a_forbidden_file_is_refused_in_french_and_loses_the_text(portal, message):
    upload = SimpleUploadedFile(
        "script.pdf", b"#!/bin/sh\nrm -rf /", content_type="application/pdf"
    )
    response = portal.post(
        _url("messaging_reply", message.conversation_id),
        {"body": "Voici mon fichier", "pieces": [upload]},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "seuls les fichiers PDF, JPEG et PNG" in page
    assert "Voici mon fichier" in page  # the text is kept
    assert not Message.objects.filter(direction="out").exists()


def test_saving_the_cda_and_the_pdf_in_one_click(portal, message):
    cda = message.attachments.get(xdm_metadata__isnull=False)
    pdf = message.attachments.get(content_type="application/pdf")
    conversation = message.conversation_id
    response = portal.post(_url("messaging_save_attachment", conversation, cda.pk))
    assert response.status_code == 302
    portal.post(
        _url("messaging_save_attachment", conversation, pdf.pk), {"category": "comptes-rendus"}
    )
    assert DocumentEntry.objects.filter(patient=message.patient).count() == 2
    page = portal.get(_url("messaging_conversation", conversation)).content.decode()
    assert page.count("Enregistré dans mes documents") == 2


def test_deleting_a_conversation_empties_the_inbox(portal, message):
    response = portal.post(_url("messaging_hide", message.conversation_id))
    assert response.status_code == 302
    assert "Aucun message" in portal.get(_url("messaging_inbox")).content.decode()
    assert portal.get(_url("messaging_conversation", message.conversation_id)).status_code == 404


def test_writing_to_a_professional_who_wrote(portal, message):
    page = portal.get(_url("messaging_new")).content.decode()
    assert "Dr Marcel CAMPARINI" in page
    response = portal.post(
        _url("messaging_new"),
        {
            "correspondent": f"c:{message.conversation_id}",
            "subject": "Question sur mes résultats",
            "body": "Bonjour, faut-il refaire la prise de sang ?",
        },
    )
    assert response.status_code == 302
    assert Message.objects.filter(direction="out", subject="Question sur mes résultats").exists()


def test_with_nobody_to_write_to_the_page_says_why(portal, holder):
    page = portal.get(_url("messaging_new")).content.decode()
    assert "Aucun destinataire possible" in page


def test_a_closed_conversation_offers_no_reply(portal, holder):
    raw = build_mss_message(headers={"X-MSS-MES": "FIN"})
    result = process_inbound(raw, mail_from=SENDER, rcpt_tos=[patient_address()])
    conversation = Message.objects.get(pk=result.delivered[0].message_id).conversation_id
    page = portal.get(_url("messaging_conversation", conversation)).content.decode()
    assert "vous ne pouvez plus y répondre" in page
    assert "Votre réponse" not in page
    response = portal.post(_url("messaging_reply", conversation), {"body": "Une question"})
    assert response.status_code == 400
    assert "Vous pouvez lui écrire un nouveau message" in response.content.decode()


def test_the_attachment_downloads_as_a_file(portal, message):
    pdf = message.attachments.get(content_type="application/pdf")
    response = portal.get(_url("messaging_attachment", pdf.pk))
    assert response.status_code == 200
    assert response.content == embedded_pdf()
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_another_holder_gets_404_everywhere(logged_in_client, message):
    other = make_holder(email="intrus@exemple.test")
    portal = logged_in_client(other.user)
    conversation = message.conversation_id
    attachment = message.attachments.first()
    assert portal.get(_url("messaging_conversation", conversation)).status_code == 404
    assert portal.get(_url("messaging_attachment", attachment.pk)).status_code == 404
    assert portal.post(_url("messaging_reply", conversation), {"body": "x"}).status_code == 404
    assert portal.post(_url("messaging_hide", conversation)).status_code == 404
    assert (
        portal.post(_url("messaging_save_attachment", conversation, attachment.pk)).status_code
        == 404
    )
    assert "Dr Marcel CAMPARINI" not in portal.get(_url("messaging_inbox")).content.decode()
    assert not Message.objects.filter(direction="out").exists()


def test_anonymous_visitors_are_sent_to_the_login(client, message):
    response = client.get(_url("messaging_conversation", message.conversation_id))
    assert response.status_code == 302
    assert "/connexion/" in response["Location"]
