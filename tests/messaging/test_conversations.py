"""Conversation rules: who may write to whom, threading, FIN, deletion from the inbox, a minor's
mailbox seen by the representatives, saving attachments, and every access through the gate."""

from __future__ import annotations

import datetime as dt

import pytest

from carnet.access.actors import Actor, ActorKind
from carnet.audit.models import AuditEvent
from carnet.core.errors import NotFound
from carnet.documents import services as documents
from carnet.identity import services as identity
from carnet.identity.services import actor_for_professional, actor_for_user
from carnet.messaging import services
from carnet.messaging.errors import (
    AttachmentRefused,
    ConversationClosed,
    CorrespondentNotAllowed,
    NotSaveable,
)
from carnet.messaging.gateway import process_inbound
from carnet.messaging.models import Message
from carnet.messaging.services import OutgoingFile
from tests.documents.helpers import PDF, identity_of, pdf_submission
from tests.factories import make_holder, make_professional, valid_rpps
from tests.messaging.builders import (
    SAMPLE_CDAS,
    SENDER,
    build_mss_message,
    build_xdm_zip,
    embedded_pdf,
    masked_from_professionals,
    patient_address,
    sample_entries,
    xdm_entries,
    zip_bytes,
)

pytestmark = pytest.mark.django_db

PHARMACY_FINESS = "750000010"


def _receive(raw, rcpt=None, mail_from=SENDER):
    result = process_inbound(raw, mail_from=mail_from, rcpt_tos=[rcpt or patient_address()])
    assert result.accepted, result.reply
    return Message.objects.get(pk=result.delivered[0].message_id)


@pytest.fixture
def actor(holder):
    return actor_for_user(holder.user)


# --- who writes ---------------------------------------------------------------------------------


def test_an_unknown_sender_of_a_trusted_domain_is_shown_by_name_as_a_health_professional(
    holder, actor
):
    _receive(build_mss_message(sender_name="Dr Marcel CAMPARINI"))
    (row,) = services.inbox(actor, patient_id=str(holder.pk))
    assert (row.correspondent, row.profession) == ("Dr Marcel CAMPARINI", "professionnel de santé")


def test_a_known_professional_is_shown_with_name_and_profession_not_the_address(holder, actor):
    doctor = make_professional(
        "10",
        specialty_code="G15_10/SM54",
        family_name="MARTIN",
        given_name="Claire",
        mssante_address=SENDER,
    )
    _receive(build_mss_message(sender_name="cabinet"))
    (row,) = services.inbox(actor, patient_id=str(holder.pk))
    assert (row.correspondent, row.profession) == (
        "Claire MARTIN",
        "Médecin - Médecine Générale (SM)",
    )
    assert row.conversation.professional_id == doctor.pk


def test_a_reply_of_the_same_professional_continues_the_conversation(holder):
    first = _receive(build_mss_message(message_id="<a1@labo-charmes.mssante.fr>"))
    again = _receive(
        build_mss_message(
            subject="RE: Compte rendu",
            headers={"In-Reply-To": "<a1@labo-charmes.mssante.fr>"},
        )
    )
    assert again.conversation_id == first.conversation_id


def test_another_professional_quoting_a_message_id_starts_a_new_conversation(holder):
    first = _receive(build_mss_message(message_id="<a1@labo-charmes.mssante.fr>"))
    other = _receive(
        build_mss_message(
            sender="intrus@autre.mssante.fr",
            headers={"In-Reply-To": "<a1@labo-charmes.mssante.fr>"},
        ),
        mail_from="intrus@autre.mssante.fr",
    )
    assert other.conversation_id != first.conversation_id


def test_documents_of_another_patient_are_refused(holder):
    entries = sample_entries()
    raw = build_mss_message(xdm=zip_bytes(xdm_entries(entries)))
    other = make_holder(email="autre@exemple.test")
    result = process_inbound(raw, mail_from=SENDER, rcpt_tos=[patient_address(other.ins_matricule)])
    assert result.reply.startswith("554 5.7.1")
    assert Message.objects.count() == 0


def test_a_document_invisible_to_the_patient_is_never_put_in_their_mailbox(holder):
    entries = sample_entries()
    entries[0].extra_confidentiality = (
        ("INVISIBLE_PATIENT", masked_from_professionals()[1], "Invisible"),
    )
    raw = build_mss_message(xdm=zip_bytes(xdm_entries(entries)))
    result = process_inbound(raw, mail_from=SENDER, rcpt_tos=[patient_address()])
    assert result.reply.startswith("554 5.7.1")


def test_a_new_message_notifies_the_holder_without_health_content(holder):
    from carnet.notifications.models import Notification

    message = _receive(build_mss_message())
    notification = Notification.objects.get(patient=holder, kind="message_new")
    assert notification.link_path == f"/messagerie/{message.conversation_id}/"
    assert notification.context == {"actor": "Dr Marcel CAMPARINI"}


# --- the holder writes --------------------------------------------------------------------------


def test_the_holder_replies_but_not_in_a_closed_conversation(holder, actor):
    message = _receive(build_mss_message())
    reply = services.reply(actor, str(message.conversation_id), body="Merci.")
    assert reply.direction == "out"
    closing = _receive(
        build_mss_message(
            subject="[FIN] Fin du suivi",
            headers={"In-Reply-To": f"<{message.message_id}>"},
        )
    )
    assert closing.conversation_id == message.conversation_id
    with pytest.raises(ConversationClosed):
        services.reply(actor, str(message.conversation_id), body="Encore une question")


def test_reply_attachments_must_be_pdf_jpeg_or_png(holder, actor):
    message = _receive(build_mss_message())
    bad = OutgoingFile("virus.pdf", "application/pdf", b"MZ\x90\x00")
    with pytest.raises(AttachmentRefused, match="PDF, JPEG et PNG"):
        services.reply(actor, str(message.conversation_id), body="Voici", files=[bad])
    assert Message.objects.count() == 1


def test_the_holder_writes_only_to_a_professional_who_wrote_to_them(holder, actor):
    assert services.allowed_correspondents(actor, patient_id=str(holder.pk)) == []
    _receive(build_mss_message())
    (choice,) = services.allowed_correspondents(actor, patient_id=str(holder.pk))
    conversation = services.start_conversation(
        actor,
        patient_id=str(holder.pk),
        correspondent=choice.key,
        subject="Question",
        body="Bonjour docteur.",
    )
    assert conversation.started_by == "holder"
    assert conversation.correspondent_address == SENDER
    assert conversation.messages.get().outbox.recipient == SENDER
    other = make_professional("10")
    with pytest.raises(CorrespondentNotAllowed):
        services.start_conversation(
            actor,
            patient_id=str(holder.pk),
            correspondent=f"p:{other.pk}",
            subject="Question",
            body="Bonjour.",
        )


def test_never_to_another_holder(holder, actor):
    other = make_holder(email="autre@exemple.test")
    result = process_inbound(
        build_mss_message(sender=patient_address(other.ins_matricule)),
        mail_from=patient_address(other.ins_matricule),
        rcpt_tos=[patient_address()],
    )
    assert result.reply.startswith("550 5.7.1")
    assert services.allowed_correspondents(actor, patient_id=str(holder.pk)) == []


def _pharmacy_with_reimbursement(holder, *, days_ago):
    pharmacy = identity.register_organisation(
        finess=PHARMACY_FINESS, name="Pharmacie Compain", facility_type="SA33"
    )
    pharmacist = identity.register_professional(
        rpps=valid_rpps(),
        family_name="COMPAIN",
        given_name="Anne",
        profession_code="21",
        pharmacist_section="A",
        organisation=pharmacy,
        mssante_address="anne.compain@pharmacie-compain.mssante.fr",
    )
    insurer = Actor(kind=ActorKind.SYSTEM, id="issuer:cnam", label="Assurance Maladie")
    documents.deposit_documents(
        insurer,
        patient=identity_of(holder),
        documents=[
            (
                pdf_submission(
                    "1.2.250.1.999.9.1",
                    type_code="REMB",
                    title="Données de remboursement",
                    created_at_source=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago),
                    facility_type="SA33",
                    author={"organisation": pharmacy.idnst, "name": "Pharmacie Compain"},
                ),
                PDF,
            )
        ],
    )
    return pharmacist


def test_the_holder_may_write_to_a_pharmacy_with_a_reimbursement_in_the_past_year(holder, actor):
    pharmacist = _pharmacy_with_reimbursement(holder, days_ago=40)
    (choice,) = services.allowed_correspondents(actor, patient_id=str(holder.pk))
    assert (choice.key, choice.organisation) == (f"p:{pharmacist.pk}", "Pharmacie Compain")
    assert choice.profession == "Pharmacien"
    conversation = services.start_conversation(
        actor,
        patient_id=str(holder.pk),
        correspondent=choice.key,
        subject="Renouvellement",
        body="Bonjour, mon ordonnance est-elle prête ?",
    )
    assert conversation.correspondent_address == pharmacist.mssante_address


def test_not_to_a_pharmacy_whose_reimbursement_is_older_than_a_year(holder, actor):
    _pharmacy_with_reimbursement(holder, days_ago=400)
    assert services.allowed_correspondents(actor, patient_id=str(holder.pk)) == []


# --- reading, deleting, saving -------------------------------------------------------------------


def test_opening_a_conversation_marks_it_read_and_is_traced(holder, actor):
    message = _receive(build_mss_message())
    services.read_conversation(actor, str(message.conversation_id))
    (row,) = services.inbox(actor, patient_id=str(holder.pk))
    assert row.unread == 0
    assert AuditEvent.objects.filter(
        patient_id=holder.pk, action="messaging:conversation:read", outcome="allowed"
    ).exists()


def test_another_holder_finds_nothing(holder):
    message = _receive(build_mss_message(pdf=embedded_pdf()))
    intruder = actor_for_user(make_holder(email="intrus@exemple.test").user)
    attachment = message.attachments.get()
    with pytest.raises(NotFound):
        services.read_conversation(intruder, str(message.conversation_id))
    with pytest.raises(NotFound):
        services.open_attachment(intruder, str(attachment.pk))
    with pytest.raises(NotFound):
        services.save_attachment(intruder, str(attachment.pk))
    with pytest.raises(NotFound):
        services.hide_conversation(intruder, str(message.conversation_id))
    assert services.inbox(intruder, patient_id=str(holder.pk)) == []
    assert AuditEvent.objects.filter(
        action="messaging:conversation:read", outcome="denied", actor_id=intruder.id
    ).exists()


def test_deleting_a_conversation_hides_it_from_the_holder_only(holder, actor):
    doctor = make_professional("10", mssante_address=SENDER)
    message = _receive(build_mss_message())
    services.hide_conversation(actor, str(message.conversation_id))
    assert services.inbox(actor, patient_id=str(holder.pk)) == []
    with pytest.raises(NotFound):
        services.read_conversation(actor, str(message.conversation_id))
    # kept for the professional and in the trace
    pro = actor_for_professional(doctor, channel="api")
    assert services.get_message(pro, str(message.pk)).pk == message.pk
    assert AuditEvent.objects.filter(action="messaging:conversation:delete").count() == 1
    # a later message brings the conversation back with that message only
    _receive(build_mss_message(headers={"In-Reply-To": f"<{message.message_id}>"}))
    (row,) = services.inbox(actor, patient_id=str(holder.pk))
    assert len(services.read_conversation(actor, str(row.conversation.pk)).messages) == 1


def test_a_pdf_attachment_is_saved_in_the_category_chosen_once(holder, actor):
    message = _receive(build_mss_message(pdf=embedded_pdf()))
    attachment = message.attachments.get()
    result = services.save_attachment(actor, str(attachment.pk), category="ordonnances-et-soins")
    again = services.save_attachment(actor, str(attachment.pk), category="ordonnances-et-soins")
    assert result.created
    assert not again.created
    assert result.document.holder_category == "ordonnances-et-soins"
    attachment.refresh_from_db()
    assert attachment.saved_document_id == result.document.pk


def test_a_masked_cda_is_saved_masked_from_professionals(holder, actor):
    entries = sample_entries(SAMPLE_CDAS[:1], masked=[0])
    message = _receive(build_mss_message(xdm=zip_bytes(xdm_entries(entries))))
    result = services.save_attachment(actor, str(message.attachments.get().pk))
    assert result.document.masked


def test_an_ics_is_not_saved_in_the_documents_and_the_agenda_hook_waits(holder, actor):
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    message = _receive(build_mss_message(attachments=[("rdv.ics", "text/calendar", ics)]))
    attachment = message.attachments.get()
    assert attachment.is_calendar
    with pytest.raises(NotSaveable):
        services.save_attachment(actor, str(attachment.pk))
    assert not services.agenda_available()
    assert "bientôt" in services.agenda_import_hook(actor, ics)


def test_a_minors_messages_go_to_the_space_the_representatives_see(personas):
    message = _receive(build_mss_message(), rcpt=patient_address(personas.minor.ins_matricule))
    assert message.patient_id == personas.minor.pk
    parent = actor_for_user(personas.parent)
    (row,) = services.inbox(parent, patient_id=str(personas.minor.pk))
    assert row.conversation.pk == message.conversation_id
    reply = services.reply(parent, str(message.conversation_id), body="Merci, je suis sa mère.")
    assert reply.author_account_id == parent.id


def test_the_professional_reads_only_their_conversations(holder):
    doctor = make_professional("10", mssante_address=SENDER)
    stranger = make_professional("10")
    message = _receive(build_mss_message())
    mine, total = services.search_messages(actor_for_professional(doctor, channel="api"))
    assert ([m.pk for m in mine], total) == ([message.pk], 1)
    theirs, total = services.search_messages(actor_for_professional(stranger, channel="api"))
    assert (theirs, total) == ([], 0)
    with pytest.raises(NotFound):
        services.get_message(actor_for_professional(stranger, channel="api"), str(message.pk))


def test_the_xdm_zip_of_the_shared_examples_keeps_each_cdas_metadata(holder):
    message = _receive(build_mss_message(xdm=build_xdm_zip()))
    titles = sorted(a.title for a in message.attachments.all())
    assert titles == sorted(["Compte rendu d'examens biologiques"] * 2 + ["NOTE DE VACCINATION"])
    assert {a.xdm_metadata["submission_set"]["unique_id"] for a in message.attachments.all()} == {
        "1.2.250.1.999.1.1.7777.1"
    }


def test_a_document_hidden_from_representatives_is_not_shown_to_them(holder, actor):
    # given the holder has a legal representative (a guardian, say)
    guardian = make_holder(email="tuteur@exemple.test").user
    identity.add_legal_representative(minor=holder, representative=guardian)
    entries = sample_entries(SAMPLE_CDAS[:2])
    entries[0].extra_confidentiality = (
        ("INVISIBLE_REPRESENTANTS_LEGAUX", masked_from_professionals()[1], "Invisible"),
    )
    message = _receive(build_mss_message(xdm=zip_bytes(xdm_entries(entries))))
    hidden = message.attachments.get(invisible_to_representatives=True)

    # then the holder sees both documents, the representative only the other one
    own = services.read_conversation(actor, str(message.conversation_id)).messages[0]
    assert len(own.attachments) == 2
    representative = actor_for_user(guardian)
    seen = services.read_conversation(representative, str(message.conversation_id)).messages[0]
    assert [a.pk for a in seen.attachments] == [a.pk for a in own.attachments if a.pk != hidden.pk]
    with pytest.raises(NotFound):
        services.open_attachment(representative, str(hidden.pk))
    (row,) = services.inbox(representative, patient_id=str(holder.pk))
    assert row.attachments == 1
