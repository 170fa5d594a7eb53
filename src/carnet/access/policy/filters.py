"""Row filters: pure descriptions of the rows a list may show; the gate compiles them into SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from carnet.access.policy.terms import VISIBLE_STATUSES

Op = Literal["eq", "in", "lte"]


@dataclass(frozen=True, slots=True)
class Field:
    """`name op value` on one column. `patient` names the patient key, whatever its column."""

    name: str
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Filter, ...]


# `True` = every row, `False` = no row. There is no negation: every filter says what is shown,
# so a NULL column can never turn a hidden row into a visible one.
Filter = Field | And | Or | bool


def all_of(*parts: Filter) -> Filter:
    kept: list[Filter] = []
    for part in parts:
        if part is False:
            return False
        if isinstance(part, And):
            kept.extend(part.parts)
        elif part is not True:
            kept.append(part)
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else And(tuple(kept))


def any_of(*parts: Filter) -> Filter:
    kept: list[Filter] = []
    for part in parts:
        if part is True:
            return True
        if isinstance(part, Or):
            kept.extend(part.parts)
        elif part is not False:
            kept.append(part)
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else Or(tuple(kept))


@dataclass(frozen=True, slots=True)
class Scope:
    """The rows of a list the actor may see, as a filter (False: nothing)."""

    rows: Filter = False

    @property
    def is_empty(self) -> bool:
        return self.rows is False


def visible_status() -> Filter:
    return Field("status", "in", tuple(sorted(VISIBLE_STATUSES)))
