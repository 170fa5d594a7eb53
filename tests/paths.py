"""Where the reference examples written by others live (ANS CDA and FHIR examples, official
value-set files): the one setting `CARNET_REFERENCE_DATA`, by default `../shared/data` beside the
repository (CI and the team's checkouts; layout in docs/standards/README.md). They are not
redistributed with Carnet, so a fresh clone may not have them. Every test that needs them is then
skipped with the one reason `REFERENCE_DATA_ABSENT`:
* a test that opens a reference file, directly or through a helper or a fixture, is skipped when
  that open fails (hook in `tests/conftest.py`), so nothing has to be marked by hand;
* a test that needs the folder without opening a file (a listing, a hypothesis test) is marked
  `needs_reference_data`; parameters read from the folder at collection go through
  `reference_cases`, which collapses to one skipped item.
`tests/conftest.py` counts those skips at the end of the run; where the folder exists none is
skipped, and a missing file in it fails. The product itself never reads this folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DATA_VARIABLE = "CARNET_REFERENCE_DATA"
REFERENCE_DATA = Path(
    os.environ.get(REFERENCE_DATA_VARIABLE) or REPO_ROOT.parent / "shared" / "data"
).resolve()
CDA_DIR = REFERENCE_DATA / "cda"
FHIR_DIR = REFERENCE_DATA / "fhir"
TERMINOLOGY_DIR = REFERENCE_DATA / "terminology"
XDM_DIR = REFERENCE_DATA / "xdm"

REFERENCE_DATA_PRESENT = REFERENCE_DATA.is_dir()
REFERENCE_DATA_ABSENT = (
    f"reference data absent: set {REFERENCE_DATA_VARIABLE} to the directory of ANS examples"
)

# For a test or a module (`pytestmark = needs_reference_data`) that reads the examples directly.
needs_reference_data = pytest.mark.skipif(not REFERENCE_DATA_PRESENT, reason=REFERENCE_DATA_ABSENT)


def is_reference_file(filename: object) -> bool:
    """Whether a path that could not be opened lies in the (absent) reference folder."""
    if REFERENCE_DATA_PRESENT or not isinstance(filename, str | os.PathLike):
        return False
    return Path(os.fsdecode(filename)).resolve().is_relative_to(REFERENCE_DATA)


def reference_cases(build: Callable[[], Iterable[Any]], *, arity: int = 1) -> list[Any]:
    """Parameters read from the reference folder (a listing, a table's rows); when it is absent,
    one skipped placeholder so the test still shows up, once, with the reason."""
    if REFERENCE_DATA_PRESENT:
        return list(build())
    placeholder = (None,) * arity
    return [pytest.param(*placeholder, marks=needs_reference_data, id="reference-data-absent")]
