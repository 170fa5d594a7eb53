"""Hostile FHIR input never breaks the profile API: valid resources whose elements are replaced
by arbitrary JSON (numbers, lists, objects, nulls, long strings) are answered with an
OperationOutcome (4xx), never a 500, and store nothing unexpected."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.profile import items, kinds
from tests.paths import FHIR_DIR
from tests.profile.samples import ITEMS

pytestmark = pytest.mark.django_db

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value, prefix=()):
    """Every path to an element of `value` (object keys and list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replace(value, path, new):
    if not path:
        return new
    changed = copy.deepcopy(value)
    node = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return changed


def _samples(pid):
    feeding = json.loads((FHIR_DIR / "mesures" / "Bundle-bundle-example.json").read_text())
    feeding["entry"][1]["resource"]["subject"] = {"reference": f"Patient/{pid}"}
    weight = copy.deepcopy(feeding["entry"][1]["resource"])
    today = dt.date(2026, 1, 1)
    samples = [("", feeding), ("Observation", weight)]
    for key in ("maladie", "vaccination", "directives-anticipees", "tabac"):
        kind = kinds.get_kind(key)
        data = items.clean_data(kind, ITEMS[key][0], today=today)
        resource = items.build_resource(kind, data, patient_reference=f"Patient/{pid}", today=today)
        samples.append((kind.resource_type, resource))
    return samples


@settings(
    max_examples=int(os.environ.get("CARNET_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choice=st.integers(min_value=0), where=st.integers(min_value=0), new=JSON)
def test_mutated_resources_are_refused_cleanly(fhir, pid, choice, where, new):
    samples = _samples(pid)
    path, resource = samples[choice % len(samples)]
    places = list(_paths(resource))
    mutated = _replace(resource, places[where % len(places)], new)
    response = fhir.post(path, mutated)
    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"].startswith("application/fhir+json")
