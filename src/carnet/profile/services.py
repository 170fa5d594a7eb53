"""Medical profile: the items of the 12 sections and the health measures.

Invariants:
- Every public function takes the actor first and goes through `access.gate` before touching a
  patient's rows: `authorize` for reads, `change` for writes (the audit event commits with the
  change), `visible` for lists and searches. The target carries the facts the policy needs
  (`facts`: section, whether professionals may complete it, hidden flag, author).
- An item is stored as the FHIR R4 resource of its kind, validated by fhir.resources; holders
  write through French forms (`items.clean_data`), software through FHIR. The author (holder,
  professional, insurer) is kept; an edit by someone else records them as the editor.
- The holder corrects or hides any item of their profile; they delete only what they added
  themselves (a professional's or the insurer's item stays, hidden if they wish) [decision].
  "Historique des soins" is written by the insurer only.
- A "nothing to report" item and real items never coexist in a section: adding a real item
  removes the "nothing to report" one; declaring "nothing to report" over real items is refused.
- A kind marked `single` (tobacco, blood group, trusted person…) has at most one item per
  patient.
- A measure is validated by `measures.validate_measure` (portal) or `observations` (FHIR) and
  stored in the guide's canonical unit with the value entered kept as original. The BMI is
  computed, never stored.
- Items hidden by the holder are left out of every list shown to someone else than the holder
  (and the item's author), on top of the policy's own filter.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind
from carnet.access.policy import Target
from carnet.core import clock
from carnet.core.errors import CarnetError, Conflict, InvalidInput, NotFound
from carnet.identity import ins as ins_rules
from carnet.identity import services as identity
from carnet.identity.professions import profession as profession_of
from carnet.profile import items as item_rules
from carnet.profile import kinds as kind_rules
from carnet.profile import measures as measure_rules
from carnet.profile import observations
from carnet.profile.items import InvalidItem, ItemKind
from carnet.profile.measures import InvalidMeasure, MeasureValue, Quantity
from carnet.profile.models import AuthorKind, Measure, MeasureSource, ProfileItem
from carnet.profile.sections import BY_SLUG, HISTORIQUE, get_section

_AUTHOR_KINDS = {
    ActorKind.HOLDER: AuthorKind.HOLDER,
    ActorKind.PROFESSIONAL: AuthorKind.PROFESSIONAL,
    ActorKind.APP: AuthorKind.APP,
    ActorKind.SYSTEM: AuthorKind.SYSTEM,
}
_MEASURE_SOURCES = {
    ActorKind.HOLDER: MeasureSource.HOLDER,
    ActorKind.PROFESSIONAL: MeasureSource.PROFESSIONAL,
    ActorKind.APP: MeasureSource.APP,
    ActorKind.SYSTEM: MeasureSource.SYSTEM,
}
# FHIR elements that describe the copy, not the item: rewritten by Carnet on the way out.
_ENVELOPE = ("id", "meta", "text")


class ReadOnlyItem(CarnetError):
    """The item may not be changed this way (the insurer's care history, another's item)."""

    code = "business-rule"


# --- Patients and authors --------------------------------------------------------------------


def existing_patient_id(patient_id: object) -> str | None:
    """The id of an existing space, or None (malformed ids included): the gate refuses None as
    "no target", the same answer as for a space the actor may not see."""
    try:
        key = uuid.UUID(str(patient_id))
    except ValueError:
        return None
    return str(key) if identity.space_is_open(str(key)) is not None else None


def patient_from_reference(reference: Any) -> str | None:
    """The space a FHIR `Reference` designates: `Patient/<id>` (Carnet's id) or an INS
    identifier (`urn:oid:<INS OID>` + matricule). None when it designates no known space."""
    if not isinstance(reference, Mapping):
        return None
    text = str(reference.get("reference") or "")
    if text:
        kind, _slash, key = text.rpartition("/")
        return existing_patient_id(key) if kind.endswith("Patient") else None
    identifier = reference.get("identifier")
    if isinstance(identifier, Mapping):
        oid = str(identifier.get("system") or "").removeprefix("urn:oid:")
        value = str(identifier.get("value") or "")
        try:
            ins = ins_rules.parse_ins(
                value, oid, accept_fictitious=ins_rules.accept_fictitious_ins()
            )
        except CarnetError:
            return None
        holder = identity.holder_for_ins(ins.matricule, ins.oid)
        return str(holder.pk) if holder is not None else None
    return None


def patient_reference(patient_id: object) -> str:
    return f"Patient/{patient_id}"


def _author_fields(actor: Actor) -> dict[str, str]:
    return {
        "author_kind": _AUTHOR_KINDS.get(actor.kind, AuthorKind.SYSTEM),
        "author_id": actor.id[:100],
        "author_label": actor.label[:200],
        "author_profession": actor.profession[:40],
    }


def is_patient_side(actor: Actor, patient_id: object) -> bool:
    """The holder or their representative (who see hidden items and correct anything)."""
    return actor.kind is ActorKind.HOLDER and str(patient_id) in actor.patient_ids


# --- Targets ---------------------------------------------------------------------------------


def _facts(section: str, item: ProfileItem | None = None) -> dict[str, Any]:
    definition = BY_SLUG[section]
    facts: dict[str, Any] = {
        "section": section,
        "professional_write": definition.professional_write,
        "read_only": definition.read_only,
    }
    if item is not None:
        facts |= {
            "hidden": item.hidden,
            "author_kind": item.author_kind,
            "author_id": item.author_id,
        }
    return facts


def _item_target(item: ProfileItem) -> Target:
    return Target(
        item.resource_type,
        resource_id=str(item.pk),
        patient_id=str(item.patient_id),
        facts=_facts(item.section, item),
    )


def _item_or_none(item_id: object) -> ProfileItem | None:
    try:
        key = uuid.UUID(str(item_id))
    except ValueError:
        return None
    return ProfileItem.objects.filter(pk=key).first()


def _authorized_item(actor: Actor, action: Action, item_id: object) -> ProfileItem:
    """The item, once the gate allowed `action` on it (reads; writes re-check with `change`)."""
    item = _item_or_none(item_id)
    if item is None:
        gate.refuse_missing(actor, action, "ProfileItem", item_id)
    if item.hidden and not is_patient_side(actor, item.patient_id) and item.author_id != actor.id:
        # Hidden from professionals by the holder: the same answer as a missing item.
        gate.authorize(actor, action, Target(item.resource_type, str(item.pk)))
        raise NotFound(gate.NOT_FOUND_MESSAGE)  # pragma: no cover
    if not action.is_write:
        gate.authorize(actor, action, _item_target(item))
    return item


# --- Reading items ---------------------------------------------------------------------------


def _visible_items(
    actor: Actor, action: Action, patient_id: str | None, details: Mapping[str, Any]
) -> QuerySet[ProfileItem]:
    rows = gate.visible(
        actor,
        action,
        ProfileItem.objects.all(),
        searched_patient_id=patient_id,
        details=details,
    )
    if actor.kind is not ActorKind.HOLDER:
        rows = rows.filter(Q(hidden=False) | Q(author_id=actor.id))
    return rows


def list_items(actor: Actor, *, patient_id: str, section: str | None = None) -> list[ProfileItem]:
    """The items of a space (one section, or all), newest date first, as the actor may see them."""
    pid = existing_patient_id(patient_id)
    details = {"section": section} if section else {}
    rows = _visible_items(actor, Action.PROFILE_ITEM_SEARCH, pid, details)
    if pid is None:
        return []
    rows = rows.filter(patient_id=uuid.UUID(pid))
    if section is not None:
        rows = rows.filter(section=section)
    return sorted(rows, key=item_order)


def item_order(item: ProfileItem) -> tuple[Any, ...]:
    kind = kind_rules.get_kind(item.kind)
    pcp = bool(kind and kind.key == "professionnel" and is_medecin_traitant(item))
    return (not pcp, -(item.date or dt.date.min).toordinal(), item.title.lower())


def is_medecin_traitant(item: ProfileItem) -> bool:
    participants = item.resource.get("participant") or [{}]
    return any(kind_rules.is_pcp_role(role) for role in participants[0].get("role") or [])


def get_item(actor: Actor, item_id: str) -> ProfileItem:
    """One item the actor may read. Raises NotFound (missing, forbidden or hidden alike)."""
    return _authorized_item(actor, Action.PROFILE_ITEM_READ, item_id)


def item_kind(item: ProfileItem) -> ItemKind:
    kind = kind_rules.get_kind(item.kind)
    if kind is None:  # pragma: no cover (kinds are never removed while items use them)
        raise NotFound(gate.NOT_FOUND_MESSAGE)
    return kind


@dataclass(frozen=True)
class ItemView:
    """An item ready to show: title, detail lines, author and editor, flags."""

    item: ProfileItem
    kind: ItemKind
    title: str
    details: list[tuple[str, str]]
    author: str
    editor: str
    editable: bool
    deletable: bool

    @property
    def id(self) -> str:
        return str(self.item.pk)


def describe_author(kind: str, label: str, profession: str = "") -> str:
    if kind == AuthorKind.HOLDER:
        return _("vous-même")
    if kind == AuthorKind.SYSTEM:
        return label or _("l'Assurance Maladie")
    if kind == AuthorKind.PROFESSIONAL and profession:
        known = profession_of(profession)
        if known is not None:
            return f"{label} ({known.display})"
    return label


def view_item(actor: Actor, item: ProfileItem) -> ItemView:
    kind = item_kind(item)
    editable = not BY_SLUG[item.section].read_only and bool(kind.fields)
    return ItemView(
        item=item,
        kind=kind,
        title=item_rules.title(kind, item.resource),
        details=item_rules.details(kind, item.resource),
        author=describe_author(item.author_kind, item.author_label, item.author_profession),
        editor=describe_author(item.editor_kind, item.editor_label) if item.editor_kind else "",
        editable=editable,
        deletable=item.author_kind == AuthorKind.HOLDER,
    )


def item_form_data(item: ProfileItem) -> dict[str, str]:
    return item_rules.form_data(item_kind(item), item.resource)


def item_to_fhir(item: ProfileItem) -> dict[str, Any]:
    """The item as the FHIR resource it is, with Carnet's id, version and patient reference."""
    resource = copy.deepcopy(item.resource)
    meta: dict[str, Any] = {
        "versionId": str(item.version),
        "lastUpdated": item.updated_at.isoformat(),
    }
    profiles = (item.resource.get("meta") or {}).get("profile")
    if profiles:
        meta["profile"] = profiles
    if item.hidden:
        meta["security"] = [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                "code": "R",
                "display": "restricted",
            }
        ]
    resource = {"resourceType": item.resource_type, "id": str(item.pk), "meta": meta} | {
        key: value for key, value in resource.items() if key not in (*_ENVELOPE, "resourceType")
    }
    resource[item_rules.PATIENT_PATHS[item.resource_type]] = {
        "reference": patient_reference(item.patient_id)
    }
    return resource


# --- Writing items ---------------------------------------------------------------------------


def _fill(item: ProfileItem, kind: ItemKind, resource: dict[str, Any]) -> None:
    item.kind = kind.key
    item.section = kind.section
    item.resource_type = kind.resource_type
    item.resource = resource
    item.title = item_rules.title(kind, resource)[:200]
    item.date = item_rules.item_date(kind, resource)


def _check_section_rules(kind: ItemKind, patient_id: str) -> None:
    """`single` kinds and "nothing to report" items (see the module's invariants)."""
    section = ProfileItem.objects.filter(patient_id=uuid.UUID(patient_id), section=kind.section)
    if kind.single and section.filter(kind=kind.key).exists():
        raise Conflict(
            _("« %(label)s » est déjà renseigné : modifiez l'élément existant.")
            % {"label": kind.label},
            code="duplicate",
        )
    if kind.none_of and section.exclude(kind=kind.key).exists():
        raise Conflict(
            _("Cette rubrique contient déjà des éléments : supprimez-les d'abord."),
            code="business-rule",
        )


def _remove_none_items(kind: ItemKind, patient_id: str) -> list[str]:
    """Adding a real item ends the "nothing to report" statement of its section."""
    if kind.none_of:
        return []
    none_keys = [k.key for k in kind_rules.kinds_of(kind.section) if k.none_of]
    stale = ProfileItem.objects.filter(patient_id=uuid.UUID(patient_id), kind__in=none_keys)
    removed = [str(pk) for pk in stale.values_list("pk", flat=True)]
    stale.delete()
    return removed


def _create(
    actor: Actor,
    kind: ItemKind,
    patient_id: str | None,
    build: Any,
    *,
    external_id: str = "",
) -> ProfileItem:
    """Create an item of `kind` in `patient_id`'s space; `build(patient_id)` returns the
    validated resource (called once the gate allowed the write)."""
    action = (
        Action.PROFILE_CARE_HISTORY_CREATE
        if kind.section == HISTORIQUE
        else Action.PROFILE_ITEM_CREATE
    )
    target = Target(kind.resource_type, patient_id=patient_id, facts=_facts(kind.section))
    with gate.change(actor, action, target) as grant:
        if patient_id is None:  # pragma: no cover (the gate refuses a missing space)
            raise NotFound(gate.NOT_FOUND_MESSAGE)
        if kind.section == HISTORIQUE and actor.kind is not ActorKind.SYSTEM:
            raise ReadOnlyItem(
                _("L'historique des soins est alimenté par l'Assurance Maladie uniquement.")
            )
        _check_section_rules(kind, patient_id)
        now = clock.now()
        item = ProfileItem(
            patient_id=patient_id,
            external_id=external_id,
            created_at=now,
            updated_at=now,
            **_author_fields(actor),
            author_organisation=(actor.organisation_name or actor.organisation)[:200],
        )
        _fill(item, kind, build(patient_id))
        removed = _remove_none_items(kind, patient_id)
        item.save()
        grant.resource_id = str(item.pk)
        grant.details = {"section": kind.section, "kind": kind.key}
        if removed:
            grant.details["removed_none_items"] = removed
    return item


def create_item(
    actor: Actor, *, patient_id: str, kind: str, data: Mapping[str, Any]
) -> ProfileItem:
    """Add an item from a form (French field values as posted).

    Raises InvalidItem (one message per field), Conflict (a `single` kind already filled, or
    "nothing to report" over real items), ReadOnlyItem, NotFound (no such space for this actor).
    """
    definition = kind_rules.get_kind(kind)
    if definition is None or (definition.section == HISTORIQUE):
        raise InvalidInput(_("Type d'élément inconnu."), field="kind")
    today = clock.today()
    cleaned = item_rules.clean_data(definition, data, today=today)
    pid = existing_patient_id(patient_id)

    def build(patient: str) -> dict[str, Any]:
        return item_rules.build_resource(
            definition, cleaned, patient_reference=patient_reference(patient), today=today
        )

    return _create(actor, definition, pid, build)


def _check_editable(actor: Actor, item: ProfileItem) -> None:
    if BY_SLUG[item.section].read_only and actor.kind is not ActorKind.SYSTEM:
        raise ReadOnlyItem(
            _("L'historique des soins est alimenté par l'Assurance Maladie : il ne se modifie pas.")
        )


def _save_edit(actor: Actor, item: ProfileItem, kind: ItemKind, resource: dict[str, Any]) -> None:
    _fill(item, kind, resource)
    item.version += 1
    item.updated_at = clock.now()
    if item.author_kind != _AUTHOR_KINDS.get(actor.kind) or item.author_id != actor.id:
        item.editor_kind = _AUTHOR_KINDS.get(actor.kind, AuthorKind.SYSTEM)
        item.editor_label = actor.label[:200]
    else:
        item.editor_kind = item.editor_label = ""
    item.save()


def update_item(actor: Actor, item_id: str, *, data: Mapping[str, Any]) -> ProfileItem:
    """Correct an item from its form. What the form does not show (codes a professional's
    software sent, say) is kept. Raises InvalidItem, ReadOnlyItem, NotFound."""
    item = _authorized_item(actor, Action.PROFILE_ITEM_UPDATE, item_id)
    kind = item_kind(item)
    today = clock.today()
    with gate.change(actor, Action.PROFILE_ITEM_UPDATE, _item_target(item)) as grant:
        _check_editable(actor, item)
        cleaned = item_rules.clean_data(kind, data, today=today)
        resource = item_rules.build_resource(
            kind,
            cleaned,
            base=item.resource,
            patient_reference=patient_reference(item.patient_id),
            today=today,
        )
        _save_edit(actor, item, kind, resource)
        grant.details = {"section": item.section, "kind": kind.key, "version": item.version}
    return item


def delete_item(actor: Actor, item_id: str) -> None:
    """Delete an item the holder added. Raises ReadOnlyItem for others' items (hide them
    instead), NotFound."""
    item = _authorized_item(actor, Action.PROFILE_ITEM_DELETE, item_id)
    with gate.change(actor, Action.PROFILE_ITEM_DELETE, _item_target(item)) as grant:
        if item.author_kind != AuthorKind.HOLDER:
            raise ReadOnlyItem(
                _(
                    "Cet élément a été ajouté par %(author)s : vous pouvez le corriger ou le "
                    "masquer aux professionnels, mais pas le supprimer."
                )
                % {"author": describe_author(item.author_kind, item.author_label)}
            )
        grant.details = {"section": item.section, "kind": item.kind, "title": item.title}
        item.delete()


def set_item_hidden(actor: Actor, item_id: str, *, hidden: bool) -> ProfileItem:
    """Hide an item from professionals (or show it again). The holder still sees it."""
    item = _authorized_item(actor, Action.PROFILE_ITEM_MANAGE, item_id)
    with gate.change(actor, Action.PROFILE_ITEM_MANAGE, _item_target(item)) as grant:
        if not is_patient_side(actor, item.patient_id):
            raise ReadOnlyItem(_("Seul le titulaire peut masquer un élément de son profil."))
        item.hidden = hidden
        item.updated_at = clock.now()
        item.save(update_fields=["hidden", "updated_at"])
        grant.details = {"hidden": hidden, "section": item.section}
    return item


# --- Items through FHIR ----------------------------------------------------------------------


def _incoming(
    resource: Mapping[str, Any], expected_type: str | None
) -> tuple[ItemKind, str | None]:
    if not isinstance(resource, Mapping):
        raise InvalidItem(
            {"resourceType": _("Le corps de la requête doit être une ressource FHIR.")}
        )
    resource_type = str(resource.get("resourceType", ""))
    if expected_type is not None and resource_type != expected_type:
        raise InvalidItem(
            {
                "resourceType": _("Ressource %(found)s reçue à l'adresse de %(expected)s.")
                % {"found": resource_type[:40] or "?", "expected": expected_type}
            }
        )
    item_rules.validate_resource(resource)
    kind = kind_rules.kind_for_resource(resource)
    if kind is None:
        raise InvalidItem(
            {
                f"{resource_type}.code": _(
                    "Cette ressource ne correspond à aucune rubrique du profil médical."
                )
            },
            code="not-supported",
        )
    path = item_rules.PATIENT_PATHS[resource_type]
    return kind, patient_from_reference(resource.get(path))


def is_profile_resource(resource: Mapping[str, Any]) -> bool:
    """Whether a resource is an item of one of the profile's sections (by its codes)."""
    return isinstance(resource, Mapping) and kind_rules.kind_for_resource(resource) is not None


def _stored_copy(resource: Mapping[str, Any], patient_id: str) -> dict[str, Any]:
    stored = {k: copy.deepcopy(v) for k, v in resource.items() if k not in _ENVELOPE}
    profiles = (resource.get("meta") or {}).get("profile")
    if profiles:
        stored["meta"] = {"profile": list(profiles)}
    stored[item_rules.PATIENT_PATHS[str(resource["resourceType"])]] = {
        "reference": patient_reference(patient_id)
    }
    return item_rules.validate_resource(stored)


def create_item_from_fhir(
    actor: Actor, resource: Mapping[str, Any], *, expected_type: str | None = None
) -> ProfileItem:
    """Store a FHIR resource sent by software (a professional completing the profile, or the
    holder's session). Raises InvalidItem (FHIR path in `field`), Conflict, NotFound."""
    kind, patient_id = _incoming(resource, expected_type)
    if kind.section == HISTORIQUE:
        return record_care_history(actor, resource)[0]
    return _create(actor, kind, patient_id, lambda pid: _stored_copy(resource, pid))


def update_item_from_fhir(
    actor: Actor, item_id: str, resource: Mapping[str, Any], *, expected_type: str
) -> ProfileItem:
    """Replace an item with the resource sent (FHIR update). The kind and the space cannot
    change. Raises InvalidItem, ReadOnlyItem, NotFound."""
    item = _authorized_item(actor, Action.PROFILE_ITEM_UPDATE, item_id)
    if item.resource_type != expected_type:  # not an item of this type: no such resource
        gate.authorize(actor, Action.PROFILE_ITEM_UPDATE, Target(expected_type, str(item_id)))
        raise NotFound(gate.NOT_FOUND_MESSAGE)  # pragma: no cover (the gate refused first)
    kind, patient_id = _incoming(resource, expected_type)
    with gate.change(actor, Action.PROFILE_ITEM_UPDATE, _item_target(item)) as grant:
        _check_editable(actor, item)
        if patient_id != str(item.patient_id) or kind.section != item.section:
            raise InvalidItem(
                {
                    f"{expected_type}.{item_rules.PATIENT_PATHS[expected_type]}": _(
                        "Une mise à jour ne change ni le patient ni la rubrique de l'élément."
                    )
                },
                code="business-rule",
            )
        _save_edit(actor, item, kind, _stored_copy(resource, str(item.patient_id)))
        grant.details = {"section": item.section, "kind": kind.key, "version": item.version}
    return item


def record_care_history(actor: Actor, resource: Mapping[str, Any]) -> tuple[ProfileItem, bool]:
    """The insurer's feed: store one care-history entry (an ExplanationOfBenefit for one
    reimbursed act). Idempotent on the claim's identifier: a repeated entry updates the stored
    one. Returns the item and whether it was created.

    Raises InvalidItem, ReadOnlyItem (actor other than the insurer's system), NotFound.
    """
    if not isinstance(resource, Mapping) or resource.get("resourceType") != "ExplanationOfBenefit":
        raise InvalidItem(
            {"resourceType": _("L'historique des soins attend un ExplanationOfBenefit.")}
        )
    kind, patient_id = _incoming(resource, "ExplanationOfBenefit")
    identifiers = resource.get("identifier") or []
    first = identifiers[0] if identifiers and isinstance(identifiers[0], Mapping) else {}
    external_id = (
        f"{first.get('system', '')}|{first.get('value', '')}" if first.get("value") else ""
    )
    existing = (
        ProfileItem.objects.filter(
            patient_id=uuid.UUID(patient_id),
            resource_type="ExplanationOfBenefit",
            external_id=external_id,
        ).first()
        if external_id and patient_id
        else None
    )
    if existing is None:
        try:
            item = _create(
                actor,
                kind,
                patient_id,
                lambda pid: _stored_copy(resource, pid),
                external_id=external_id[:200],
            )
        except IntegrityError:  # the same claim sent twice at once
            raise Conflict(_("Cet acte est déjà en cours d'enregistrement.")) from None
        return item, True
    with gate.change(actor, Action.PROFILE_CARE_HISTORY_CREATE, _item_target(existing)) as grant:
        if actor.kind is not ActorKind.SYSTEM:
            raise ReadOnlyItem(
                _("L'historique des soins est alimenté par l'Assurance Maladie uniquement.")
            )
        _save_edit(actor, existing, kind, _stored_copy(resource, str(existing.patient_id)))
        grant.details = {"section": HISTORIQUE, "updated": True}
    return existing, False


def care_history_resource(
    *,
    claim_id: str,
    patient_id: str,
    date: dt.date,
    act: str,
    provider: str,
    amount: Decimal | None = None,
    care_type: str = "professional",
) -> dict[str, Any]:
    """A minimal valid ExplanationOfBenefit for one reimbursed act, as the insurer's feed and
    the demo data send it (claim type from HL7's claim-type code system)."""
    resource: dict[str, Any] = {
        "resourceType": "ExplanationOfBenefit",
        "identifier": [{"system": "urn:carnet:assurance-maladie:remboursement", "value": claim_id}],
        "status": "active",
        "type": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": care_type}
            ]
        },
        "use": "claim",
        "patient": {"reference": patient_reference(patient_id)},
        "billablePeriod": {"start": date.isoformat()},
        "created": date.isoformat(),
        "insurer": {"display": "Assurance Maladie"},
        "provider": {"display": provider},
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"display": "Régime obligatoire"}}],
        "item": [
            {"sequence": 1, "productOrService": {"text": act}, "servicedDate": date.isoformat()}
        ],
    }
    if amount is not None:
        resource["payment"] = {"amount": {"value": float(amount), "currency": "EUR"}}
    return resource


# --- FHIR search over items ------------------------------------------------------------------


def _unknown_space(actor: Actor, action: Action, resource_type: str) -> list[Any]:
    """A search in a space that does not exist: recorded as refused, answered like a search in
    a space the actor may not see (empty), so that it reveals nothing."""
    with contextlib.suppress(NotFound):
        gate.authorize(actor, action, Target(resource_type))
    return []


@dataclass(frozen=True)
class SearchParams:
    """FHIR search parameters Carnet supports on profile resources (`patient`, `category`,
    `code`, `date`), already split: comma-separated values are alternatives; `date` holds
    (prefix, date) pairs that must all hold."""

    patient: str | None = None
    category: tuple[str, ...] = ()
    code: tuple[str, ...] = ()
    date: tuple[tuple[str, dt.date], ...] = ()


def date_matches(value: dt.date | None, conditions: Iterable[tuple[str, dt.date]]) -> bool:
    checks = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "lt": lambda a, b: a < b,
        "gt": lambda a, b: a > b,
        "le": lambda a, b: a <= b,
        "ge": lambda a, b: a >= b,
    }
    conditions = list(conditions)
    if not conditions:
        return True
    if value is None:
        return False
    return all(checks[prefix](value, day) for prefix, day in conditions)


def search_items(actor: Actor, *, resource_type: str, params: SearchParams) -> list[ProfileItem]:
    """FHIR search over the profile items of one resource type, as the actor may see them.
    Without `patient`, a holder searches the spaces they hold or represent."""
    if params.patient is None and actor.kind is not ActorKind.HOLDER:
        raise InvalidInput(
            _("Le paramètre « patient » est obligatoire pour une recherche."), field="patient"
        )
    pid = existing_patient_id(params.patient) if params.patient is not None else None
    if params.patient is not None and pid is None:
        return _unknown_space(actor, Action.PROFILE_ITEM_SEARCH, resource_type)
    details = {"resource_type": resource_type}
    rows = _visible_items(actor, Action.PROFILE_ITEM_SEARCH, pid, details).filter(
        resource_type=resource_type
    )
    if pid is not None:
        rows = rows.filter(patient_id=uuid.UUID(pid))
    found = []
    for item in rows.order_by("-date", "-created_at"):
        resource = item.resource
        if params.code and not item_rules.token_matches(
            resource, item_rules.CODE_PATHS.get(resource_type, ()), params.code
        ):
            continue
        if params.category and not item_rules.token_matches(
            resource, item_rules.CATEGORY_PATHS.get(resource_type, ()), params.category
        ):
            continue
        if not date_matches(item.date, params.date):
            continue
        found.append(item)
    return found


# --- Measures --------------------------------------------------------------------------------


def measure_value(row: Measure) -> MeasureValue:
    """The stored measure as the pure module's value object."""
    at: dt.date | dt.datetime
    at = (
        dt.datetime.fromisoformat(row.effective)
        if "T" in row.effective
        else dt.date.fromisoformat(row.effective)
    )
    original = (
        Quantity(Decimal(row.original_value), row.original_unit) if row.original_value else None
    )
    return MeasureValue(
        key=row.key,
        values={name: Decimal(value) for name, value in row.values.items()},
        unit=row.unit,
        at=at,
        original=original,
        moment=row.moment or None,
        reason=row.reason or None,
    )


def _measure_target(row: Measure | None, patient_id: str | None, key: str) -> Target:
    return Target(
        "Observation",
        resource_id=str(row.pk) if row else "",
        patient_id=patient_id,
        facts={"section": "mesures", "measure": key},
    )


def _fill_measure(row: Measure, value: MeasureValue) -> None:
    row.key = value.key
    row.values = {name: str(number) for name, number in value.values.items()}
    row.unit = value.unit
    row.effective = value.at.isoformat()
    row.effective_at = value.instant
    row.original_value = str(value.original.value) if value.original else ""
    row.original_unit = value.original.unit if value.original else ""
    row.moment = value.moment or ""
    row.reason = value.reason or ""


def _duplicate_measure(patient_id: str, value: MeasureValue, actor: Actor) -> Measure | None:
    """The same measure (kind, instant, values) sent again by the same author."""
    values = {name: str(number) for name, number in value.values.items()}
    for row in Measure.objects.filter(
        patient_id=uuid.UUID(patient_id),
        key=value.key,
        effective=value.at.isoformat(),
        author_id=actor.id,
    ):
        if row.values == values:
            return row
    return None


def _store_measure(
    actor: Actor,
    patient_id: str | None,
    value: MeasureValue,
    *,
    source_uri: str = "",
    device: Mapping[str, Any] | None = None,
    status: str = "final",
) -> tuple[Measure, bool]:
    target = _measure_target(None, patient_id, value.key)
    with gate.change(actor, Action.PROFILE_MEASURE_CREATE, target) as grant:
        if patient_id is None:  # pragma: no cover (the gate refuses a missing space)
            raise NotFound(gate.NOT_FOUND_MESSAGE)
        existing = _duplicate_measure(patient_id, value, actor)
        if existing is not None:
            grant.resource_id = str(existing.pk)
            grant.details = {"measure": value.key, "duplicate": True}
            return existing, False
        now = clock.now()
        source = MeasureSource.DEVICE if device else _MEASURE_SOURCES.get(actor.kind)
        row = Measure(
            patient_id=patient_id,
            source=source or MeasureSource.SYSTEM,
            source_uri=source_uri[:200],
            device=dict(device) if device else None,
            status=status,
            created_at=now,
            updated_at=now,
            **_author_fields(actor),
        )
        _fill_measure(row, value)
        row.save()
        grant.resource_id = str(row.pk)
        grant.details = {"measure": value.key}
    return row, True


def add_measure(
    actor: Actor,
    *,
    patient_id: str,
    key: str,
    value: Any,
    unit: str | None = None,
    at: dt.date | dt.datetime,
    moment: str | None = None,
    reason: str | None = None,
) -> Measure:
    """Record a measure entered in the portal. `value` is a number or French text (`72,5`), a
    mapping `{"systolic", "diastolic"}` for blood pressure. Raises InvalidMeasure (French
    message naming the field), NotFound."""
    checked = measure_rules.validate_measure(key, value, unit, at=at, moment=moment, reason=reason)
    return _store_measure(actor, existing_patient_id(patient_id), checked)[0]


def _source_uri(resource: Mapping[str, Any]) -> str:
    meta = resource.get("meta")
    return str(meta.get("source") or "") if isinstance(meta, Mapping) else ""


def add_measure_from_fhir(actor: Actor, resource: Mapping[str, Any]) -> tuple[Measure, bool]:
    """Store a FHIR Observation of the guide (`POST Observation`). Returns the row and whether
    it was created (False: the same measure was already sent). Raises InvalidMeasure (FHIR path
    in `field`), NotFound."""
    checked = observations.observation_from_fhir(resource)
    patient_id = patient_from_reference(resource.get("subject"))
    status = str(resource.get("status") or "final")
    return _store_measure(
        actor, patient_id, checked, source_uri=_source_uri(resource), status=status
    )


def _measure_or_none(measure_id: object) -> Measure | None:
    try:
        key = uuid.UUID(str(measure_id))
    except ValueError:
        return None
    return Measure.objects.filter(pk=key).first()


def get_measure(actor: Actor, measure_id: str) -> Measure:
    """One measure the actor may read. Raises NotFound."""
    row = _measure_or_none(measure_id)
    if row is None:
        gate.refuse_missing(actor, Action.PROFILE_MEASURE_READ, "Observation", measure_id)
    gate.authorize(
        actor, Action.PROFILE_MEASURE_READ, _measure_target(row, str(row.patient_id), row.key)
    )
    return row


def update_measure_from_fhir(actor: Actor, measure_id: str, resource: Mapping[str, Any]) -> Measure:
    """Correct a measure (FHIR update, status `amended` or `corrected`): same space, same kind
    of measure. Raises InvalidMeasure, NotFound."""
    row = _measure_or_none(measure_id)
    pid = str(row.patient_id) if row else None
    target = _measure_target(row, pid, row.key if row else "")
    if row is None:
        gate.authorize(actor, Action.PROFILE_MEASURE_UPDATE, target)
        raise NotFound(gate.NOT_FOUND_MESSAGE)  # pragma: no cover
    checked = observations.observation_from_fhir(resource)
    with gate.change(actor, Action.PROFILE_MEASURE_UPDATE, target) as grant:
        if patient_from_reference(resource.get("subject")) != pid or checked.key != row.key:
            raise InvalidMeasure(
                _("Une correction ne change ni le patient ni la mesure."),
                field="Observation.subject",
                code="business-rule",
            )
        _fill_measure(row, checked)
        row.status = str(resource.get("status") or "final")
        row.version += 1
        row.updated_at = clock.now()
        row.save()
        grant.details = {"measure": row.key, "version": row.version}
    return row


def delete_measure(actor: Actor, measure_id: str) -> None:
    """Delete a measure of the holder's space (whoever sent it). Raises NotFound."""
    row = _measure_or_none(measure_id)
    target = _measure_target(row, str(row.patient_id) if row else None, row.key if row else "")
    with gate.change(actor, Action.PROFILE_MEASURE_DELETE, target) as grant:
        if row is None:  # pragma: no cover (the gate refuses a missing measure)
            raise NotFound(gate.NOT_FOUND_MESSAGE)
        grant.details = {"measure": row.key, "effective": row.effective}
        row.delete()


def list_measures(actor: Actor, *, patient_id: str | None, key: str | None = None) -> list[Measure]:
    """Measures of a space (one kind, or all), oldest first, as the actor may see them."""
    pid = existing_patient_id(patient_id) if patient_id is not None else None
    if patient_id is None and actor.kind is not ActorKind.HOLDER:
        raise InvalidInput(
            _("Le paramètre « patient » est obligatoire pour une recherche."), field="patient"
        )
    if patient_id is not None and pid is None:
        return _unknown_space(actor, Action.PROFILE_MEASURE_SEARCH, "Observation")
    rows = gate.visible(
        actor,
        Action.PROFILE_MEASURE_SEARCH,
        Measure.objects.all(),
        searched_patient_id=pid,
        details={"measure": key} if key else {},
    )
    if pid is not None:
        rows = rows.filter(patient_id=uuid.UUID(pid))
    if key is not None:
        rows = rows.filter(key=key)
    return list(rows.order_by("effective_at", "created_at"))


def search_measures(actor: Actor, *, params: SearchParams) -> list[Measure]:
    """FHIR search over measures (`category` vital-signs, `code` LOINC, `date`)."""
    rows = list_measures(actor, patient_id=params.patient)
    found = []
    for row in rows:
        resource = measure_to_fhir(row)
        if params.code and not item_rules.token_matches(resource, ("code",), params.code):
            continue
        if params.category and not item_rules.token_matches(
            resource, ("category",), params.category
        ):
            continue
        if not date_matches(measure_value(row).instant.date(), params.date):
            continue
        found.append(row)
    return list(reversed(found))


def measure_to_fhir(row: Measure) -> dict[str, Any]:
    """The measure as an Observation of the guide's profile, with Carnet's id and version."""
    resource = observations.observation_to_fhir(
        measure_value(row), id=str(row.pk), patient_reference=patient_reference(row.patient_id)
    )
    resource["meta"] |= {"versionId": str(row.version), "lastUpdated": row.updated_at.isoformat()}
    if row.source_uri:
        resource["meta"]["source"] = row.source_uri
    resource["status"] = row.status
    if row.device:
        names = row.device.get("deviceName") or [{}]
        label = names[0].get("name") or row.device.get("modelNumber") or _("Appareil de mesure")
        resource["device"] = {"display": str(label)}
    if row.author_kind == AuthorKind.PROFESSIONAL:
        resource["performer"] = [{"display": row.author_label}]
    return resource


# --- The feeding Bundle ----------------------------------------------------------------------


def accept_feeding_bundle(actor: Actor, bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The guide's feeding flow (`mesures-bundle-flux-alimentation`, IHE POU PCH-01): a
    transaction Bundle with one Observation and at most one Device. The measure is stored with
    its device; the answer is the transaction-response Bundle, one entry per request entry.

    Raises InvalidMeasure (Bundle path in `field`), NotFound.
    """
    parsed = observations.parse_feeding_bundle(bundle)
    entries = list(bundle.get("entry") or [])
    obs_index = next(
        i
        for i, e in enumerate(entries)
        if (e.get("resource") or {}).get("resourceType") == "Observation"
    )
    observation = entries[obs_index]["resource"]
    patient_id = patient_from_reference(observation.get("subject"))
    row, created = _store_measure(
        actor,
        patient_id,
        parsed.observation,
        source_uri=_source_uri(observation),
        device=parsed.device.resource if parsed.device else None,
        status=str(observation.get("status") or "final"),
    )
    answers = []
    for entry in entries:
        kind = (entry.get("resource") or {}).get("resourceType")
        if kind == "Observation":
            response = {
                "status": "201 Created" if created else "200 OK",
                "location": f"Observation/{row.pk}/_history/{row.version}",
                "etag": f'W/"{row.version}"',
                "lastModified": row.updated_at.isoformat(),
            }
        else:  # the Device is kept with the measure it took
            response = {"status": "201 Created" if created else "200 OK"}
        answers.append({"response": response})
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "transaction-response",
        "entry": answers,
    }


def is_feeding_bundle(bundle: Mapping[str, Any]) -> bool:
    """Whether a transaction Bundle is for measures (it carries an Observation)."""
    entries = bundle.get("entry")
    return isinstance(entries, list) and any(
        isinstance(entry, Mapping)
        and isinstance(entry.get("resource"), Mapping)
        and entry["resource"].get("resourceType") == "Observation"
        for entry in entries
    )


def section_or_404(slug: str) -> Any:
    section = get_section(slug)
    if section is None:
        raise NotFound(gate.NOT_FOUND_MESSAGE)
    return section


# --- Observations: measures and profile items share the resource type ------------------------


def _is_measure(resource: Mapping[str, Any]) -> bool:
    """An Observation of the measures guide (vital signs, or coded as one of its measures)."""
    if item_rules.token_matches(
        resource,
        ("category",),
        (f"{observations.OBSERVATION_CATEGORY}|{observations.VITAL_SIGNS}",),
    ):
        return True
    return kind_rules.kind_for_resource(resource) is None and any(
        measure_rules.measure_for_loinc(code) is not None
        for system, code in item_rules.codes_of(resource)
        if system in observations.LOINC_SYSTEMS
    )


def read_item_resource(actor: Actor, resource_type: str, item_id: str) -> dict[str, Any]:
    """FHIR read of a profile item of `resource_type`. Raises NotFound."""
    item = get_item(actor, item_id)
    if item.resource_type != resource_type:
        raise NotFound(gate.NOT_FOUND_MESSAGE)
    return item_to_fhir(item)


def read_observation(actor: Actor, observation_id: str) -> dict[str, Any]:
    """FHIR read of an Observation: a measure, or a lifestyle or blood-group item."""
    if _measure_or_none(observation_id) is not None:
        return measure_to_fhir(get_measure(actor, observation_id))
    return read_item_resource(actor, "Observation", observation_id)


def create_observation(
    actor: Actor, resource: Mapping[str, Any]
) -> tuple[dict[str, Any], int, bool]:
    """FHIR create of an Observation. Returns the stored resource, its version and whether it
    was created (a measure sent twice is not stored twice)."""
    if not isinstance(resource, Mapping):
        raise InvalidItem({"Observation": _("Le corps de la requête doit être une Observation.")})
    if _is_measure(resource):
        row, created = add_measure_from_fhir(actor, resource)
        return measure_to_fhir(row), row.version, created
    item = create_item_from_fhir(actor, resource, expected_type="Observation")
    return item_to_fhir(item), item.version, True


def update_observation(
    actor: Actor, observation_id: str, resource: Mapping[str, Any]
) -> tuple[dict[str, Any], int]:
    if _measure_or_none(observation_id) is not None:
        row = update_measure_from_fhir(actor, observation_id, resource)
        return measure_to_fhir(row), row.version
    item = update_item_from_fhir(actor, observation_id, resource, expected_type="Observation")
    return item_to_fhir(item), item.version


def search_observations(actor: Actor, *, params: SearchParams) -> list[dict[str, Any]]:
    """FHIR search over Observations: measures (category vital-signs) and profile items
    (social-history, laboratory), filtered by `code` and `date`."""
    vital = f"{observations.OBSERVATION_CATEGORY}|{observations.VITAL_SIGNS}"
    wants_measures = not params.category or any(
        token in (observations.VITAL_SIGNS, vital, f"{observations.OBSERVATION_CATEGORY}|")
        for token in params.category
    )
    wants_items = not params.category or any(
        token not in (observations.VITAL_SIGNS, vital) for token in params.category
    )
    found: list[dict[str, Any]] = []
    if wants_measures:
        found += [measure_to_fhir(row) for row in search_measures(actor, params=params)]
    if wants_items:
        found += [
            item_to_fhir(item)
            for item in search_items(actor, resource_type="Observation", params=params)
        ]
    return found
