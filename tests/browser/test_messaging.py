"""The holder opens a professional's message in "Messagerie", saves its CDA into the documents,
and replies; every page visited is checked with axe-core."""

from __future__ import annotations

import re

import pytest

from carnet.documents.models import DocumentEntry
from carnet.messaging.gateway import process_inbound
from carnet.messaging.models import Message, Outbox
from tests.browser.conftest import assert_accessible
from tests.documents.helpers import ans_test_patient
from tests.factories import PASSWORD
from tests.messaging.builders import (
    PATIENT_DOMAIN,
    SAMPLE_CDAS,
    SENDER,
    TRUSTED_DOMAINS,
    build_mss_message,
    embedded_pdf,
    patient_address,
)

# `transactional_db` (not the marker) so that the audit guard is lifted for the flush.
pytestmark = pytest.mark.browser

EMAIL = "dominique.messagerie@exemple.test"


@pytest.fixture
def holder(transactional_db, settings):
    settings.CARNET_MSS_PATIENT_DOMAIN = PATIENT_DOMAIN
    settings.CARNET_MSS_TRUSTED_DOMAINS = TRUSTED_DOMAINS
    holder = ans_test_patient(email=EMAIL)
    raw = build_mss_message(cda_files=SAMPLE_CDAS[1:2], pdf=embedded_pdf())
    assert process_inbound(raw, mail_from=SENDER, rcpt_tos=[patient_address()]).accepted
    return holder


def _log_in(page, live_server, mailbox):
    page.goto(f"{live_server.url}/connexion/")
    page.get_by_label("Identifiant").fill(EMAIL)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/connexion/code/")
    body = mailbox.body(mailbox.to(EMAIL)[-1])
    code = re.search(r"\b(\d{6})\b", body)
    assert code
    page.get_by_label("Code à 6 chiffres").fill(code.group(1))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_server.url}/")


def test_the_holder_opens_the_message_saves_the_cda_and_replies(page, live_server, holder, mailbox):
    _log_in(page, live_server, mailbox)

    # the inbox, like the seed: sender, profession, subject, attachments, unread
    page.get_by_role("navigation", name="Rubriques").get_by_role("link", name="Messagerie").click()
    page.wait_for_url("**/messagerie/")
    inbox = page.get_by_role("list", name="Conversations")
    assert "Dr Marcel CAMPARINI" in inbox.inner_text()
    assert "2 pièces jointes" in inbox.inner_text()
    assert "Non lu" in inbox.inner_text()
    assert_accessible(page)

    # the conversation
    inbox.get_by_role("link").first.click()
    page.wait_for_url("**/messagerie/*/")
    assert page.get_by_role("heading", level=1).inner_text() == "Compte rendu d'examens biologiques"
    assert_accessible(page)

    # saving the CDA into the documents: one click
    page.get_by_role(
        "button", name=re.compile(r"^Enregistrer dans mes documents : Compte rendu")
    ).click()
    page.wait_for_url("**/messagerie/*/")
    assert "Enregistré dans vos documents." in page.get_by_role("status").inner_text()
    assert DocumentEntry.objects.filter(patient=holder, type_code="11502-2").count() == 1
    assert_accessible(page)

    # the reply
    page.get_by_label("Votre réponse").fill("Merci docteur, je prends rendez-vous.")
    page.get_by_role("button", name="Envoyer").click()
    page.wait_for_url("**/messagerie/*/")
    assert "Votre message est envoyé." in page.get_by_role("status").inner_text()
    assert "Envoi en cours" in page.content()
    sent = Message.objects.get(direction="out")
    assert sent.body == "Merci docteur, je prends rendez-vous."
    assert Outbox.objects.get(message=sent).recipient == SENDER
    assert_accessible(page)
