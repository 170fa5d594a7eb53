""" "Qui peut voir ce document ?": the policy's own answers, explained to the holder.

For a document the holder may read and a profession they choose, the panel lists the usual
situations (a professional they authorised, their médecin traitant, an emergency, a professional
without a right, a blocked one, the author) and, for each, whether the policy would let that
professional read the document, with the decision's reason. Each answer is `gate.simulate` on
the document's real facts and the holder's real settings (mask everything, emergency
oppositions), so the panel can never disagree with what the gate enforces.

The holder's own read of the document and of their settings goes through the gate first (and is
traced); the simulated decisions release nothing and are not traced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.utils.translation import gettext as _

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.access.policy import (
    MODE_DECLARED_CONSENT,
    PHYSICIAN,
    DocumentFacts,
    Relation,
    Target,
)
from carnet.access.services import AccessSettings, _settings_of, _space
from carnet.core.errors import InvalidInput
from carnet.identity import professions

# The hypothetical professional's id can never be a real professional's (those are UUIDs).
_SOMEONE = "exemple"
_PHARMACIST = "21"


@dataclass(frozen=True)
class Scenario:
    label: str
    allowed: bool
    reason: str
    mode: str


@dataclass(frozen=True)
class Explanation:
    document_id: str
    title: str
    profession_code: str
    profession_label: str
    pharmacist_section: str
    masked: bool
    mask_all: bool
    scenarios: list[Scenario]


@dataclass(frozen=True)
class ProfessionChoice:
    code: str
    label: str


def profession_choices() -> list[ProfessionChoice]:
    """The professions the panel offers (table G15), by label."""
    rows = [ProfessionChoice(p.code, p.display) for p in professions.professions()]
    return sorted(rows, key=lambda choice: choice.label.lower())


def section_choices() -> list[ProfessionChoice]:
    """The sections of the Ordre des pharmaciens (table G05), which decide pharmacists' access."""
    from carnet.identity.services import pharmacist_sections

    return [ProfessionChoice(code, label) for code, label in pharmacist_sections()]


def who_can_see(
    actor: Actor,
    *,
    document_id: str,
    profession_code: str,
    pharmacist_section: str = "",
    specialty: str = "",
) -> Explanation:
    """Explain, for one profession, who may read this document and why.

    Raises NotFound (the holder may not read the document), InvalidInput (unknown profession or
    pharmacist section).
    """
    from carnet.documents import services as documents

    entry = documents.get_document(actor, document_id)
    patient_id = str(entry.patient_id)
    gate.authorize(actor, Action.ACCESS_SETTINGS_READ, _space(patient_id, "SpaceSettings"))
    return explain(
        patient_id=patient_id,
        document_id=str(entry.pk),
        title=entry.title,
        document=documents.facts_of(entry),
        settings=_settings_of(patient_id),
        profession_code=profession_code,
        pharmacist_section=pharmacist_section,
        specialty=specialty,
    )


def explain(
    *,
    patient_id: str,
    document_id: str,
    title: str,
    document: DocumentFacts,
    settings: AccessSettings,
    profession_code: str,
    pharmacist_section: str = "",
    specialty: str = "",
) -> Explanation:
    """The panel's content for facts already read through the gate (see `who_can_see`)."""
    known = professions.profession(profession_code.strip())
    if known is None:
        raise InvalidInput(_("Choisissez une profession de la liste."), field="profession")
    section = pharmacist_section.strip().upper()
    if known.code == _PHARMACIST:
        if section and professions.pharmacist_section(section) is None:
            raise InvalidInput(_("Section de l'Ordre des pharmaciens inconnue."), field="section")
    else:
        section = ""
    someone = Actor(
        kind=ActorKind.PROFESSIONAL,
        id=_SOMEONE,
        label=known.display,
        profession=known.code,
        pharmacist_section=section,
        specialty=specialty.strip()[:40],
    )
    base = Relation(
        space_open=True,
        break_glass_opposed=settings.break_glass_opposed,
        centre_15_opposed=settings.centre_15_opposed,
        mask_all=settings.mask_all,
    )
    target = Target(
        "DocumentReference", resource_id=document_id, patient_id=patient_id, document=document
    )
    who = known.display.lower()
    cases: list[tuple[str, Actor, Relation]] = [
        (
            _("Un professionnel (%(who)s) que vous avez autorisé") % {"who": who},
            someone,
            _with(base, care_team=True, care_team_basis="autorise"),
        ),
        (
            _("Un professionnel (%(who)s) qui a déclaré votre consentement pendant les soins")
            % {"who": who},
            someone,
            _with(base, care_team=True, care_team_basis=MODE_DECLARED_CONSENT),
        ),
    ]
    if known.code == PHYSICIAN:
        cases.append(
            (
                _("Votre médecin traitant"),
                someone,
                _with(
                    base, care_team=True, medecin_traitant=True, care_team_basis="medecin_traitant"
                ),
            )
        )
    cases.append(
        (
            _(
                "Un professionnel (%(who)s) en urgence, si vous ne pouvez pas consentir "
                "(bris de glace)"
            )
            % {"who": who},
            _emergency(someone, PurposeOfUse.BREAK_GLASS),
            base,
        )
    )
    if known.code == PHYSICIAN:
        cases.append(
            (
                _("Le médecin régulateur du SAMU (centre 15)"),
                _emergency(someone, PurposeOfUse.CENTRE_15),
                base,
            )
        )
    cases += [
        (_("Un professionnel (%(who)s) sans autorisation") % {"who": who}, someone, base),
        (
            _("Un professionnel (%(who)s) que vous avez bloqué") % {"who": who},
            someone,
            _with(base, blocked=True, care_team=True, care_team_basis="autorise"),
        ),
    ]
    if document.author_professional_id:
        author = Actor(
            kind=ActorKind.PROFESSIONAL, id=document.author_professional_id, label="auteur"
        )
        cases.append((_("L'auteur du document"), author, base))
    scenarios = []
    for label, hypothetical, relation in cases:
        decision = gate.simulate(
            hypothetical,
            Action.DOCUMENTS_DOCUMENT_READ,
            Target(
                target.resource_type,
                resource_id=target.resource_id,
                patient_id=target.patient_id,
                document=target.document,
                relation=relation,
            ),
        )
        scenarios.append(Scenario(label, decision.allowed, decision.reason, decision.mode))
    return Explanation(
        document_id=document_id,
        title=title,
        profession_code=known.code,
        profession_label=known.display,
        pharmacist_section=section,
        masked=document.masked,
        mask_all=settings.mask_all,
        scenarios=scenarios,
    )


def _with(base: Relation, **changes: Any) -> Relation:
    return replace(base, **changes)


def _emergency(actor: Actor, purpose: PurposeOfUse) -> Actor:
    return replace(
        actor, purpose_of_use=purpose, emergency_reason=_("Patient inconscient aux urgences")
    )
