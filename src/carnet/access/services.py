"""Access rights: what the holder controls ("Partage", "Paramètres") and what professionals declare.

Invariants:
- Every function takes the acting `Actor` first and goes through the gate with an `access:*`
  action on the patient's space: the holder (or a legal representative) manages their space's
  rights; a professional declares consent; nobody else does anything.
- Rights are never deleted: removing one sets `ended_at`, unblocking sets `unblocked_at`, so
  the holder's history stays whole; each change is also an audit event (same transaction).
- A block overrides every right (the policy refuses a blocked professional everything); the
  rights themselves are kept, so unblocking restores them.
- There is at most one open right per (space, professional, basis) and one médecin traitant per
  space; designating a new médecin traitant ends the previous designation.
- A professional's declaration of the holder's consent is stored as declared (dated, with its
  channel and the resource received) and opens, or extends, a right that expires.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.access import gate
from carnet.access.actions import Action
from carnet.access.actors import Actor
from carnet.access.models import Basis, Block, CareTeamMember, ConsentDeclaration, SpaceSettings
from carnet.access.policy import Decision, Target
from carnet.core import clock
from carnet.core.errors import Conflict, InvalidInput, NotFound
from carnet.core.identifiers import parse_uuid
from carnet.identity import ins as ins_rules
from carnet.identity import services as identity
from carnet.identity.professions import PROFESSION_MEDECIN, profession

T = TypeVar("T")

DIRECTORY_PAGE_SIZE = 10
MIN_QUERY_LENGTH = 2
# A declared consent without an end date opens a right for a year; no declaration may reach
# further than three years (the holder can remove the right at any time).
DECLARED_CONSENT_DEFAULT = dt.timedelta(days=365)
DECLARED_CONSENT_MAX = dt.timedelta(days=3 * 365)
STATEMENT_MAX = 500


# --- Read models (what views and adapters receive) -----------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    num_pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages


@dataclass(frozen=True)
class ProfessionalCard:
    """A professional as the directory and the holder's lists show them."""

    id: str
    name: str
    rpps: str
    profession_code: str
    profession_label: str
    specialty: str
    organisation_name: str


@dataclass(frozen=True)
class AuthorisationRow:
    id: str
    professional: ProfessionalCard
    basis: str
    basis_label: str
    since: dt.datetime
    until: dt.datetime | None
    expired: bool
    extended_rights: bool
    blocked: bool
    declared_at: dt.datetime | None = None
    declared_channel: str = ""


@dataclass(frozen=True)
class BlockRow:
    id: str
    professional: ProfessionalCard
    since: dt.datetime


@dataclass(frozen=True)
class Sharing:
    authorisations: list[AuthorisationRow]
    blocks: list[BlockRow]


@dataclass(frozen=True)
class AccessSettings:
    break_glass_opposed: bool = False
    centre_15_opposed: bool = False
    mask_all: bool = False


@dataclass(frozen=True)
class DeclaredConsent:
    id: str
    patient_id: str
    professional_id: str
    declared_at: dt.datetime
    period_start: dt.datetime
    period_end: dt.datetime
    statement: str
    matricule: str
    oid: str


@dataclass(frozen=True)
class PatientAccess:
    """What a professional may know of a space they asked about by INS (DMP TD0.2)."""

    holder: Any  # identity.models.Holder (adapters may not import models)
    decision: Decision


# --- The professional directory --------------------------------------------------------------


def search_directory(actor: Actor, *, query: str, page: int = 1) -> Page[ProfessionalCard]:
    """Professionals matching a name, an RPPS or a profession, paged. The directory is public
    (Annuaire Santé) and holds no patient data, so this needs no gate; it does need a query,
    so the whole directory is never listed. Raises InvalidInput for a too short query."""
    query = " ".join(query.split())[:100]
    if len(query) < MIN_QUERY_LENGTH:
        raise InvalidInput(
            _("Saisissez au moins %(n)d caractères : nom, RPPS ou profession.")
            % {"n": MIN_QUERY_LENGTH},
            field="q",
        )
    return _page(identity.search_professionals(query), page, DIRECTORY_PAGE_SIZE, _card)


def _page(rows: QuerySet[Any], number: int, size: int, convert: Any) -> Page[Any]:
    paginator = Paginator(rows, size)
    current = paginator.get_page(number)
    return Page(
        items=[convert(row) for row in current.object_list],
        number=current.number,
        num_pages=paginator.num_pages,
        total=paginator.count,
    )


def _card(professional: Any) -> ProfessionalCard:
    known = profession(professional.profession_code)
    organisation = professional.organisation
    return ProfessionalCard(
        id=str(professional.pk),
        name=f"{professional.given_name} {professional.family_name}".strip(),
        rpps=professional.rpps,
        profession_code=professional.profession_code,
        profession_label=known.display if known else professional.profession_code,
        specialty=professional.specialty_code,
        organisation_name=organisation.name if organisation else "",
    )


def _professional(professional_id: str) -> Any:
    found = identity.professional_by_id(professional_id)
    if found is None:
        raise InvalidInput(_("Professionnel introuvable dans l'annuaire."), field="professional")
    return found


# --- The holder's "Partage" -------------------------------------------------------------------


def _space(patient_id: str, resource_type: str, resource_id: str = "") -> Target:
    return Target(resource_type, resource_id=resource_id, patient_id=_known_patient(patient_id))


def _key(patient_id: str) -> uuid.UUID:
    """The patient key of a space the gate already let the actor act on (so well formed)."""
    return uuid.UUID(str(patient_id))


def _known_patient(patient_id: str) -> str | None:
    """The patient key if such a space exists, else None (the gate then refuses: not found)."""
    return str(patient_id) if identity.space_is_open(str(patient_id)) is not None else None


def sharing_overview(actor: Actor, *, patient_id: str) -> Sharing:
    """The professionals with a right to the space (valid or expired, not removed) and the blocked
    ones, for "Professionnels autorisés". Raises NotFound."""
    gate.authorize(actor, Action.ACCESS_AUTHORISATION_SEARCH, _space(patient_id, "CareTeam"))
    now = clock.now()
    blocks = list(
        Block.objects.filter(patient_id=_key(patient_id), unblocked_at__isnull=True)
        .select_related("professional__organisation")
        .order_by("-blocked_at")
    )
    blocked = {b.professional_id for b in blocks}
    rights = (
        CareTeamMember.objects.filter(patient_id=_key(patient_id), ended_at__isnull=True)
        .select_related("professional__organisation", "declaration")
        .order_by("professional__family_name", "professional__given_name", "basis")
    )
    return Sharing(
        authorisations=[_authorisation_row(r, now, r.professional_id in blocked) for r in rights],
        blocks=[BlockRow(str(b.pk), _card(b.professional), b.blocked_at) for b in blocks],
    )


def _authorisation_row(right: CareTeamMember, now: dt.datetime, blocked: bool) -> AuthorisationRow:
    declaration = right.declaration
    return AuthorisationRow(
        id=str(right.pk),
        professional=_card(right.professional),
        basis=right.basis,
        basis_label=str(Basis(right.basis).label),
        since=right.started_at,
        until=right.expires_at,
        expired=right.expires_at is not None and right.expires_at <= now,
        extended_rights=right.extended_rights,
        blocked=blocked,
        declared_at=declaration.declared_at if declaration else None,
        declared_channel=declaration.channel if declaration else "",
    )


def authorise_professional(
    actor: Actor,
    *,
    patient_id: str,
    professional_id: str,
    until: dt.date | None = None,
    extended_rights: bool = False,
    medecin_traitant: bool = False,
) -> AuthorisationRow:
    """The holder authorises a professional to read their space (the matrix still applies), until
    a date or until removed; `medecin_traitant` designates their médecin traitant (a médecin),
    replacing the previous one. Authorising again updates the existing right.

    Raises NotFound, InvalidInput (unknown professional, past date, médecin traitant who is not a
    médecin), Conflict (the professional is blocked: unblock first).
    """
    target = _space(patient_id, "CareTeam", str(professional_id)[:100])
    now = clock.now()
    expires = _end_of_day(until) if until else None
    with gate.change(actor, Action.ACCESS_AUTHORISATION_CREATE, target) as grant:
        professional = _professional(professional_id)
        if expires is not None and expires <= now:
            raise InvalidInput(_("La date de fin doit être dans le futur."), field="until")
        if medecin_traitant and professional.profession_code != PROFESSION_MEDECIN:
            raise InvalidInput(
                _("Seul un médecin peut être désigné comme médecin traitant."),
                field="medecin_traitant",
            )
        if Block.objects.filter(
            patient_id=_key(patient_id), professional=professional, unblocked_at__isnull=True
        ).exists():
            raise Conflict(
                _("Ce professionnel est bloqué : débloquez-le avant de l'autoriser."),
                code="blocked",
            )
        basis = Basis.MEDECIN_TRAITANT if medecin_traitant else Basis.AUTHORISED
        if basis is Basis.MEDECIN_TRAITANT:
            CareTeamMember.objects.filter(
                patient_id=_key(patient_id), basis=basis, ended_at__isnull=True
            ).exclude(professional=professional).update(ended_at=now)
        right = _open_right(patient_id, professional, basis, actor, now)
        right.expires_at = expires
        right.extended_rights = extended_rights
        right.save(update_fields=["expires_at", "extended_rights", "started_at"])
        grant.resource_id = str(right.pk)
        grant.details = {
            "professional": str(professional.pk),
            "basis": basis.value,
            "until": expires.isoformat() if expires else "",
            "extended_rights": extended_rights,
        }
    return _authorisation_row(right, now, blocked=False)


def _end_of_day(day: dt.date) -> dt.datetime:
    """The right lasts until the end of the chosen day, in the holder's time zone."""
    from django.utils import timezone

    return timezone.make_aware(dt.datetime.combine(day, dt.time.max))


def _open_right(
    patient_id: str, professional: Any, basis: Basis, actor: Actor, now: dt.datetime
) -> CareTeamMember:
    """The open right for this basis, renewed from now if it had expired, or a new one."""
    right = CareTeamMember.objects.filter(
        patient_id=_key(patient_id), professional=professional, basis=basis, ended_at__isnull=True
    ).first()
    if right is None:
        return CareTeamMember.objects.create(
            patient_id=_key(patient_id),
            professional=professional,
            basis=basis,
            started_at=now,
            created_by_kind=actor.kind.value,
            created_by_id=actor.id,
        )
    if right.expires_at is not None and right.expires_at <= now:
        right.started_at = now
    return right


def _right_of(patient_id: str, authorisation_id: str) -> CareTeamMember:
    key = parse_uuid(authorisation_id)
    right = (
        CareTeamMember.objects.filter(
            pk=key, patient_id=_key(patient_id), ended_at__isnull=True
        ).first()
        if key is not None
        else None
    )
    if right is None:
        raise Conflict(_("Cette autorisation n'existe pas ou a déjà été retirée."))
    return right


def revoke_authorisation(actor: Actor, *, patient_id: str, authorisation_id: str) -> None:
    """The holder removes a right (any basis, including a declared consent). Raises NotFound
    (not the actor's space), Conflict (no such right, or already removed)."""
    target = _space(patient_id, "CareTeam", str(authorisation_id)[:100])
    with gate.change(actor, Action.ACCESS_AUTHORISATION_DELETE, target) as grant:
        right = _right_of(patient_id, authorisation_id)
        right.ended_at = clock.now()
        right.save(update_fields=["ended_at"])
        grant.details = {"professional": str(right.professional_id), "basis": right.basis}


def set_extended_rights(
    actor: Actor, *, patient_id: str, authorisation_id: str, enabled: bool
) -> None:
    """The holder gives (or takes back) a professional the médecin traitant's reach over masked
    documents. Raises NotFound, Conflict (no such right)."""
    target = _space(patient_id, "CareTeam", str(authorisation_id)[:100])
    with gate.change(actor, Action.ACCESS_AUTHORISATION_UPDATE, target) as grant:
        right = _right_of(patient_id, authorisation_id)
        old = right.extended_rights
        right.extended_rights = enabled
        right.save(update_fields=["extended_rights"])
        grant.details = {
            "professional": str(right.professional_id),
            "extended_rights": {"old": old, "new": enabled},
        }


def block_professional(actor: Actor, *, patient_id: str, professional_id: str) -> BlockRow:
    """The holder blocks a professional: refused everything, whatever their other rights, until
    unblocked. Blocking twice keeps the first block. Raises NotFound, InvalidInput."""
    target = _space(patient_id, "Block", str(professional_id)[:100])
    with gate.change(actor, Action.ACCESS_BLOCK_CREATE, target) as grant:
        professional = _professional(professional_id)
        block = Block.objects.filter(
            patient_id=_key(patient_id), professional=professional, unblocked_at__isnull=True
        ).first() or Block.objects.create(
            patient_id=_key(patient_id), professional=professional, blocked_at=clock.now()
        )
        grant.resource_id = str(block.pk)
        grant.details = {"professional": str(professional.pk)}
    return BlockRow(str(block.pk), _card(professional), block.blocked_at)


def unblock_professional(actor: Actor, *, patient_id: str, block_id: str) -> None:
    """The holder lifts a block; the professional's earlier rights apply again. Raises NotFound,
    Conflict (no such block, or already lifted)."""
    target = _space(patient_id, "Block", str(block_id)[:100])
    with gate.change(actor, Action.ACCESS_BLOCK_DELETE, target) as grant:
        key = parse_uuid(block_id)
        block = (
            Block.objects.filter(
                pk=key, patient_id=_key(patient_id), unblocked_at__isnull=True
            ).first()
            if key is not None
            else None
        )
        if block is None:
            raise Conflict(_("Ce blocage n'existe pas ou a déjà été levé."))
        block.unblocked_at = clock.now()
        block.save(update_fields=["unblocked_at"])
        grant.details = {"professional": str(block.professional_id)}


# --- The holder's "Paramètres" ----------------------------------------------------------------


def access_settings(actor: Actor, *, patient_id: str) -> AccessSettings:
    """The holder's emergency oppositions and "mask everything" choice. Raises NotFound."""
    gate.authorize(actor, Action.ACCESS_SETTINGS_READ, _space(patient_id, "SpaceSettings"))
    return _settings_of(patient_id)


def _settings_of(patient_id: str) -> AccessSettings:
    row = SpaceSettings.objects.filter(patient_id=_key(patient_id)).first()
    if row is None:
        return AccessSettings()
    return AccessSettings(row.break_glass_opposed, row.centre_15_opposed, row.mask_all)


def update_access_settings(
    actor: Actor,
    *,
    patient_id: str,
    break_glass_opposed: bool,
    centre_15_opposed: bool,
    mask_all: bool,
) -> AccessSettings:
    """Set the holder's oppositions to emergency access (bris de glace, centre 15) and whether
    every document is masked, including in emergencies. The old and new values are traced.
    Raises NotFound."""
    new = AccessSettings(break_glass_opposed, centre_15_opposed, mask_all)
    with gate.change(
        actor, Action.ACCESS_SETTINGS_UPDATE, _space(patient_id, "SpaceSettings")
    ) as grant:
        old = _settings_of(patient_id)
        SpaceSettings.objects.update_or_create(
            patient_id=_key(patient_id),
            defaults={
                "break_glass_opposed": break_glass_opposed,
                "centre_15_opposed": centre_15_opposed,
                "mask_all": mask_all,
                "updated_at": clock.now(),
            },
        )
        grant.details = {
            name: {"old": getattr(old, name), "new": getattr(new, name)}
            for name in ("break_glass_opposed", "centre_15_opposed", "mask_all")
            if getattr(old, name) != getattr(new, name)
        }
    return new


# --- Professionals: consent declared during care, and "may I access this space?" ---------------


def declare_consent(
    actor: Actor,
    *,
    matricule: str,
    oid: str,
    period_start: dt.datetime | None = None,
    period_end: dt.datetime | None = None,
    statement: str = "",
    source: dict[str, Any] | None = None,
) -> DeclaredConsent:
    """A professional declares that the holder consented, during care, to their access
    (CSP L1111-17). The declaration is stored as made and opens (or extends) a right of basis
    "consentement déclaré" until `period_end` (default: a year). A blocked professional is refused
    even with the holder's consent.

    Raises InvalidInput (INS, period, statement), NotFound (no open space for this INS),
    AccessDenied (blocked; not a professional).
    """
    ins = ins_rules.parse_ins(matricule, oid, accept_fictitious=ins_rules.accept_fictitious_ins())
    now = clock.now()
    start, end = _consent_period(period_start, period_end, now)
    statement = " ".join(statement.split())
    if len(statement) > STATEMENT_MAX:
        raise InvalidInput(
            _("La déclaration dépasse %(n)d caractères.") % {"n": STATEMENT_MAX},
            field="statement",
        )
    holder = identity.holder_for_ins(ins.matricule, ins.oid)
    patient_id = str(holder.pk) if holder is not None else None
    target = Target("Consent", patient_id=patient_id)
    with gate.change(actor, Action.ACCESS_CONSENT_CREATE, target) as grant:
        professional = identity.professional_by_id(actor.id)
        if professional is None or patient_id is None:  # the gate refused both already
            raise NotFound(gate.NOT_FOUND_MESSAGE)  # pragma: no cover
        declaration = ConsentDeclaration.objects.create(
            patient_id=_key(patient_id),
            professional=professional,
            declared_at=now,
            period_start=start,
            period_end=end,
            channel=actor.channel or "api",
            organisation=actor.organisation[:20],
            organisation_name=actor.organisation_name[:200],
            statement=statement,
            source=source or {},
        )
        right = _open_right(patient_id, professional, Basis.DECLARED_CONSENT, actor, now)
        if right.expires_at is None or right.expires_at < end:
            right.expires_at = end
        right.declaration = declaration
        right.save(update_fields=["expires_at", "declaration", "started_at"])
        grant.resource_id = str(declaration.pk)
        grant.details = {"period_start": start.isoformat(), "period_end": end.isoformat()}
    return DeclaredConsent(
        id=str(declaration.pk),
        patient_id=patient_id,
        professional_id=str(professional.pk),
        declared_at=now,
        period_start=start,
        period_end=end,
        statement=statement,
        matricule=ins.matricule,
        oid=ins.oid,
    )


def _consent_period(
    start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    start = start or now
    end = end or start + DECLARED_CONSENT_DEFAULT
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput(_("Les dates doivent préciser leur fuseau horaire."), field="period")
    if start > now + dt.timedelta(days=1):
        raise InvalidInput(
            _("Le consentement ne peut pas commencer dans le futur."), field="period.start"
        )
    if end <= max(start, now):
        raise InvalidInput(_("La fin de la période doit être dans le futur."), field="period.end")
    if end - start > DECLARED_CONSENT_MAX:
        raise InvalidInput(
            _("Un consentement déclaré vaut au plus trois ans : renouvelez-le ensuite."),
            field="period.end",
        )
    return start, end


def patient_access(actor: Actor, *, matricule: str, oid: str) -> PatientAccess | None:
    """Does this INS have a space, and may the actor use it? (DMP TD0.2.) The answer is only
    what the policy allows: None when the space is unknown or the actor may not know of it;
    AccessDenied when the refusal is one the actor may be told (blocked, emergency opposed).

    Raises InvalidInput (malformed INS), AccessDenied.
    """
    ins = ins_rules.parse_ins(matricule, oid, accept_fictitious=ins_rules.accept_fictitious_ins())
    holder = identity.holder_for_ins(ins.matricule, ins.oid)
    target = Target(
        "Patient",
        resource_id=str(holder.pk) if holder else "",
        patient_id=str(holder.pk) if holder else None,
    )
    try:
        grant = gate.authorize(actor, Action.IDENTITY_PATIENT_READ, target)
    except NotFound:
        return None
    return PatientAccess(holder=holder, decision=grant.decision)
