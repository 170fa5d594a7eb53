"""Where the shared reference data lives: `shared/` sits beside the repository (CI and sessions)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
CDA_DIR = SHARED_DATA / "cda"
FHIR_DIR = SHARED_DATA / "fhir"
TERMINOLOGY_DIR = SHARED_DATA / "terminology"
