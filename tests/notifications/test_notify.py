"""`notify` writes the notification and its outbox in the caller's transaction; the worker sends
each e-mail once through the real loopback SMTP server, without health content."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from carnet.notifications import services
from carnet.notifications.delivery import message_id
from carnet.notifications.kinds import NotificationKind
from carnet.notifications.models import Delivery, DeliveryStatus, Notification
from tests.factories import make_holder
from tests.notifications.conftest import run_queued_tasks

pytestmark = pytest.mark.django_db

DOCUMENT_TITLE = "Compte rendu de consultation d'oncologie"
SPECIALTY = "Oncologie médicale"


def _notify(patient, kind=NotificationKind.DOCUMENT_NEW, key="doc-1", **extra):
    return services.notify(patient.pk, kind, dedupe_key=key, **extra)


class DepositFailed(Exception):
    pass


def _failing_deposit(patient):
    """A service that notifies inside its transaction, then fails."""
    with transaction.atomic():
        _notify(patient, context={"actor": "Dr Alex MARTIN"})
        raise DepositFailed


def test_a_rolled_back_event_tells_nothing(personas, mailbox, django_capture_on_commit_callbacks):
    # given an event whose transaction fails after notify
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(DepositFailed),
    ):
        _failing_deposit(personas.patient)
    # then nothing was written, queued or sent
    assert callbacks == []
    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()
    assert not DBTaskResult.objects.exists()
    assert services.deliver_pending().handled == 0
    assert mailbox.messages == []


def test_a_committed_event_sends_exactly_one_email_without_health_content(
    personas, mailbox, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        notification = _notify(
            personas.patient,
            context={"actor": "Dr Alex MARTIN"},
            link_path="/documents/3f2a/",
        )
    assert len(callbacks) == 1  # one wake-up call for the one recipient
    assert DBTaskResult.objects.count() == 1

    assert run_queued_tasks() == 1
    received = mailbox.to("dominique@exemple.test")
    assert len(received) == 1
    message = received[0]
    body = mailbox.body(message)
    assert message["Subject"] == "Nouveau document dans votre espace santé"
    assert "Un nouveau document a été ajouté à votre espace santé." in body
    assert f"{settings.SITE_URL}/documents/3f2a/" in body
    assert "aucune information médicale" in body
    for leak in ("MARTIN", DOCUMENT_TITLE, SPECIALTY, "Oncologie"):
        assert leak not in body
        assert leak not in message["Subject"]
    delivery = Delivery.objects.get(notification=notification)
    assert message["Message-ID"].strip() == message_id(delivery.idempotency_key)
    assert message["Auto-Submitted"] == "auto-generated"
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 1

    # and neither the worker nor the fallback scheduler sends it again
    assert run_queued_tasks() == 0
    assert services.deliver_pending().handled == 0
    assert len(mailbox.to("dominique@exemple.test")) == 1


def test_the_task_of_a_sent_delivery_does_nothing(personas, mailbox):
    # given a delivery sent by the fallback scheduler before its task ran
    _notify(personas.patient)
    assert services.deliver_pending().sent == 1
    delivery = Delivery.objects.get()
    from carnet.notifications.tasks import deliver

    # when the late task runs
    assert deliver.call(delivery.pk) == "skipped"
    # then nothing more is sent
    assert len(mailbox.messages) == 1


def test_the_same_event_twice_makes_one_notification_and_one_email(personas, mailbox):
    first = _notify(personas.patient, key="document:42:v1")
    again = _notify(personas.patient, key="document:42:v1")
    assert again.pk == first.pk
    assert Notification.objects.count() == 1
    assert Delivery.objects.count() == 1
    services.deliver_pending()
    services.deliver_pending()
    assert len(mailbox.messages) == 1


def test_dedupe_is_per_kind_and_per_patient(personas):
    _notify(personas.patient, NotificationKind.DOCUMENT_NEW, key="42")
    _notify(personas.patient, NotificationKind.DOCUMENT_MODIFIED, key="42")
    _notify(personas.other_patient, NotificationKind.DOCUMENT_NEW, key="42")
    assert Notification.objects.count() == 3


def test_a_duplicate_does_not_spoil_the_callers_transaction(personas):
    _notify(personas.patient, key="k")
    with transaction.atomic():
        _notify(personas.patient, key="k")
        _notify(personas.patient, key="k2")  # the transaction is still usable
    assert Notification.objects.count() == 2


@pytest.mark.parametrize(
    ("notice_context", "link_path"),
    [
        ({"title": DOCUMENT_TITLE}, "/"),
        ({"specialty": SPECIALTY}, "/"),
        ({"subject": "Résultats de votre biopsie"}, "/"),
        (None, "https://evil.example/"),
        (None, "//evil.example/"),
        (None, "/a b"),
        (None, "documents/1/"),
    ],
)
def test_health_content_and_foreign_links_are_refused(personas, notice_context, link_path):
    with pytest.raises(ValueError, match=r"context key|link_path"):
        _notify(personas.patient, context=notice_context, link_path=link_path)
    assert not Notification.objects.exists()


def test_unknown_kind_and_empty_dedupe_key_are_refused(personas):
    with pytest.raises(ValueError, match="document_lu"):
        services.notify(personas.patient.pk, "document_lu", dedupe_key="x")
    with pytest.raises(ValueError, match="dedupe_key"):
        services.notify(personas.patient.pk, NotificationKind.MESSAGE_NEW, dedupe_key="")


def test_every_kind_has_an_email_without_health_content(personas, mailbox, settings):
    for kind in NotificationKind:
        _notify(personas.patient, kind, key=f"{kind}-1", context={"actor": "Dr Alex MARTIN"})
    assert services.deliver_pending().sent == len(NotificationKind)
    subjects = set()
    for message in mailbox.to("dominique@exemple.test"):
        body = mailbox.body(message)
        subjects.add(message["Subject"])
        assert "MARTIN" not in body
        assert settings.SITE_URL in body
        assert "&#x27;" not in body
        assert "&#x27;" not in message["Subject"]
    assert len(subjects) == len(NotificationKind)


def test_preference_off_keeps_the_portal_notification_but_sends_no_email(personas, mailbox):
    from carnet.identity.services import actor_for_user

    actor = actor_for_user(personas.patient.user)
    services.update_preferences(actor, str(personas.patient.pk), email_kinds=["message_new"])

    _notify(personas.patient, NotificationKind.DOCUMENT_NEW, key="d1")
    _notify(personas.patient, NotificationKind.MESSAGE_NEW, key="m1")
    services.deliver_pending()

    assert [m["Subject"] for m in mailbox.messages] == ["Nouveau message dans votre espace santé"]
    shown = services.latest(actor, str(personas.patient.pk))
    assert {item.kind for item in shown.items} == {"document_new", "message_new"}


def test_emergency_access_emails_cannot_be_switched_off(personas, mailbox):
    from carnet.identity.services import actor_for_user

    actor = actor_for_user(personas.patient.user)
    services.update_preferences(actor, str(personas.patient.pk), email_kinds=[])
    rows = {row.kind: row for row in services.preferences(actor, str(personas.patient.pk))}
    assert rows[NotificationKind.EMERGENCY_ACCESS].email_enabled
    assert rows[NotificationKind.EMERGENCY_ACCESS].locked
    assert not rows[NotificationKind.FIRST_ACCESS].email_enabled

    _notify(personas.patient, NotificationKind.FIRST_ACCESS, key="pro-1")
    _notify(personas.patient, NotificationKind.EMERGENCY_ACCESS, key="bdg-1")
    services.deliver_pending()

    assert [m["Subject"] for m in mailbox.messages] == ["Accès en urgence à votre espace santé"]
    assert "ne peuvent pas être désactivées" in mailbox.body(mailbox.messages[0])


def test_a_minors_emails_go_to_the_representatives(personas, mailbox):
    second_parent = make_holder(email="mere@exemple.test")
    from carnet.identity.services import add_legal_representative

    add_legal_representative(minor=personas.minor, representative=second_parent.user)
    _notify(personas.minor, NotificationKind.EMERGENCY_ACCESS, key="bdg-1")
    services.deliver_pending()

    for address in ("parent@exemple.test", "mere@exemple.test"):
        [message] = mailbox.to(address)
        assert str(message["To"]) == address  # one e-mail each: no parent sees the other's address
        assert "l'espace santé de Lou" in mailbox.body(message)
        assert message["Subject"] == "Accès en urgence à l'espace santé de Lou"
    assert len(mailbox.messages) == 2


def test_a_notice_hidden_from_representatives_reaches_the_holder_only(personas, mailbox):
    personas.minor.contact_email = "lou@exemple.test"
    personas.minor.save(update_fields=["contact_email"])
    _notify(personas.minor, key="secret-doc", hidden_from_representatives=True)
    services.deliver_pending()
    assert [str(m["To"]) for m in mailbox.messages] == ["lou@exemple.test"]


def test_the_contact_email_is_preferred_to_the_login(personas, mailbox):
    personas.patient.contact_email = "perso@exemple.test"
    personas.patient.save(update_fields=["contact_email"])
    _notify(personas.patient)
    services.deliver_pending()
    assert [str(m["To"]) for m in mailbox.messages] == ["perso@exemple.test"]


def test_a_space_without_any_address_gets_the_portal_notification_only(mailbox):
    holder = make_holder(email="")  # created by the insurer, never activated, no contact e-mail
    _notify(holder)
    assert Notification.objects.filter(patient=holder).count() == 1
    assert not Delivery.objects.exists()
    services.deliver_pending()
    assert mailbox.messages == []
