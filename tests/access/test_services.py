"""The holder's controls and the professionals' declarations, through the services: each change is
decided by the gate, traced, and refused with a French message when the input is wrong."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from carnet.access import services as access
from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.access.errors import AccessDenied
from carnet.access.models import Block, CareTeamMember, ConsentDeclaration, SpaceSettings
from carnet.audit.models import AuditEvent
from carnet.core import clock
from carnet.core.errors import Conflict, InvalidInput, NotFound
from carnet.identity.ins import OID_NIR
from tests.access.helpers import holder_actor, pro_actor
from tests.factories import make_professional

pytestmark = pytest.mark.django_db


def _space(personas):
    return holder_actor(personas.patient), str(personas.patient.pk)


def _last_event(holder):
    return AuditEvent.objects.filter(patient_id=holder.pk).latest("seq")


# --- "Partage" --------------------------------------------------------------------------------


def test_the_overview_lists_rights_with_their_basis_and_dates(personas):
    actor, space = _space(personas)
    sharing = access.sharing_overview(actor, patient_id=space)
    [row] = sharing.authorisations
    assert (row.professional.name, row.basis, row.basis_label) == (
        str(personas.doctor),
        "medecin_traitant",
        "médecin traitant",
    )
    assert row.professional.profession_label == "Médecin"
    assert (row.until, row.expired, row.blocked) == (None, False, False)
    assert sharing.blocks == []
    assert _last_event(personas.patient).action == "access:authorisation:search"


def test_nobody_but_the_holder_sees_or_changes_a_space_s_rights(personas):
    space = str(personas.patient.pk)
    for actor in (holder_actor(personas.other_patient), pro_actor(personas.doctor)):
        with pytest.raises(NotFound):
            access.sharing_overview(actor, patient_id=space)
        with pytest.raises(NotFound):
            access.block_professional(
                actor, patient_id=space, professional_id=str(personas.unrelated_pro.pk)
            )
    with pytest.raises(NotFound):
        access.sharing_overview(holder_actor(personas.patient), patient_id="pas-un-uuid")
    assert not Block.objects.exists()


def test_the_holder_authorises_until_a_date_and_renews(personas):
    actor, space = _space(personas)
    nurse = personas.unrelated_pro
    until = clock.today() + dt.timedelta(days=30)
    row = access.authorise_professional(
        actor, patient_id=space, professional_id=str(nurse.pk), until=until, extended_rights=True
    )
    assert (row.basis, row.extended_rights) == ("autorise", True)
    assert row.until.date() == until
    event = _last_event(personas.patient)
    assert (event.action, event.resource_id) == ("access:authorisation:create", row.id)
    assert event.details["extended_rights"] is True
    again = access.authorise_professional(actor, patient_id=space, professional_id=str(nurse.pk))
    assert again.id == row.id
    assert (again.until, again.extended_rights) == (None, False)


def test_an_expired_right_is_renewed_from_now(personas):
    actor, space = _space(personas)
    nurse = personas.unrelated_pro
    long_ago = clock.now() - dt.timedelta(days=400)
    CareTeamMember.objects.create(
        patient=personas.patient,
        professional=nurse,
        basis="autorise",
        started_at=long_ago,
        expires_at=long_ago + dt.timedelta(days=10),
        created_by_kind="holder",
        created_by_id="x",
    )
    expired = next(
        r for r in access.sharing_overview(actor, patient_id=space).authorisations if r.expired
    )
    assert expired.professional.id == str(nurse.pk)
    row = access.authorise_professional(actor, patient_id=space, professional_id=str(nurse.pk))
    assert row.since > long_ago + dt.timedelta(days=300)
    assert not row.expired


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"until": dt.date(2000, 1, 1)}, "dans le futur"),
        ({"medecin_traitant": True}, "Seul un médecin"),
        ({"professional_id": str(uuid.uuid4())}, "introuvable"),
        ({"professional_id": "n'importe quoi"}, "introuvable"),
    ],
)
def test_bad_authorisations_are_refused_in_french_and_change_nothing(personas, kwargs, message):
    actor, space = _space(personas)
    values = {"professional_id": str(personas.unrelated_pro.pk), **kwargs}
    before = CareTeamMember.objects.count()
    with pytest.raises(InvalidInput, match=message):
        access.authorise_professional(actor, patient_id=space, **values)
    assert CareTeamMember.objects.count() == before


def test_designating_a_new_medecin_traitant_ends_the_previous_one(personas):
    actor, space = _space(personas)
    other_doctor = make_professional("10")
    access.authorise_professional(
        actor, patient_id=space, professional_id=str(other_doctor.pk), medecin_traitant=True
    )
    rows = access.sharing_overview(actor, patient_id=space).authorisations
    assert [(r.professional.id, r.basis) for r in rows] == [
        (str(other_doctor.pk), "medecin_traitant")
    ]
    assert CareTeamMember.objects.get(professional=personas.doctor).ended_at is not None


def test_a_blocked_professional_cannot_be_authorised_before_unblocking(personas):
    actor, space = _space(personas)
    nurse = str(personas.unrelated_pro.pk)
    block = access.block_professional(actor, patient_id=space, professional_id=nurse)
    with pytest.raises(Conflict, match="débloquez"):
        access.authorise_professional(actor, patient_id=space, professional_id=nurse)
    access.unblock_professional(actor, patient_id=space, block_id=block.id)
    assert access.authorise_professional(actor, patient_id=space, professional_id=nurse)


def test_removing_a_right_and_extended_rights(personas):
    actor, space = _space(personas)
    row = access.authorise_professional(
        actor, patient_id=space, professional_id=str(personas.unrelated_pro.pk)
    )
    access.set_extended_rights(actor, patient_id=space, authorisation_id=row.id, enabled=True)
    event = _last_event(personas.patient)
    assert event.details["extended_rights"] == {"old": False, "new": True}
    assert CareTeamMember.objects.get(pk=row.id).extended_rights
    access.revoke_authorisation(actor, patient_id=space, authorisation_id=row.id)
    assert CareTeamMember.objects.get(pk=row.id).ended_at is not None
    for call in (access.revoke_authorisation, access.set_extended_rights):
        extra = {"enabled": False} if call is access.set_extended_rights else {}
        for wrong in (row.id, str(uuid.uuid4()), "x"):
            with pytest.raises(Conflict, match="autorisation"):
                call(actor, patient_id=space, authorisation_id=wrong, **extra)


def test_a_right_of_another_space_cannot_be_removed(personas):
    actor = holder_actor(personas.other_patient)
    right = CareTeamMember.objects.get(professional=personas.doctor)
    with pytest.raises(Conflict):
        access.revoke_authorisation(
            actor, patient_id=str(personas.other_patient.pk), authorisation_id=str(right.pk)
        )
    assert CareTeamMember.objects.get(pk=right.pk).ended_at is None


def test_blocking_twice_keeps_the_first_block_and_unblocking_restores_rights(personas):
    actor, space = _space(personas)
    doctor = str(personas.doctor.pk)
    first = access.block_professional(actor, patient_id=space, professional_id=doctor)
    second = access.block_professional(actor, patient_id=space, professional_id=doctor)
    assert first.id == second.id
    overview = access.sharing_overview(actor, patient_id=space)
    assert [b.professional.id for b in overview.blocks] == [doctor]
    assert overview.authorisations[0].blocked
    access.unblock_professional(actor, patient_id=space, block_id=first.id)
    assert not access.sharing_overview(actor, patient_id=space).authorisations[0].blocked
    for wrong in (first.id, "x"):
        with pytest.raises(Conflict, match="blocage"):
            access.unblock_professional(actor, patient_id=space, block_id=wrong)
    with pytest.raises(InvalidInput):
        access.block_professional(actor, patient_id=space, professional_id=str(uuid.uuid4()))


def test_a_representative_manages_the_minor_s_space(personas):
    parent = holder_actor(personas.parent)
    space = str(personas.minor.pk)
    access.block_professional(parent, patient_id=space, professional_id=str(personas.doctor.pk))
    assert Block.objects.get().patient_id == personas.minor.pk


# --- "Paramètres" ------------------------------------------------------------------------------


def test_settings_default_to_emergency_access_allowed_and_changes_are_traced(personas):
    actor, space = _space(personas)
    assert access.access_settings(actor, patient_id=space) == access.AccessSettings()
    access.update_access_settings(
        actor, patient_id=space, break_glass_opposed=True, centre_15_opposed=False, mask_all=True
    )
    assert access.access_settings(actor, patient_id=space) == access.AccessSettings(
        break_glass_opposed=True, centre_15_opposed=False, mask_all=True
    )
    event = AuditEvent.objects.filter(action="access:settings:update").get()
    assert event.details["break_glass_opposed"] == {"old": False, "new": True}
    assert "centre_15_opposed" not in event.details
    assert SpaceSettings.objects.count() == 1
    with pytest.raises(NotFound):
        access.access_settings(holder_actor(personas.other_patient), patient_id=space)


# --- Professionals declare consent ----------------------------------------------------------------


def _declare(personas, professional=None, **kwargs):
    patient = personas.patient
    actor = pro_actor(professional or personas.unrelated_pro)
    values = {"matricule": patient.ins_matricule, "oid": patient.ins_oid, **kwargs}
    return access.declare_consent(actor, **values)


def test_a_declared_consent_is_stored_dated_and_opens_a_right_for_a_year(personas):
    declared = _declare(personas, statement="  Consentement   recueilli oralement. ")
    declaration = ConsentDeclaration.objects.get(pk=declared.id)
    assert declaration.statement == "Consentement recueilli oralement."
    assert declaration.channel == "api"
    assert (declared.period_end - declared.period_start).days == 365
    right = CareTeamMember.objects.get(professional=personas.unrelated_pro)
    assert (right.basis, right.declaration_id) == ("consentement_declare", declaration.pk)
    event = _last_event(personas.patient)
    assert (event.action, event.mode, event.resource_id) == (
        "access:consent:create",
        "consentement_declare",
        declared.id,
    )


def test_a_new_declaration_extends_the_right_and_keeps_the_earlier_one(personas):
    now = clock.now()
    first = _declare(personas, period_end=now + dt.timedelta(days=10))
    second = _declare(personas, period_end=now + dt.timedelta(days=100))
    shorter = _declare(personas, period_end=now + dt.timedelta(days=5))
    right = CareTeamMember.objects.get(professional=personas.unrelated_pro)
    assert right.expires_at == second.period_end
    assert right.declaration_id == uuid.UUID(shorter.id)
    assert ConsentDeclaration.objects.filter(pk__in=[first.id, second.id]).count() == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period_start": dt.datetime(2026, 1, 1)}, "fuseau"),  # noqa: DTZ001
        ({"period_start": "future"}, "futur"),
        ({"period_end": "past"}, "dans le futur"),
        ({"period_end": "far"}, "trois ans"),
        ({"statement": "x" * 501}, "500"),
        ({"matricule": "123"}, "15 caractères"),
        ({"oid": "1.2.3"}, "OID"),
    ],
)
def test_bad_declarations_are_refused(personas, kwargs, message):
    now = clock.now()
    instants = {
        "future": now + dt.timedelta(days=3),
        "past": now - dt.timedelta(days=1),
        "far": now + dt.timedelta(days=4 * 365),
    }
    values = {
        k: instants.get(v, v) if isinstance(v, str) and k.startswith("period") else v
        for k, v in kwargs.items()
    }
    with pytest.raises(InvalidInput, match=message):
        _declare(personas, **values)
    assert not ConsentDeclaration.objects.exists()


def test_a_blocked_professional_cannot_declare_consent_even_with_it(personas):
    access.block_professional(
        holder_actor(personas.patient),
        patient_id=str(personas.patient.pk),
        professional_id=str(personas.unrelated_pro.pk),
    )
    with pytest.raises(AccessDenied, match="bloqué"):
        _declare(personas)
    assert not ConsentDeclaration.objects.exists()


def test_consent_for_an_unknown_ins_or_by_someone_else_is_refused(personas):
    with pytest.raises(NotFound):
        _declare(personas, matricule="279035121518989", oid="1.2.250.1.213.1.4.10")
    with pytest.raises(AccessDenied, match="professionnel"):
        access.declare_consent(
            holder_actor(personas.patient),
            matricule=personas.patient.ins_matricule,
            oid=personas.patient.ins_oid,
        )
    insurer = Actor(kind=ActorKind.SYSTEM, id="issuer:1")
    with pytest.raises(NotFound):
        access.declare_consent(
            insurer, matricule=personas.patient.ins_matricule, oid=personas.patient.ins_oid
        )


def test_production_refuses_test_ins(personas, settings):
    settings.CARNET_ACCEPT_TEST_INS = False
    with pytest.raises(InvalidInput, match="test"):
        _declare(personas)
    assert personas.patient.ins_oid != OID_NIR


# --- "May I use this space?" (TD0.2) --------------------------------------------------------------


def test_patient_access_says_only_what_the_policy_allows(personas):
    patient = personas.patient
    found = access.patient_access(
        pro_actor(personas.doctor), matricule=patient.ins_matricule, oid=patient.ins_oid
    )
    assert found is not None
    assert (found.holder.pk, found.decision.code) == (patient.pk, "medecin-traitant")
    assert (
        access.patient_access(
            pro_actor(personas.unrelated_pro), matricule=patient.ins_matricule, oid=patient.ins_oid
        )
        is None
    )
    assert (
        access.patient_access(
            pro_actor(personas.doctor), matricule="279035121518989", oid="1.2.250.1.213.1.4.10"
        )
        is None
    )
    urgent = pro_actor(personas.emergency_doctor, PurposeOfUse.BREAK_GLASS, "malaise")
    found = access.patient_access(urgent, matricule=patient.ins_matricule, oid=patient.ins_oid)
    assert found.decision.mode == "bris_de_glace"
    own = access.patient_access(
        holder_actor(patient), matricule=patient.ins_matricule, oid=patient.ins_oid
    )
    assert own.decision.code == "holder-own-space"


# --- The directory --------------------------------------------------------------------------------


def test_the_directory_finds_by_name_rpps_and_profession_and_pages(personas):
    actor = holder_actor(personas.patient)
    for n in range(12):
        make_professional("60", family_name=f"SOIGNANT{n:02d}")
    page = access.search_directory(actor, query="soignant")
    assert (page.total, page.num_pages, len(page.items)) == (12, 2, 10)
    assert (page.has_previous, page.has_next) == (False, True)
    second = access.search_directory(actor, query="soignant", page=2)
    assert [c.name.split()[-1] for c in second.items] == ["SOIGNANT10", "SOIGNANT11"]
    assert (second.has_previous, second.has_next) == (True, False)
    assert access.search_directory(actor, query=personas.doctor.rpps[:8]).total >= 1
    nurses = access.search_directory(actor, query="infirmier soignant05")
    assert [c.name for c in nurses.items] == ["Alex SOIGNANT05"]
    assert access.search_directory(actor, query="60 SOIGNANT07").total == 1
    assert access.search_directory(actor, query="zzzz").total == 0
    with pytest.raises(InvalidInput, match="au moins 2"):
        access.search_directory(actor, query=" a ")
