"""FHIR Communication for professional software: create and search the practitioner's
conversations with a holder; a practitioner who takes no part sees nothing; errors are
OperationOutcomes. Resources are validated with fhir.resources (R4B)."""

from __future__ import annotations

import base64
import time

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carnet.identity.services import actor_for_user
from carnet.messaging import services
from carnet.messaging.models import Conversation
from tests.factories import register_issuer
from tests.identity import jwt_factory as jf
from tests.messaging.builders import embedded_pdf

pytestmark = pytest.mark.django_db

OTHER_RPPS = jf.with_luhn("1000000002")


@pytest.fixture
def registered(settings):
    settings.CARNET_JWT_AUDIENCE = jf.AUDIENCE
    register_issuer(issuer=jf.ISSUER, name="Logiciel test", jwks=jf.jwks(jf.rsa_key()))


def _token(**claims):
    now = int(time.time())
    return jf.mint_token(jf.rsa_key(), jf.professional_claims(iat=now, exp=now + 300, **claims))


def _auth(**claims):
    return {"HTTP_AUTHORIZATION": f"Bearer {_token(**claims)}"}


def _communication(holder, text="Bonjour, voici votre ordonnance.", **extra):
    resource = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{holder.pk}"},
        "topic": {"text": "Ordonnance"},
        "payload": [
            {"contentString": text},
            {
                "contentAttachment": {
                    "contentType": "application/pdf",
                    "title": "ordonnance.pdf",
                    "data": base64.b64encode(embedded_pdf()).decode(),
                }
            },
        ],
    }
    resource.update(extra)
    return resource


def _post(client, body, **auth):
    return client.post("/fhir/R4/Communication", body, content_type="application/fhir+json", **auth)


def test_a_practitioner_writes_to_a_holder_who_finds_it_in_the_inbox(client, registered, holder):
    response = _post(client, _communication(holder), **_auth())

    assert response.status_code == 201
    created = Communication.model_validate(response.json())
    assert response["Location"] == f"Communication/{created.id}"
    assert created.sender.identifier.value == "8" + jf.RPPS
    actor = actor_for_user(holder.user)
    (row,) = services.inbox(actor, patient_id=str(holder.pk))
    assert (row.conversation.subject, row.attachments, row.unread) == ("Ordonnance", 1, 1)
    assert row.correspondent == "Camille Médecin-Test"


def test_the_practitioner_searches_their_conversation_and_reads_the_holders_reply(
    client, registered, holder
):
    first = _post(client, _communication(holder), **_auth()).json()
    conversation = Conversation.objects.get()
    services.reply(actor_for_user(holder.user), str(conversation.pk), body="Merci docteur.")

    response = client.get(f"/fhir/R4/Communication?subject=Patient/{holder.pk}", **_auth())

    assert response.status_code == 200
    bundle = Bundle.model_validate(response.json())
    assert bundle.total == 2
    reply = bundle.entry[0].resource
    assert reply.payload[0].contentString == "Merci docteur."
    assert reply.inResponseTo[0].reference == f"Communication/{first['id']}"
    assert reply.sender.reference == f"Patient/{holder.pk}"
    read = client.get(f"/fhir/R4/Communication/{first['id']}", **_auth()).json()
    assert base64.b64decode(read["payload"][1]["contentAttachment"]["data"]) == embedded_pdf()


def test_a_reply_in_the_thread_stays_in_the_conversation(client, registered, holder):
    first = _post(client, _communication(holder), **_auth()).json()
    again = _post(
        client,
        _communication(
            holder,
            "Et n'oubliez pas la prise de sang.",
            inResponseTo=[{"reference": f"Communication/{first['id']}"}],
        ),
        **_auth(),
    )
    assert again.status_code == 201
    assert Conversation.objects.count() == 1


def test_a_practitioner_who_takes_no_part_sees_nothing(client, registered, holder):
    first = _post(client, _communication(holder), **_auth()).json()
    stranger = _auth(rpps=OTHER_RPPS, sub="8" + OTHER_RPPS, family_name="Autre")

    listed = client.get(f"/fhir/R4/Communication?subject=Patient/{holder.pk}", **stranger)
    read = client.get(f"/fhir/R4/Communication/{first['id']}", **stranger)
    answer = _post(
        client,
        _communication(holder, inResponseTo=[{"reference": f"Communication/{first['id']}"}]),
        **stranger,
    )

    assert listed.status_code == 200
    assert listed.json()["total"] == 0
    assert read.status_code == 404
    OperationOutcome.model_validate(read.json())
    assert answer.status_code == 404


def test_the_holder_is_found_by_ins(client, registered, holder):
    body = _communication(holder)
    body["subject"] = {
        "identifier": {"system": f"urn:oid:{holder.ins_oid}", "value": holder.ins_matricule}
    }
    response = _post(client, body, **_auth())
    assert response.status_code == 201
    assert response.json()["subject"]["reference"] == f"Patient/{holder.pk}"


def test_a_closed_space_refuses_with_a_clear_reason(client, registered, holder):
    holder.space_status = "closed"
    holder.save()
    response = _post(client, _communication(holder), **_auth())
    assert response.status_code == 409
    assert "clôturé" in OperationOutcome.model_validate(response.json()).issue[0].diagnostics


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Communication", "status": "completed"},
        {"resourceType": "Patient"},
        {"resourceType": "Communication", "status": "nope", "subject": {"reference": "Patient/x"}},
    ],
)
def test_bad_input_is_an_operation_outcome(client, registered, holder, body):
    response = _post(client, body, **_auth())
    assert response.status_code == 400
    OperationOutcome.model_validate(response.json())


def test_without_a_token_nothing(client, holder):
    assert client.get("/fhir/R4/Communication").status_code == 401


def test_the_capability_statement_declares_communication(client, db):
    body = client.get("/fhir/R4/metadata").json()
    (entry,) = [r for r in body["rest"][0]["resource"] if r["type"] == "Communication"]
    assert {i["code"] for i in entry["interaction"]} == {"create", "read", "search-type"}
