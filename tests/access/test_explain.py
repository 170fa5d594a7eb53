""" "Qui peut voir ce document ?": the explanation is the policy's own answer, for the document's
real facts and the holder's real settings, and only the holder may ask for it."""

from __future__ import annotations

import pytest

from carnet.access import explain
from carnet.access import services as access
from carnet.access.services import AccessSettings
from carnet.audit.models import AuditEvent
from carnet.core.errors import InvalidInput, NotFound
from carnet.documents.services import facts_of
from tests.access.helpers import document_entry, holder_actor, pro_actor

pytestmark = pytest.mark.django_db


def _answers(explanation):
    return {s.label: (s.allowed, s.reason, s.mode) for s in explanation.scenarios}


def test_a_masked_document_explained_for_medecins(personas):
    entry = document_entry(personas.patient, masked=True, author_professional=personas.doctor)
    explanation = explain.who_can_see(
        holder_actor(personas.patient), document_id=str(entry.pk), profession_code="10"
    )
    answers = _answers(explanation)
    assert (explanation.title, explanation.masked, explanation.profession_label) == (
        entry.title,
        True,
        "Médecin",
    )
    assert answers["Votre médecin traitant"][0] is True
    assert "autorise les médecins" in answers["Votre médecin traitant"][1]
    authorised = answers["Un professionnel (médecin) que vous avez autorisé"]
    assert authorised[0] is False
    assert authorised[1].startswith("Document masqué par le titulaire")
    urgent = next(v for k, v in answers.items() if "bris de glace" in k)
    assert (urgent[0], urgent[2]) == (False, "bris_de_glace")
    assert answers["Le médecin régulateur du SAMU (centre 15)"][0] is False
    assert answers["Un professionnel (médecin) sans autorisation"][0] is False
    blocked = answers["Un professionnel (médecin) que vous avez bloqué"]
    assert (blocked[0], "bloqué" in blocked[1]) == (False, True)
    assert answers["L'auteur du document"][0] is True
    # The holder's reads (the document, the settings) are traced; the simulations are not.
    actions = list(
        AuditEvent.objects.filter(patient_id=personas.patient.pk)
        .order_by("-seq")
        .values_list("action", flat=True)[:2]
    )
    assert actions == ["access:settings:read", "documents:document:read"]


def test_the_matrix_and_the_holder_s_settings_shape_the_answers(personas):
    patient = personas.patient
    entry = document_entry(patient, type_code="68599-0")  # synthèse psychiatrique
    actor = holder_actor(patient)
    nurses = _answers(explain.who_can_see(actor, document_id=str(entry.pk), profession_code="60"))
    assert "Votre médecin traitant" not in nurses
    assert all(not allowed for allowed, _, _ in nurses.values())
    assert (
        "n'autorise pas les infirmiers"
        in nurses["Un professionnel (infirmier) que vous avez autorisé"][1]
    )
    access.update_access_settings(
        actor,
        patient_id=str(patient.pk),
        break_glass_opposed=True,
        centre_15_opposed=False,
        mask_all=False,
    )
    doctors = _answers(explain.who_can_see(actor, document_id=str(entry.pk), profession_code="10"))
    urgent = next(v for k, v in doctors.items() if "bris de glace" in k)
    assert "opposé" in urgent[1]
    assert doctors["Le médecin régulateur du SAMU (centre 15)"][0] is True
    declared = doctors[
        "Un professionnel (médecin) qui a déclaré votre consentement pendant les soins"
    ]
    assert (declared[0], declared[2]) == (True, "consentement_declare")


def test_pharmacists_are_explained_by_section(personas):
    entry = document_entry(personas.patient)
    actor = holder_actor(personas.patient)

    def authorised(section):
        explanation = explain.who_can_see(
            actor, document_id=str(entry.pk), profession_code="21", pharmacist_section=section
        )
        return explanation.scenarios[0]

    assert authorised("A").allowed
    assert authorised("g").allowed
    refused = authorised("B")
    assert not refused.allowed
    assert "section B" in refused.reason
    assert "sans section" in authorised("").reason.lower()
    with pytest.raises(InvalidInput, match="Section"):
        authorised("ZZ")
    # A section given for another profession is ignored.
    doctor = explain.who_can_see(
        actor, document_id=str(entry.pk), profession_code="10", pharmacist_section="ZZ"
    )
    assert doctor.pharmacist_section == ""


def test_unknown_professions_and_foreign_documents_are_refused(personas):
    entry = document_entry(personas.patient)
    with pytest.raises(InvalidInput, match="profession"):
        explain.who_can_see(
            holder_actor(personas.patient), document_id=str(entry.pk), profession_code="999"
        )
    with pytest.raises(NotFound):
        explain.who_can_see(
            holder_actor(personas.other_patient), document_id=str(entry.pk), profession_code="10"
        )
    # The médecin traitant reads the document, but the panel is the holder's.
    with pytest.raises(NotFound):
        explain.who_can_see(
            pro_actor(personas.doctor), document_id=str(entry.pk), profession_code="10"
        )


def test_masking_everything_is_explained_for_each_document(personas):
    entry = document_entry(personas.patient)
    explanation = explain.explain(
        patient_id=str(personas.patient.pk),
        document_id=str(entry.pk),
        title=entry.title,
        document=facts_of(entry),
        settings=AccessSettings(mask_all=True),
        profession_code="60",
    )
    assert explanation.mask_all
    assert "masqué tous ses documents" in explanation.scenarios[0].reason
    assert not any(s.label == "L'auteur du document" for s in explanation.scenarios)


def test_choices_list_professions_and_sections():
    professions = explain.profession_choices()
    assert ("10", "Médecin") in {(c.code, c.label) for c in professions}
    assert [c.label for c in professions] == sorted((c.label for c in professions), key=str.lower)
    sections = {c.code for c in explain.section_choices()}
    assert {"A", "G", "H", "B"} <= sections
