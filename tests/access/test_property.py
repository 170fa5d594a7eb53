"""Property-based: random spaces, documents, labels and actors, checked against an independent
reference implementation of the access rules written here from the spec
(Carnet's product rules and the CSP rules summarised in `docs/standards/access-matrix.md`), not
from the policy's code.

- `test_reads_and_searches_through_the_gate_agree_with_the_reference`: real `DocumentEntry` rows
  (bulk-created), real care-team, block and settings rows, the real gate. For each actor, every
  read (`authorize`) and one search (`visible`) over the whole table: the search returns exactly
  the documents of the searched space the reference lets them read, its count says the same, and
  paging through it never shows anything else; no read succeeds that the reference refuses, and
  what may be told (a blocked professional) is told.
- `test_the_pure_decision_and_its_list_filter_agree_with_the_reference`: thousands of pure cases,
  `decide` and `scope` (evaluated here on the document) against the same reference.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import itertools
import uuid
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.access import gate, matrix, policy
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.access.errors import AccessDenied
from carnet.access.models import Basis, Block, CareTeamMember, SpaceSettings
from carnet.core import clock
from carnet.core.errors import NotFound
from carnet.documents.models import DocumentEntry
from carnet.identity.models import Holder, Organisation
from carnet.identity.services import actor_for_professional, actor_for_user
from tests.factories import make_professional

# --- The reference matrix: read straight from the CSV, keyed the way the spec says ----------------

_MATRIX_PATH = matrix.__file__.rsplit("/", 1)[0] + "/data/matrix.csv"
with open(_MATRIX_PATH, encoding="utf-8") as _handle:
    _ROWS = list(csv.DictReader(_handle))
REFERENCE_MATRIX = {
    (column, row["type_code"]): row[column] in {"O", "O?"}
    for row in _ROWS
    for column in row
    if column not in {"type_code", "class_code", "display", "sources", "inference"}
}
# Footnote (b) of the matrix: officine and établissement sections on one side, biologists on the
# other, the other sections without access.
REFERENCE_SECTIONS = {
    "A": "21/officine",
    "D": "21/officine",
    "H": "21/officine",
    "G": "21/biologiste",
}
TYPES = sorted({row["type_code"] for row in _ROWS})
SAMPLE_TYPES = [*TYPES[::7], "68599-0", "DOCPAT03", "ATTEST-RESID", "INCONNU-99"]


def reference_matrix(profession: str, section: str, type_code: str) -> bool:
    column = REFERENCE_SECTIONS.get(section) if profession == "21" else profession
    return bool(column) and REFERENCE_MATRIX.get((column, type_code), False)


# --- The world -----------------------------------------------------------------------------------

ORGS = ("1750000001", "1750000002")
# (profession, pharmacist section, organisation index or None)
PROFESSIONALS = (
    ("10", "", 0),
    ("10", "", 1),
    ("60", "", 0),
    ("21", "A", 1),
    ("21", "G", None),
    ("21", "B", 0),
    ("40", "", None),
    ("35", "", 1),  # aide-soignant: no column in the matrix
)
PURPOSES = (PurposeOfUse.NORMAL, PurposeOfUse.BREAK_GLASS, PurposeOfUse.CENTRE_15)


@dataclasses.dataclass(frozen=True)
class Right:
    basis: str
    expired: bool
    extended: bool


@dataclasses.dataclass(frozen=True)
class Space:
    status: str
    break_glass_opposed: bool
    centre_15_opposed: bool
    mask_all: bool
    rights: tuple[tuple[Right, ...], ...]  # per professional of the pool
    blocked: frozenset[int]


@dataclasses.dataclass(frozen=True)
class Doc:
    space: str  # "patient" (the searched one), "minor", "other"
    type_code: str
    masked: bool
    invisible_to_patient: bool
    invisible_until: str  # "none", "past", "future"
    invisible_to_representatives: bool
    author: int | None
    author_organisation: int | None
    status: str


@dataclasses.dataclass(frozen=True)
class Who:
    kind: str  # "holder", "parent", "professional"
    professional: int = 0
    purpose: PurposeOfUse = PurposeOfUse.NORMAL
    reason: str = ""


rights = st.lists(
    st.builds(
        Right,
        basis=st.sampled_from([b.value for b in Basis]),
        expired=st.booleans(),
        extended=st.booleans(),
    ),
    max_size=2,
    unique_by=lambda r: r.basis,
).map(tuple)


def _one_medecin_traitant(space: Space) -> Space:
    """A space has at most one médecin traitant: later designations are dropped."""
    seen = False
    kept = []
    for held in space.rights:
        if any(r.basis == "medecin_traitant" for r in held):
            if seen:
                held = tuple(r for r in held if r.basis != "medecin_traitant")
            seen = True
        kept.append(held)
    return dataclasses.replace(space, rights=tuple(kept))


spaces = st.builds(
    Space,
    status=st.sampled_from(["active", "active", "created", "closed", "opposed"]),
    break_glass_opposed=st.booleans(),
    centre_15_opposed=st.booleans(),
    mask_all=st.booleans(),
    rights=st.dictionaries(st.integers(0, len(PROFESSIONALS) - 1), rights, max_size=3).map(
        lambda held: tuple(held.get(index, ()) for index in range(len(PROFESSIONALS)))
    ),
    blocked=st.frozensets(st.integers(0, len(PROFESSIONALS) - 1), max_size=2),
).map(_one_medecin_traitant)
# Every space but the searched one: open, no right, no opposition, no block.
OTHER_SPACE = Space("active", False, False, False, tuple(() for _ in PROFESSIONALS), frozenset())
docs = st.builds(
    Doc,
    space=st.sampled_from(["patient", "patient", "patient", "minor", "other"]),
    type_code=st.sampled_from(SAMPLE_TYPES),
    masked=st.booleans(),
    invisible_to_patient=st.booleans(),
    invisible_until=st.sampled_from(["none", "past", "future"]),
    invisible_to_representatives=st.booleans(),
    author=st.none() | st.integers(0, len(PROFESSIONALS) - 1),
    author_organisation=st.none() | st.integers(0, len(ORGS) - 1),
    status=st.sampled_from(["current", "current", "superseded", "entered-in-error"]),
)
whos = st.one_of(
    st.just(Who("holder")),
    st.just(Who("parent")),
    st.builds(
        Who,
        kind=st.just("professional"),
        professional=st.integers(0, len(PROFESSIONALS) - 1),
        purpose=st.sampled_from(PURPOSES),
        reason=st.sampled_from(["", "  ", "arrêt cardio-respiratoire"]),
    ),
)


# --- The reference implementation --------------------------------------------------------------


def _valid_rights(space: Space, professional: int) -> list[Right]:
    return [r for r in space.rights[professional] if not r.expired]


def reference_read(who: Who, doc: Doc, space: Space) -> bool:
    """May `who` read `doc` (in `space` when it is the searched one)? Written from the spec."""
    if doc.status == "entered-in-error":
        return False
    if who.kind in {"holder", "parent"}:
        mine = {"holder": {"patient"}, "parent": {"minor"}}[who.kind]
        if doc.space not in mine:
            return False
        if doc.invisible_to_patient and doc.invisible_until != "past":
            return False
        return not (who.kind == "parent" and doc.invisible_to_representatives)
    profession, section, organisation = PROFESSIONALS[who.professional]
    if doc.space != "patient":
        space = OTHER_SPACE
    if space.status not in {"active", "created"} or who.professional in space.blocked:
        return False
    if doc.author == who.professional:
        return True
    valid = _valid_rights(space, who.professional)
    if who.purpose is PurposeOfUse.BREAK_GLASS:
        if not who.reason.strip() or space.break_glass_opposed:
            return False
    elif who.purpose is PurposeOfUse.CENTRE_15:
        if profession != "10" or space.centre_15_opposed:
            return False
    elif not valid:
        return False
    trusted = any(r.basis == "medecin_traitant" or r.extended for r in valid)
    same_org = organisation is not None and doc.author_organisation == organisation
    if (doc.masked or space.mask_all) and not (trusted or same_org):
        return False
    return reference_matrix(profession, section, doc.type_code)


def reference_search_refused_and_told(who: Who, space: Space) -> bool:
    """A search the professional is told they may not make (blocked, or an emergency refused)."""
    if who.kind != "professional" or space.status not in {"active", "created"}:
        return False
    if who.professional in space.blocked:
        return True
    profession = PROFESSIONALS[who.professional][0]
    if who.purpose is PurposeOfUse.BREAK_GLASS:
        return not who.reason.strip() or space.break_glass_opposed
    if who.purpose is PurposeOfUse.CENTRE_15:
        return profession != "10" or space.centre_15_opposed
    return False


# --- Database rows for one example ----------------------------------------------------------------


@pytest.fixture
def pool(personas):
    organisations = [
        Organisation.objects.create(idnst=idnst, name=f"Structure {n}")
        for n, idnst in enumerate(ORGS)
    ]
    professionals = [
        make_professional(
            code,
            pharmacist_section=section,
            organisation=organisations[org] if org is not None else None,
        )
        for code, section, org in PROFESSIONALS
    ]
    return {
        "personas": personas,
        "professionals": professionals,
        "spaces": {
            "patient": personas.patient,
            "minor": personas.minor,
            "other": personas.other_patient,
        },
    }


_serial = itertools.count()


def _store(pool: dict[str, Any], space: Space, documents: list[Doc]) -> list[DocumentEntry]:
    now = clock.now()
    patient = pool["spaces"]["patient"]
    professionals = pool["professionals"]
    DocumentEntry.objects.all().delete()
    CareTeamMember.objects.all().delete()
    Block.objects.all().delete()
    Holder.objects.filter(pk=patient.pk).update(space_status=space.status)
    SpaceSettings.objects.update_or_create(
        patient=patient,
        defaults={
            "break_glass_opposed": space.break_glass_opposed,
            "centre_15_opposed": space.centre_15_opposed,
            "mask_all": space.mask_all,
            "updated_at": now,
        },
    )
    CareTeamMember.objects.bulk_create(
        CareTeamMember(
            patient=patient,
            professional=professionals[index],
            basis=right.basis,
            extended_rights=right.extended,
            started_at=now - dt.timedelta(days=30),
            expires_at=now - dt.timedelta(days=1) if right.expired else now + dt.timedelta(days=1),
            created_by_kind="holder",
            created_by_id="test",
        )
        for index, held in enumerate(space.rights)
        for right in held
    )
    Block.objects.bulk_create(
        Block(patient=patient, professional=professionals[index], blocked_at=now)
        for index in space.blocked
    )
    until = {"none": None, "past": now - dt.timedelta(days=1), "future": now + dt.timedelta(days=1)}
    return DocumentEntry.objects.bulk_create(
        _entry(
            pool["spaces"][doc.space],
            doc,
            author=professionals[doc.author] if doc.author is not None else None,
            until=until[doc.invisible_until],
            now=now,
        )
        for doc in documents
    )


def _entry(holder: Holder, doc: Doc, *, author: Any, until: Any, now: dt.datetime) -> DocumentEntry:
    serial = next(_serial)
    digest = hashlib.sha256(str(serial).encode()).hexdigest()
    return DocumentEntry(
        id=uuid.uuid4(),
        patient=holder,
        unique_id=f"urn:oid:1.2.3.{serial}",
        status=doc.status,
        type_code=doc.type_code,
        type_system="http://loinc.org",
        type_display=doc.type_code,
        class_code="10",
        holder_category="comptes-rendus",
        dmp_space="sante",
        title=f"Document {serial}",
        created_at_source=now,
        format_code="urn:ihe:iti:xds-sd:pdf:2008",
        mime_type="application/pdf",
        size=1,
        sha1=digest[:40],
        sha256=digest,
        content_key=f"test/{serial}",
        facility_type="SA07",
        practice_setting="AMBULATOIRE",
        author_professional=author,
        author_organisation=ORGS[doc.author_organisation]
        if doc.author_organisation is not None
        else "",
        masked=doc.masked,
        invisible_to_patient=doc.invisible_to_patient,
        invisible_until=until,
        invisible_to_representatives=doc.invisible_to_representatives,
        depositor_kind="professional",
        depositor_id="test",
        deposited_at=now,
        updated_at=now,
    )


def _actor(pool: dict[str, Any], who: Who) -> Actor:
    personas = pool["personas"]
    if who.kind == "holder":
        return actor_for_user(personas.patient.user)
    if who.kind == "parent":
        return actor_for_user(personas.parent)
    return actor_for_professional(
        pool["professionals"][who.professional],
        channel="api",
        purpose=who.purpose,
        emergency_reason=who.reason,
    )


def _facts(entry: DocumentEntry) -> policy.DocumentFacts:
    return policy.DocumentFacts(
        type_code=entry.type_code,
        class_code=entry.class_code,
        masked=entry.masked,
        invisible_to_patient=entry.invisible_to_patient,
        invisible_until=entry.invisible_until,
        invisible_to_representatives=entry.invisible_to_representatives,
        author_professional_id=str(entry.author_professional_id or ""),
        author_organisation=entry.author_organisation,
        status=entry.status,
    )


def _pages(rows: Any, size: int) -> Iterable[list[Any]]:
    total = rows.count()
    for start in range(0, total + size, size):
        yield list(rows.order_by("pk").values_list("pk", flat=True)[start : start + size])


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(
    space=spaces,
    documents=st.lists(docs, max_size=8),
    actors=st.lists(whos, min_size=1, max_size=4),
)
def test_reads_and_searches_through_the_gate_agree_with_the_reference(
    pool, space, documents, actors
):
    entries = _store(pool, space, documents)
    searched = str(pool["spaces"]["patient"].pk)
    everything = DocumentEntry.objects.all()
    for who in actors:
        actor = _actor(pool, who)
        expected = {
            entry.pk
            for entry, doc in zip(entries, documents, strict=True)
            if doc.space == "patient" and reference_read(who, doc, space)
        }
        # Searches: exactly the expected rows, the same count, and paging shows nothing more.
        if reference_search_refused_and_told(who, space):
            with pytest.raises(AccessDenied):
                gate.visible(
                    actor,
                    Action.DOCUMENTS_DOCUMENT_SEARCH,
                    everything,
                    searched_patient_id=searched,
                )
        else:
            found = gate.visible(
                actor, Action.DOCUMENTS_DOCUMENT_SEARCH, everything, searched_patient_id=searched
            )
            assert set(found.values_list("pk", flat=True)) == expected, who
            assert found.count() == len(expected)
            paged = [pk for page in _pages(found, 3) for pk in page]
            assert len(paged) == len(set(paged)) == len(expected)
            assert set(paged) == expected
        # Reads: every document, in any space, through `authorize`.
        for entry, doc in zip(entries, documents, strict=True):
            target = policy.Target(
                "DocumentReference",
                resource_id=str(entry.pk),
                patient_id=str(entry.patient_id),
                document=_facts(entry),
            )
            allowed = reference_read(who, doc, space)
            try:
                grant = gate.authorize(actor, Action.DOCUMENTS_DOCUMENT_READ, target)
            except AccessDenied:
                assert not allowed, (who, doc)
                assert who.kind == "professional"
            except NotFound:
                assert not allowed, (who, doc)
                blocked = (
                    who.kind == "professional"
                    and doc.space == "patient"
                    and who.professional in space.blocked
                    and space.status in {"active", "created"}
                )
                assert not blocked, "a blocked professional is told, not shown a 404"
            else:
                assert allowed, (who, doc, grant.decision)


# --- The pure decision against the reference, thousands of times ----------------------------------

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _relation(space: Space, professional: int) -> policy.Relation:
    valid = _valid_rights(space, professional)
    bases = {r.basis for r in valid}
    return policy.Relation(
        space_open=space.status in {"active", "created"},
        blocked=professional in space.blocked,
        medecin_traitant="medecin_traitant" in bases,
        extended_rights=any(r.extended for r in valid),
        care_team=bool(valid),
        care_team_basis=next(
            (b for b in ("medecin_traitant", "autorise", "consentement_declare") if b in bases), ""
        ),
        right_expired=not valid and bool(space.rights[professional]),
        break_glass_opposed=space.break_glass_opposed,
        centre_15_opposed=space.centre_15_opposed,
        mask_all=space.mask_all,
    )


def _pure_facts(doc: Doc) -> policy.DocumentFacts:
    until = {"none": None, "past": NOW - dt.timedelta(days=1), "future": NOW + dt.timedelta(days=1)}
    return policy.DocumentFacts(
        type_code=doc.type_code,
        class_code="10",
        masked=doc.masked,
        invisible_to_patient=doc.invisible_to_patient,
        invisible_until=until[doc.invisible_until],
        invisible_to_representatives=doc.invisible_to_representatives,
        author_professional_id=f"pro-{doc.author}" if doc.author is not None else "",
        author_organisation=ORGS[doc.author_organisation]
        if doc.author_organisation is not None
        else "",
        status=doc.status,
    )


def _pure_actor(who: Who) -> Actor:
    if who.kind == "holder":
        return Actor(kind=ActorKind.HOLDER, id="h", own_patient_ids=frozenset({"patient"}))
    if who.kind == "parent":
        return Actor(
            kind=ActorKind.HOLDER,
            id="p",
            own_patient_ids=frozenset({"parent"}),
            represented_patient_ids=frozenset({"minor"}),
        )
    profession, section, organisation = PROFESSIONALS[who.professional]
    return Actor(
        kind=ActorKind.PROFESSIONAL,
        id=f"pro-{who.professional}",
        profession=profession,
        pharmacist_section=section,
        organisation=ORGS[organisation] if organisation is not None else "",
        purpose_of_use=who.purpose,
        emergency_reason=who.reason,
    )


def matches(rows: policy.Filter, row: dict[str, Any]) -> bool:
    """Evaluate a policy filter on one document, as SQL would (NULL never compares true)."""
    if rows is True or rows is False:
        return rows
    if isinstance(rows, policy.And):
        return all(matches(part, row) for part in rows.parts)
    if isinstance(rows, policy.Or):
        return any(matches(part, row) for part in rows.parts)
    value = row[rows.name]
    if value is None:
        return False
    if rows.op == "eq":
        return value == rows.value
    if rows.op == "in":
        return value in rows.value
    return value <= rows.value  # lte


@settings(max_examples=2000, deadline=None, database=None)
@given(space=spaces, doc=docs, who=whos)
def test_the_pure_decision_and_its_list_filter_agree_with_the_reference(space, doc, who):
    actor = _pure_actor(who)
    facts = _pure_facts(doc)
    patient = {"patient": "patient", "minor": "minor", "other": "other"}[doc.space]
    relation = _relation(space, who.professional) if who.kind == "professional" else None
    if who.kind == "professional" and doc.space != "patient":
        relation = _relation(OTHER_SPACE, who.professional)
    target = policy.Target(
        "DocumentReference", "d", patient_id=patient, relation=relation, document=facts, now=NOW
    )
    decision = policy.decide(actor, Action.DOCUMENTS_DOCUMENT_READ, target)
    assert decision.allowed is reference_read(who, doc, space), (who, doc, decision)
    # The list filter of the same space shows the document exactly when it may be read.
    row = {
        "patient": patient,
        "status": facts.status,
        "type_code": facts.type_code,
        "masked": facts.masked,
        "invisible_to_patient": facts.invisible_to_patient,
        "invisible_until": facts.invisible_until,
        "invisible_to_representatives": facts.invisible_to_representatives,
        "author_professional_id": facts.author_professional_id or None,
        "author_organisation": facts.author_organisation,
    }
    search = policy.Target("DocumentReference", patient_id=patient, relation=relation, now=NOW)
    if policy.decide(actor, Action.DOCUMENTS_DOCUMENT_SEARCH, search).allowed:
        rows = policy.scope(
            actor, Action.DOCUMENTS_DOCUMENT_SEARCH, patient_id=patient, relation=relation, now=NOW
        ).rows
        assert matches(rows, row) is decision.allowed, (who, doc, rows)
    else:
        # Only an author still reads while their search is refused (an emergency refused).
        assert not decision.allowed or doc.author == who.professional
