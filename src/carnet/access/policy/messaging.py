"""Secure messaging, for professionals and the MSSanté gateway (holders follow the holder rule)."""

from __future__ import annotations

from typing import Final

from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind
from carnet.access.policy.terms import (
    NO_RIGHT,
    NO_RULE,
    SPACE_CLOSED,
    Decision,
    Target,
    allow,
    deny,
)

MSS_GATEWAY_ID: Final = "mss-gateway"
MESSAGING_ACTIONS: Final = frozenset(a for a in Action if a.value.startswith("messaging:"))
# What a participant does in a conversation (never delete it: hiding is the holder's own view).
MESSAGING_PARTICIPANT_ACTIONS: Final = frozenset(
    {
        Action.MESSAGING_ATTACHMENT_READ,
        Action.MESSAGING_CONVERSATION_READ,
        Action.MESSAGING_MESSAGE_CREATE,
    }
)


def decide_messaging(actor: Actor, action: Action, target: Target) -> Decision:
    """Secure messaging, for professionals and the system (holders: `decide_holder`).

    - The MSSanté gateway (system actor `mss-gateway`) delivers received mail into an open space,
      and nothing else; another system actor (the insurer's feed) has no messaging right.
    - Any professional may open a conversation with an open space (fact `new_conversation`), as
      any MSSanté mailbox may write to a patient whose INS it knows.
    - Otherwise a professional reads and writes only in a conversation they take part in (fact
      `participant_id`, the professional's id). The care-team rules may widen this later.
    """
    relation = target.relation
    if relation is None:
        return deny("no-right", NO_RIGHT)
    if not relation.space_open:
        return deny("space-closed", SPACE_CLOSED)
    if actor.kind is ActorKind.SYSTEM:
        if actor.id == MSS_GATEWAY_ID and action is Action.MESSAGING_MESSAGE_CREATE:
            return allow(
                "mss-gateway-delivery",
                "La passerelle MSSanté remet au titulaire un message reçu d'un professionnel de "
                "l'espace de confiance.",
            )
        return deny("no-rule", NO_RULE)
    if actor.kind is not ActorKind.PROFESSIONAL or relation.blocked:
        return deny("no-rule", NO_RULE)
    if action is Action.MESSAGING_MESSAGE_CREATE and target.facts.get("new_conversation") is True:
        return allow(
            "messaging-open",
            "Un professionnel de santé peut écrire au titulaire d'un espace ouvert.",
        )
    participant = str(target.facts.get("participant_id") or "")
    if action in MESSAGING_PARTICIPANT_ACTIONS and participant and participant == actor.id:
        return allow("messaging-participant", "Le professionnel participe à cette conversation.")
    return deny(
        "messaging-not-participant",
        "Un professionnel n'accède qu'aux conversations auxquelles il participe.",
    )
