"""Where the reference examples written by others live: `CARNET_REFERENCE_DATA`, by default the
`shared/data` folder beside the repository (CI and the team's checkouts)."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SHARED_DATA = Path(os.environ.get("CARNET_REFERENCE_DATA") or SHARED / "data")
CDA_DIR = SHARED_DATA / "cda"
FHIR_DIR = SHARED_DATA / "fhir"
TERMINOLOGY_DIR = SHARED_DATA / "terminology"
