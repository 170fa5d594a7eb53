"""The holder's trace: every action by anyone but the holder, filtered, paged, exported safely."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
import time_machine

from carnet.access import gate, policy
from carnet.access import trace as traces
from carnet.access.actions import Action
from carnet.access.actors import PurposeOfUse
from carnet.audit import services as audit
from carnet.core import clock
from carnet.core.errors import CarnetError, NotFound
from tests.access.helpers import holder_actor, pro_actor
from tests.factories import make_professional

pytestmark = pytest.mark.django_db


def _read_identity(actor, holder):
    # Refusals are traced too, which is what these tests read.
    with contextlib.suppress(CarnetError):
        gate.authorize(
            actor,
            Action.IDENTITY_PATIENT_READ,
            policy.Target("Patient", str(holder.pk), patient_id=str(holder.pk)),
        )


def test_the_trace_shows_others_actions_newest_first_not_the_holder_s(personas):
    patient = personas.patient
    holder = holder_actor(patient)
    _read_identity(pro_actor(personas.doctor), patient)
    _read_identity(pro_actor(personas.unrelated_pro), patient)
    _read_identity(holder, patient)
    view = traces.read_trace(holder, patient_id=str(patient.pk))
    entries = view.page.items
    assert [(e.who, e.allowed) for e in entries[:2]] == [
        (str(personas.unrelated_pro), False),
        (str(personas.doctor), True),
    ]
    assert all(e.actor_kind != "holder" for e in entries)
    doctor = entries[1]
    assert (doctor.profession_label, doctor.action_label, doctor.outcome_label) == (
        "Médecin",
        "Consultation de votre identité",
        "Autorisé",
    )
    assert (doctor.mode_label, doctor.is_emergency) == ("Normal", False)
    people = {c.label for c in view.people}
    assert f"{personas.doctor} (Médecin)" in people
    assert {c.value for c in view.actions} >= {"identity:patient:read"}


def test_filters_by_person_action_and_dates(personas):
    patient = personas.patient
    holder = holder_actor(patient)
    start = clock.now()
    with time_machine.travel(start - dt.timedelta(days=10), tick=False):
        _read_identity(pro_actor(personas.doctor), patient)
    _read_identity(pro_actor(personas.unrelated_pro), patient)
    space = str(patient.pk)
    by_doctor = traces.read_trace(
        holder, patient_id=space, filters=traces.TraceFilters(actor_id=str(personas.doctor.pk))
    )
    assert {e.who for e in by_doctor.page.items} == {str(personas.doctor)}
    by_action = traces.read_trace(
        holder, patient_id=space, filters=traces.TraceFilters(action="identity:patient:read")
    )
    assert {e.action for e in by_action.page.items} == {"identity:patient:read"}
    today = clock.today()
    recent = traces.read_trace(
        holder, patient_id=space, filters=traces.TraceFilters(date_from=today, date_to=today)
    )
    assert str(personas.doctor) not in {e.who for e in recent.page.items}
    old_day = (start - dt.timedelta(days=10)).astimezone(clock.now().tzinfo).date()
    old = traces.read_trace(
        holder,
        patient_id=space,
        filters=traces.TraceFilters(
            date_from=old_day - dt.timedelta(days=1), date_to=old_day + dt.timedelta(days=1)
        ),
    )
    assert {e.who for e in old.page.items} == {str(personas.doctor)}
    params = traces.TraceFilters(actor_id="x", date_to=today).as_params()
    assert params == {"personne": "x", "au": today.isoformat()}


def test_the_trace_is_paged(personas):
    patient = personas.patient
    for _ in range(traces.TRACE_PAGE_SIZE + 3):
        _read_identity(pro_actor(personas.doctor), patient)
    holder = holder_actor(patient)
    first = traces.read_trace(holder, patient_id=str(patient.pk))
    second = traces.read_trace(holder, patient_id=str(patient.pk), page=2)
    assert (first.page.total, first.page.num_pages, len(first.page.items)) == (
        traces.TRACE_PAGE_SIZE + 3,
        2,
        traces.TRACE_PAGE_SIZE,
    )
    assert not {e.id for e in first.page.items} & {e.id for e in second.page.items}


def test_only_the_holder_and_representatives_read_the_trace(personas):
    space = str(personas.patient.pk)
    for actor in (pro_actor(personas.doctor), holder_actor(personas.other_patient)):
        with pytest.raises(NotFound):
            traces.read_trace(actor, patient_id=space)
        with pytest.raises(NotFound):
            traces.export_trace(actor, patient_id=space)
        with pytest.raises(NotFound):
            traces.trace_events(actor, patient_id=space)
    assert traces.read_trace(holder_actor(personas.parent), patient_id=str(personas.minor.pk))


def test_the_export_neutralises_formulas_and_carries_the_emergency_reason(personas):
    patient = personas.patient
    trickster = make_professional("10", family_name='=HYPERLINK("http://x")', given_name="")
    urgent = pro_actor(trickster, PurposeOfUse.BREAK_GLASS, "+33 malaise")
    _read_identity(urgent, patient)
    rows = list(traces.export_trace(holder_actor(patient), patient_id=str(patient.pk)))
    assert rows[0][:3] == ["Date et heure", "Qui", "Profession"]
    row = next(r for r in rows[1:] if "HYPERLINK" in r[1])
    assert row[1].startswith("'")
    assert traces.safe_cell("  =1+1") == "'  =1+1"
    assert row[6] == "Urgence (bris de glace)"
    assert "motif déclaré : +33 malaise" in row[7]
    for cell in (c for r in rows for c in r):
        assert not cell.lstrip().startswith(("=", "+", "-", "@", "\t", "\r"))
    assert traces.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert traces.safe_cell("-1") == "'-1"
    assert traces.safe_cell("Dr Martin") == "Dr Martin"


def test_trace_events_are_bounded_in_time_and_count(personas):
    patient = personas.patient
    holder = holder_actor(patient)
    start = clock.now()
    with time_machine.travel(start - dt.timedelta(days=30), tick=False):
        _read_identity(pro_actor(personas.doctor), patient)
    _read_identity(pro_actor(personas.doctor), patient)
    recent, total = traces.trace_events(
        holder, patient_id=str(patient.pk), since=start - dt.timedelta(days=1)
    )
    assert total == len(recent) == 1
    old, _ = traces.trace_events(
        holder, patient_id=str(patient.pk), until=start - dt.timedelta(days=1)
    )
    assert [e.who for e in old] == [str(personas.doctor)]
    nothing, total = traces.trace_events(holder, patient_id=str(patient.pk), count=0)
    assert (nothing, total > 0) == ([], True)
    capped, _ = traces.trace_events(holder, patient_id=str(patient.pk), count=10_000)
    assert len(capped) <= traces.MAX_FHIR_COUNT


def test_labels_of_other_actors_and_unknown_codes():
    entry = traces.TraceEntry(
        id="p-1",
        patient_id="p",
        occurred_at=clock.now(),
        actor_kind="system",
        actor_id="issuer:1",
        who="Assurance Maladie",
        profession_code="",
        organisation="",
        action="documents:document:create",
        allowed=True,
        mode="code",
        reason="",
        resource_type="DocumentReference",
        resource_id="",
        emergency_reason="",
    )
    assert (entry.profession_label, entry.action_label, entry.mode_label) == (
        "Système",
        "Dépôt de document",
        "Code d'accès",
    )
    odd = traces.TraceEntry(
        **{**entry.__dict__, "profession_code": "999", "action": "x:y:z", "mode": "?"}
    )
    assert (odd.profession_label, odd.action_label, odd.mode_label) == ("999", "x:y:z", "?")


def test_the_audit_queries_behind_the_trace(personas):
    patient = personas.patient
    doctor = pro_actor(personas.doctor)
    assert not audit.has_consulted(patient.pk, actor_kind="professional", actor_id=doctor.id)
    _read_identity(doctor, patient)
    assert audit.has_consulted(patient.pk, actor_kind="professional", actor_id=doctor.id)
    assert not audit.has_consulted(
        personas.other_patient.pk, actor_kind="professional", actor_id=doctor.id
    )
    _read_identity(pro_actor(personas.unrelated_pro), patient)  # refused: not a consultation
    assert not audit.has_consulted(
        patient.pk, actor_kind="professional", actor_id=str(personas.unrelated_pro.pk)
    )
    actors = audit.trace_actors(patient.pk)
    assert [a.actor_id for a in actors] == sorted(
        [str(personas.doctor.pk), str(personas.unrelated_pro.pk)],
        key=lambda i: next(a.label.lower() for a in actors if a.actor_id == i),
    )
    assert audit.trace_actions(patient.pk) == ["identity:patient:read"]
    assert audit.patient_trace(patient.pk).count() == 2
