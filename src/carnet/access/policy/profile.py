"""The medical profile, for professionals (holders follow the holder rule)."""

from __future__ import annotations

from typing import Final

from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.policy.filters import Field, Filter, all_of
from carnet.access.policy.rights import right_of, with_obligations
from carnet.access.policy.terms import (
    MODE_BREAK_GLASS,
    MODE_CENTRE_15,
    MODE_NORMAL,
    Decision,
    Relation,
    Target,
    allow,
    deny,
)

PROFILE_ACTIONS: Final = frozenset(a for a in Action if a.value.startswith("profile:"))
# Reads of the profile that need an access right (and count as a consultation).
PROFILE_READS: Final = frozenset(
    {
        Action.PROFILE_ITEM_READ,
        Action.PROFILE_ITEM_SEARCH,
        Action.PROFILE_MEASURE_READ,
        Action.PROFILE_MEASURE_SEARCH,
        Action.PROFILE_SUMMARY_READ,
        Action.PROFILE_SYNTHESIS_READ,
    }
)
EMERGENCY_MODES: Final = frozenset({MODE_BREAK_GLASS, MODE_CENTRE_15})
PROFILE_HIDDEN = "Élément masqué par le titulaire : seul son auteur peut encore le lire."
PROFILE_HOLDER_ONLY = (
    "Seul le titulaire peut masquer, supprimer ou partager les éléments de son profil, et saisir "
    "ses mesures et ses habitudes de vie."
)


def decide_profile(actor: Actor, action: Action, target: Target, relation: Relation) -> Decision:
    """The medical profile, for professionals (facts from `profile.services`: `section`,
    `professional_write` for the sections they complete, and for an existing item its `hidden`
    flag and `author_id`).

    - Reading needs an access right (rule 4, emergencies included), with the same first-access
      and emergency obligations as documents; an item the holder hid is read by its author only,
      and the author of an item reads it even without a right.
    - Writing needs a right in normal mode (never from an emergency access): creating an item in
      a section professionals complete, correcting an item the professional wrote.
    - Hiding, deleting, sharing the synthesis and the measures are the holder's.
    """
    facts = target.facts
    author = bool(actor.id) and str(facts.get("author_id") or "") == actor.id
    if action in PROFILE_READS:
        if author and action is Action.PROFILE_ITEM_READ:
            return with_obligations(
                allow("profile-author", "L'auteur d'un élément du profil peut toujours le lire."),
                relation,
            )
        if facts.get("hidden") is True:
            return deny("profile-hidden", PROFILE_HIDDEN)
        right = right_of(actor, relation)
        if (
            not right.allowed
            and action is Action.PROFILE_ITEM_SEARCH
            and right.decision.mode == MODE_NORMAL
        ):
            return allow(
                "author-only",
                "Sans droit d'accès à cet espace, seuls les éléments du profil dont le "
                "professionnel est l'auteur lui sont montrés.",
            )
        return with_obligations(right.decision, relation)
    if action is Action.PROFILE_CARE_HISTORY_CREATE:
        return deny(
            "care-history-insurer-only",
            "L'historique des soins est alimenté par l'Assurance Maladie uniquement.",
            reveal=True,
        )
    if action not in {Action.PROFILE_ITEM_CREATE, Action.PROFILE_ITEM_UPDATE}:
        return deny("profile-holder-only", PROFILE_HOLDER_ONLY, reveal=True)
    if facts.get("professional_write") is not True or facts.get("read_only") is True:
        return deny(
            "profile-section-holder-only",
            "Les professionnels complètent les vaccinations, allergies, traitements, maladies, "
            "hospitalisations et antécédents familiaux ; les autres rubriques sont tenues par le "
            "titulaire.",
            reveal=True,
        )
    right = right_of(actor, relation)
    if not right.allowed:
        return right.decision
    if right.decision.mode in EMERGENCY_MODES:
        return deny(
            "profile-write-emergency",
            "Un accès en urgence permet de consulter le profil, pas de le compléter.",
            mode=right.decision.mode,
            reveal=True,
        )
    if action is Action.PROFILE_ITEM_UPDATE and not author:
        return deny(
            "profile-not-author",
            "Un professionnel ne corrige que les éléments du profil qu'il a lui-même ajoutés.",
            reveal=True,
        )
    return allow(
        "profile-professional-write",
        f"{right.decision.reason} Il complète les rubriques du profil ouvertes aux professionnels.",
        mode=right.decision.mode,
    )


def profile_rows(actor: Actor, action: Action, space: Filter, relation: Relation) -> Filter:
    """The profile rows of one space a professional's list shows."""
    if action in PROFILE_READS and right_of(actor, relation).allowed:
        return space
    if action is Action.PROFILE_ITEM_SEARCH and actor.id:
        # Without a right, the items the professional wrote (the services hide the rest).
        return all_of(space, Field("author_id", "eq", actor.id))
    return False
