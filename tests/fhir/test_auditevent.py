"""`GET /fhir/R4/AuditEvent?patient=…&date=…`: the holder's trace as `tde-auditevent` resources,
time-bounded and paged; nobody else may search it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from carnet.access import gate, policy
from carnet.access.actions import Action
from carnet.access.actors import PurposeOfUse
from carnet.core import clock
from carnet.core.errors import CarnetError
from carnet.fhir import auditevent, capability
from tests.access.helpers import pro_actor
from tests.factories import register_issuer
from tests.identity import jwt_factory as jf
from tests.paths import FHIR_DIR

pytestmark = pytest.mark.django_db


def _access(actor, holder, action=Action.IDENTITY_PATIENT_READ):
    with contextlib.suppress(CarnetError):
        gate.authorize(
            actor, action, policy.Target("Patient", str(holder.pk), patient_id=str(holder.pk))
        )


@pytest.fixture
def holder(logged_in_client, personas):
    return logged_in_client(personas.patient.user)


def _search(client, personas, **params):
    return client.get(
        "/fhir/R4/AuditEvent", {"patient": f"Patient/{personas.patient.pk}", **params}
    )


def _bundle(response):
    assert response.status_code == 200, response.content
    body = response.json()
    Bundle.model_validate(body)
    return body


def test_the_holder_reads_each_access_as_an_audit_event(holder, personas):
    _access(pro_actor(personas.doctor), personas.patient)
    _access(
        pro_actor(personas.emergency_doctor, PurposeOfUse.BREAK_GLASS, "coma"), personas.patient
    )
    _access(pro_actor(personas.unrelated_pro), personas.patient)
    body = _bundle(_search(holder, personas))
    assert body["total"] == 3
    events = [entry["resource"] for entry in body["entry"]]
    for event in events:
        AuditEvent.model_validate(event)
        assert event["meta"]["profile"] == [auditevent.TDE_PROFILE]
        assert event["period"]["start"] == event["recorded"]
        assert len(event["agent"]) <= 2
        assert event["entity"][0]["what"]["reference"] == f"Patient/{personas.patient.pk}"
    refused, urgent, normal = events
    assert (refused["outcome"], normal["outcome"]) == ("4", "0")
    assert urgent["purposeOfEvent"][0]["coding"][0]["code"] == "bris_de_glace"
    assert urgent["purposeOfEvent"][0]["text"] == "coma"
    assert normal["agent"][0]["who"]["display"] == str(personas.doctor)
    assert normal["agent"][0]["role"][0]["coding"][0]["code"] == "10"
    assert len(normal["agent"]) == 1  # the persona works in no organisation
    assert (normal["subtype"][0]["code"], normal["action"]) == ("read", "R")
    assert normal["entity"][1]["what"]["reference"] == f"Patient/{personas.patient.pk}"


def test_the_search_is_time_bounded_and_paged(holder, personas):
    now = clock.now()
    with time_machine.travel(now - dt.timedelta(days=40), tick=False):
        _access(pro_actor(personas.doctor), personas.patient)
    for _ in range(3):
        _access(pro_actor(personas.doctor), personas.patient)
    recent = (now - dt.timedelta(days=1)).date().isoformat()
    assert _bundle(_search(holder, personas, date=f"ge{recent}"))["total"] == 3
    assert _bundle(_search(holder, personas, date=f"lt{recent}"))["total"] == 1
    old_day = (now - dt.timedelta(days=40)).astimezone(clock.now().tzinfo).date().isoformat()
    assert _bundle(_search(holder, personas, date=old_day))["total"] == 1
    assert _bundle(_search(holder, personas, date=f"gt{recent}"))["total"] == 3
    page = _bundle(_search(holder, personas, _count="2"))
    assert (page["total"], len(page["entry"])) == (4, 2)
    links = {link["relation"]: link["url"] for link in page["link"]}
    assert "page=2" in links["next"]
    second = _bundle(_search(holder, personas, _count="2", page="2"))
    assert {link["relation"] for link in second["link"]} == {"self", "previous"}
    assert not {e["resource"]["id"] for e in page["entry"]} & {
        e["resource"]["id"] for e in second["entry"]
    }
    empty = _bundle(_search(holder, personas, page="9"))
    assert "entry" not in empty


@pytest.mark.parametrize(
    "params",
    [
        {"date": "hier"},
        {"date": "sa2026-01-01"},
        {"_count": "0"},
        {"_count": "abc"},
        {"page": "-1"},
    ],
)
def test_bad_parameters_get_an_operation_outcome(holder, personas, params):
    response = _search(holder, personas, **params)
    assert response.status_code == 400
    OperationOutcome.model_validate(response.json())


def test_the_patient_is_required_once(holder, personas):
    assert holder.get("/fhir/R4/AuditEvent").status_code == 400
    response = holder.get(
        f"/fhir/R4/AuditEvent?patient={personas.patient.pk}&patient={personas.patient.pk}"
    )
    assert response.status_code == 400


def test_nobody_else_searches_the_trace(client, settings, logged_in_client, personas):
    other = logged_in_client(personas.other_patient.user)
    assert _search(other, personas).status_code == 404
    settings.CARNET_JWT_AUDIENCE = jf.AUDIENCE
    register_issuer(issuer=jf.ISSUER, name="LPS", jwks=jf.jwks(jf.rsa_key()))
    import time

    now = int(time.time())
    token = jf.mint_token(
        jf.rsa_key(),
        jf.professional_claims(
            iat=now, exp=now + 300, rpps=personas.doctor.rpps, sub="8" + personas.doctor.rpps
        ),
    )
    response = client.get(
        "/fhir/R4/AuditEvent",
        {"patient": str(personas.patient.pk)},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 404
    OperationOutcome.model_validate(response.json())


def test_documents_and_consents_are_named_as_entities(personas):
    from carnet.access.trace import TraceEntry

    entry = TraceEntry(
        id=f"{personas.patient.pk}-7",
        patient_id=str(personas.patient.pk),
        occurred_at=clock.now(),
        actor_kind="system",
        actor_id="issuer:1",
        who="Assurance Maladie",
        profession_code="",
        organisation="CNAM",
        action="documents:document:create",
        allowed=True,
        mode="normal",
        reason="",
        resource_type="DocumentReference",
        resource_id="0b3a6a3e-0000-4000-8000-000000000001",
        emergency_reason="",
    )
    event = auditevent.audit_event(entry)
    assert event["entity"][1]["what"]["reference"].startswith("DocumentReference/")
    assert (event["subtype"][0]["code"], event["action"]) == ("create", "C")
    assert event["agent"][0]["type"]["coding"][0]["code"] == "dataprocessor"
    assert "role" not in event["agent"][0]
    assert event["agent"][1] == {"who": {"display": "CNAM"}, "requestor": False}
    odd = auditevent.audit_event(
        TraceEntry(**{**entry.__dict__, "action": "audit:chain:verify", "resource_type": "Block"})
    )
    assert (odd["subtype"][0]["code"], len(odd["entity"])) == ("operation", 1)


def test_the_example_of_the_guide_has_the_shape_we_serve():
    example = json.loads(
        Path(FHIR_DIR / "tde" / "AuditEvent-TDEAuditEventExample.json").read_text()
    )
    AuditEvent.model_validate(example)
    assert set(example) - {"text", "id"} <= {
        "resourceType",
        "meta",
        "type",
        "subtype",
        "period",
        "recorded",
        "agent",
        "source",
    }


def test_the_search_is_declared():
    declared = capability.declared()["AuditEvent"]
    assert declared.interactions == ["search-type"]
    assert {name for name, _, _ in declared.search_params} == {"patient", "date", "_count", "page"}
    assert declared.profiles == [auditevent.TDE_PROFILE]
