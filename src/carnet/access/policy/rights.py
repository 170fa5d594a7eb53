"""Rule 4: a professional's access right to a space (normal or emergency), and the obligations
of a first consultation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from carnet.access.actions import Action
from carnet.access.actors import Actor, PurposeOfUse
from carnet.access.policy.terms import (
    MODE_BREAK_GLASS,
    MODE_CENTRE_15,
    MODE_DECLARED_CONSENT,
    NO_RIGHT,
    NOTIFY_EMERGENCY,
    NOTIFY_FIRST_ACCESS,
    PHYSICIAN,
    RIGHT_EXPIRED,
    Decision,
    Relation,
    allow,
    deny,
)

# Reads of the space that need an access right (and count as a consultation).
CONSULTATIONS: Final = frozenset(
    {
        Action.DOCUMENTS_DOCUMENT_READ,
        Action.DOCUMENTS_DOCUMENT_SEARCH,
        Action.IDENTITY_PATIENT_READ,
        Action.IDENTITY_PATIENT_SEARCH,
    }
)
EMERGENCY_MODES: Final = frozenset({MODE_BREAK_GLASS, MODE_CENTRE_15})


@dataclass(frozen=True, slots=True)
class RightOutcome:
    """The outcome of rule 4 (an access right to the space), before any document rule."""

    decision: Decision

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


def right_of(actor: Actor, relation: Relation) -> RightOutcome:
    """Rule 4: the professional's right to consult this space, and its mode."""
    purpose = actor.purpose_of_use
    if purpose is PurposeOfUse.BREAK_GLASS:
        return RightOutcome(break_glass(actor, relation))
    if purpose is PurposeOfUse.CENTRE_15:
        return RightOutcome(centre_15(actor, relation))
    if relation.medecin_traitant:
        return RightOutcome(allow("medecin-traitant", "Médecin traitant du titulaire."))
    if relation.care_team and relation.care_team_basis == MODE_DECLARED_CONSENT:
        return RightOutcome(
            allow(
                "consent-declared",
                "Consentement du titulaire déclaré par le professionnel pendant les soins.",
                mode=MODE_DECLARED_CONSENT,
            )
        )
    if relation.care_team:
        return RightOutcome(
            allow("care-team-authorised", "Professionnel autorisé par le titulaire.")
        )
    if relation.right_expired:
        return RightOutcome(deny("right-expired", RIGHT_EXPIRED, reveal=True))
    return RightOutcome(deny("no-right", NO_RIGHT))


def break_glass(actor: Actor, relation: Relation) -> Decision:
    if not actor.emergency_reason.strip():
        return deny(
            "break-glass-reason-missing",
            "Le motif de l'accès en urgence (bris de glace) est obligatoire.",
            mode=MODE_BREAK_GLASS,
            reveal=True,
        )
    if relation.break_glass_opposed:
        return deny(
            "break-glass-opposed",
            "Le titulaire s'est opposé à l'accès en urgence (bris de glace).",
            mode=MODE_BREAK_GLASS,
            reveal=True,
        )
    return allow(
        "break-glass",
        "Accès en urgence (bris de glace) : le titulaire ne s'y est pas opposé ; il en sera "
        "informé.",
        mode=MODE_BREAK_GLASS,
        obligations=frozenset({NOTIFY_EMERGENCY}),
    )


def centre_15(actor: Actor, relation: Relation) -> Decision:
    if actor.profession != PHYSICIAN:
        return deny(
            "centre-15-physicians-only",
            "Seul un médecin régulateur du SAMU (centre 15) peut utiliser ce mode d'accès.",
            mode=MODE_CENTRE_15,
            reveal=True,
        )
    if relation.centre_15_opposed:
        return deny(
            "centre-15-opposed",
            "Le titulaire s'est opposé à l'accès par le centre de régulation (SAMU, centre 15).",
            mode=MODE_CENTRE_15,
            reveal=True,
        )
    return allow(
        "centre-15",
        "Accès par le centre de régulation (SAMU, centre 15) : le titulaire ne s'y est pas "
        "opposé ; il en sera informé.",
        mode=MODE_CENTRE_15,
        obligations=frozenset({NOTIFY_EMERGENCY}),
    )


def with_obligations(decision: Decision, relation: Relation) -> Decision:
    if not decision.allowed or not relation.first_access:
        return decision
    return Decision(
        allowed=True,
        reason=decision.reason,
        code=decision.code,
        mode=decision.mode,
        obligations=decision.obligations | {NOTIFY_FIRST_ACCESS},
    )
