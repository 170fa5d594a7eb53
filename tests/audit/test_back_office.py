"""The back office (`/gestion/`): operators log in with the second factor and throttling of the
portal, and what they open about a patient is in that patient's trace."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from carnet.access.trace import read_trace
from carnet.audit.models import AuditEvent
from carnet.identity.models import User
from carnet.identity.services import actor_for_user
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("operateur@exemple.test", PASSWORD)


def _code(mailbox, address):
    match = re.search(r"\b(\d{6})\b", mailbox.body(mailbox.to(address)[-1]))
    assert match
    return match.group(1)


def test_the_back_office_has_no_password_only_login(client, operator):
    response = client.get("/gestion/")
    assert response.status_code == 302
    follow = client.get(response["Location"])
    assert follow.status_code == 302
    target = urlsplit(follow["Location"])
    assert target.path == reverse("portal:login")
    assert parse_qs(target.query)["next"] == ["/gestion/"]
    # Django's own password form is gone: posting credentials to it logs nobody in
    posted = client.post("/gestion/login/", {"username": operator.email, "password": PASSWORD})
    assert posted.status_code == 405
    assert client.get("/gestion/").status_code == 302


def test_an_operator_logs_in_with_a_one_time_code_and_comes_back(client, operator, mailbox):
    response = client.post(
        reverse("portal:login") + "?next=/gestion/",
        {"identifier": operator.email, "password": PASSWORD, "next": "/gestion/"},
    )
    assert response.status_code == 302
    assert client.get("/gestion/").status_code == 302  # the password alone is not enough
    response = client.post(reverse("portal:login_code"), {"code": _code(mailbox, operator.email)})
    assert response.status_code == 302
    assert response["Location"] == "/gestion/"
    assert client.get("/gestion/").status_code == 200


def test_next_never_leaves_the_site(client, operator, mailbox):
    client.post(
        reverse("portal:login"),
        {"identifier": operator.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    response = client.post(reverse("portal:login_code"), {"code": _code(mailbox, operator.email)})
    assert response["Location"] == reverse("portal:home")


def test_what_an_operator_opens_about_a_patient_is_in_the_patients_trace(
    client, operator, personas
):
    client.force_login(operator)
    holder = personas.patient
    event = AuditEvent.objects.filter(patient_id=holder.pk).order_by("-seq").first()
    assert event is not None
    assert client.get(f"/gestion/audit/auditevent/{event.pk}/change/").status_code == 200
    opened = AuditEvent.objects.filter(patient_id=holder.pk, actor_kind="operator").get()
    assert opened.action == "admin:audit.auditevent:read"
    assert opened.actor_id == str(operator.pk)
    assert opened.resource_id == str(event.pk)
    trace = read_trace(actor_for_user(holder.user), patient_id=str(holder.pk))
    shown = [row for row in trace.page.items if row.actor_kind == "operator"]
    assert [row.action_label for row in shown] == ["Consultation dans l'interface de gestion"]
    assert shown[0].profession_label == "Opérateur de la plateforme"
    assert shown[0].who == str(operator)
    # a list is recorded once, in the global chain, with its filters
    assert client.get("/gestion/audit/auditevent/?outcome=denied").status_code == 200
    listed = AuditEvent.objects.get(actor_kind="operator", action="admin:audit.auditevent:list")
    assert listed.patient_id is None
    assert listed.details["query"] == "outcome=denied"
