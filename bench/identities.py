"""The generated holders' identities, shared by the generator and the deposit bodies (a deposit
must name the holder with the INS and strict traits the space was created with)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from carnet.identity.ins import nir_key  # noqa: E402


def holder_traits(index: int) -> dict[str, str]:
    body = f"1{80 + index % 20:02d}{1 + index % 12:02d}75{index:06d}"
    return {
        "matricule": body + f"{nir_key(body):02d}",
        "family": f"BENCH{index}",
        "given": "ALEX",
        "birth_date": dt.date(1980, 1 + index % 12, 1 + index % 28).isoformat(),
    }
