"""Table-driven: for every (profession key, document class) pair of the matrix data, every document
type of that class is decided exactly as its cell says in normal access and in both emergency
modes, a masked document only reaches those the holder trusts, and a blocked professional gets
nothing. The expectations are read from the data file, so replacing it re-runs the whole table."""

from __future__ import annotations

import dataclasses

import pytest

from carnet.access import matrix
from carnet.access.actions import Action
from carnet.access.actors import Actor, ActorKind, PurposeOfUse
from carnet.access.policy import (
    NOTIFY_EMERGENCY,
    DocumentFacts,
    Relation,
    Target,
    decide,
    readable_types,
)

READ = Action.DOCUMENTS_DOCUMENT_READ
# A pharmacist column stands for the sections mapped to it; one section of each is enough here,
# the mapping itself is tested in test_matrix.py.
SECTION_OF_COLUMN = {"21/officine": "A", "21/biologiste": "G"}
AUTHORISED = Relation(care_team=True, care_team_basis="autorise")
TRUSTED = (
    ("médecin traitant", Relation(care_team=True, medecin_traitant=True)),
    ("droits étendus", dataclasses.replace(AUTHORISED, extended_rights=True)),
)
PAIRS = sorted(
    {(cell.profession_key, row.class_code) for row in matrix.matrix_rows() for cell in row.cells}
)


def _actor(key: str, purpose: PurposeOfUse = PurposeOfUse.NORMAL) -> Actor:
    code = key.partition("/")[0]
    return Actor(
        kind=ActorKind.PROFESSIONAL,
        id="professionnel",
        profession=code,
        pharmacist_section=SECTION_OF_COLUMN.get(key, ""),
        purpose_of_use=purpose,
        emergency_reason="détresse respiratoire, patient inconscient"
        if purpose.value != "normal"
        else "",
    )


def _cells(key: str, class_code: str) -> list[tuple[str, bool]]:
    return [
        (row.type_code, cell.allowed)
        for row in matrix.matrix_rows()
        if row.class_code == class_code
        for cell in row.cells
        if cell.profession_key == key
    ]


def _read(actor: Actor, type_code: str, class_code: str, relation: Relation, **facts):
    document = DocumentFacts(type_code, class_code, author_professional_id="auteur", **facts)
    return decide(
        actor,
        READ,
        Target("DocumentReference", "d", patient_id="p", relation=relation, document=document),
    )


def test_the_table_covers_every_profession_and_class_of_the_data():
    assert {key for key, _ in PAIRS} == set(matrix.professions())
    assert {code for _, code in PAIRS} == {row.class_code for row in matrix.matrix_rows()}


@pytest.mark.parametrize(("key", "class_code"), PAIRS, ids=[f"{k}-{c}" for k, c in PAIRS])
def test_every_cell_in_every_situation(key, class_code):
    cells = _cells(key, class_code)
    assert cells
    normal = _actor(key)
    readable = readable_types(normal.profession, pharmacist_section=normal.pharmacist_section)
    for type_code, allowed in cells:
        label = f"{key} × {type_code}"
        # Normal access with a right: exactly the cell; a list shows exactly the same.
        decision = _read(normal, type_code, class_code, AUTHORISED)
        assert decision.allowed is allowed, label
        assert decision.code == ("care-team-authorised" if allowed else "matrix"), label
        assert (type_code in readable) is allowed, label
        # Masked: refused to an authorised professional, the cell for the trusted ones.
        masked = _read(normal, type_code, class_code, AUTHORISED, masked=True)
        assert (masked.allowed, masked.code) == (False, "masked"), label
        for name, trusted in TRUSTED:
            assert _read(normal, type_code, class_code, trusted, masked=True).allowed is allowed, (
                label,
                name,
            )
        # Blocked: nothing, whatever the rights and the mode, and the professional is told.
        for purpose in PurposeOfUse:
            blocked = _read(
                _actor(key, purpose),
                type_code,
                class_code,
                Relation(blocked=True, care_team=True, medecin_traitant=True, extended_rights=True),
            )
            assert (blocked.allowed, blocked.code, blocked.reveal) == (False, "blocked", True), (
                label
            )
        # Bris de glace: the cell unless opposed, and the holder is told.
        urgent = _read(_actor(key, PurposeOfUse.BREAK_GLASS), type_code, class_code, Relation())
        assert (urgent.allowed, urgent.mode) == (allowed, "bris_de_glace"), label
        assert (NOTIFY_EMERGENCY in urgent.obligations) is allowed, label
        opposed = _read(
            _actor(key, PurposeOfUse.BREAK_GLASS),
            type_code,
            class_code,
            Relation(break_glass_opposed=True),
        )
        assert (opposed.allowed, opposed.code, opposed.reveal) == (
            False,
            "break-glass-opposed",
            True,
        )
        masked_urgent = _read(
            _actor(key, PurposeOfUse.BREAK_GLASS), type_code, class_code, Relation(), masked=True
        )
        assert not masked_urgent.allowed, label
        # Centre 15: médecins régulateurs only, the cell unless opposed.
        samu = _read(_actor(key, PurposeOfUse.CENTRE_15), type_code, class_code, Relation())
        if key == "10":
            assert (samu.allowed, samu.mode) == (allowed, "centre_15"), label
            opposed = _read(
                _actor(key, PurposeOfUse.CENTRE_15),
                type_code,
                class_code,
                Relation(centre_15_opposed=True),
            )
            assert (opposed.allowed, opposed.code) == (False, "centre-15-opposed"), label
        else:
            assert (samu.allowed, samu.code) == (False, "centre-15-physicians-only"), label
