"""The corners of the access app: the packaged matrix unreadable, malformed matrix headers and
pharmacist sections, how access rows name themselves, a pre-checked write recorded with its
change, and the messaging rule's own default deny."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from carnet.access import gate, matrix, policy
from carnet.access.actions import Action
from carnet.access.actors import ANONYMOUS
from carnet.access.matrix import MatrixFileError, load_matrix
from carnet.access.models import Block, CareTeamMember, ConsentDeclaration, SpaceSettings
from carnet.access.policy.messaging import decide_messaging
from carnet.audit.models import AuditEvent
from carnet.core import clock
from tests.access.helpers import pro_actor


class _Unreadable:
    def joinpath(self, _name):
        return self

    def read_text(self, encoding):
        raise UnicodeDecodeError(encoding, b"\xff", 0, 1, "invalid start byte")


def test_a_packaged_matrix_that_is_not_utf8_is_refused(monkeypatch):
    monkeypatch.setattr(matrix.resources, "files", lambda _package: _Unreadable())
    with pytest.raises(MatrixFileError, match="not UTF-8"):
        load_matrix()


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("type_code,class_code,display,10,10,sources,inference", "duplicate column '10'"),
        ("type_code,class_code,display,sources,inference", "no profession column"),
        ("type_code,class_code,,display,10,sources,inference", "column 3 has no name"),
    ],
)
def test_malformed_headers_are_refused(tmp_path, header, problem):
    path = tmp_path / "matrix.csv"
    path.write_text(header + "\nBIL_AUTO,10,Bilan,O,O,SEED002,\n", encoding="utf-8")
    with pytest.raises(MatrixFileError, match=problem):
        load_matrix(path)


def test_a_malformed_pharmacist_section_is_named():
    answer = matrix.may_read("21", "11488-4", pharmacist_section="A?B")
    assert (answer.allowed, answer.reason) == (
        False,
        "Section de l'Ordre des pharmaciens inconnue : accès refusé par défaut.",
    )


@pytest.mark.django_db
def test_access_rows_name_themselves(personas):
    now = clock.now()
    patient, nurse = personas.patient, personas.unrelated_pro
    declaration = ConsentDeclaration.objects.create(
        patient=patient,
        professional=nurse,
        declared_at=dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
        period_start=now,
        period_end=now,
        channel="api",
    )
    right = CareTeamMember.objects.get(professional=personas.doctor)
    block = Block.objects.create(patient=patient, professional=nurse, blocked_at=now)
    settings_row = SpaceSettings.objects.create(patient=patient, updated_at=now)
    assert str(declaration) == f"consent {nurse.pk} → {patient.pk} (2026-03-02)"
    assert str(right) == f"{personas.doctor.pk} (medecin_traitant) → {patient.pk}"
    assert str(block) == f"block {nurse.pk} on {patient.pk}"
    assert str(settings_row) == f"settings of {patient.pk}"


@pytest.mark.django_db(transaction=False)
def test_a_prechecked_write_is_recorded_inside_its_transaction(personas):
    target = policy.Target("DocumentReference", patient_id=str(personas.patient.pk))
    grant = gate.precheck(
        pro_actor(personas.unrelated_pro), Action.DOCUMENTS_DOCUMENT_CREATE, target
    )
    grant.details["kind"] = "test"
    with transaction.atomic():
        gate.commit_grant(grant, details={"documents": ["d1"]})
    event = AuditEvent.objects.filter(action="documents:document:create").get()
    assert event.details["kind"] == "test"
    assert event.details["documents"] == ["d1"]
    assert event.details["decision"] == "deposit"


def test_the_messaging_rule_refuses_anyone_but_professionals_and_the_gateway():
    target = policy.Target("Conversation", patient_id="p1", relation=policy.Relation())
    decision = decide_messaging(ANONYMOUS, Action.MESSAGING_MESSAGE_CREATE, target)
    assert (decision.allowed, decision.code) == (False, "no-rule")
