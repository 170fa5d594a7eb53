"""The resources Carnet builds are checked against FHIR R4 (fhir.resources) before they leave.

Always in tests and development; in production only when `CARNET_FHIR_CHECK_OUTPUT` is set. They
are built from rows that were validated on the way in, and the check costs about a millisecond per
resource: most of an ITI-67 page of 20 DocumentReferences (measured with bench/profile_requests.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from pydantic import BaseModel


def check(model: type[BaseModel], resource: dict[str, Any]) -> None:
    """Raise (a server error: a bug of ours) when `resource` is not a valid `model`."""
    if settings.CARNET_FHIR_CHECK_OUTPUT:
        model.model_validate(resource)
