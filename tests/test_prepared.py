"""A prepared query gives the same rows as its queryset, binds new values every time (quotes and
all), and refuses a definition that ignores one of its parameters."""

import uuid

import pytest

from carnet.core.prepared import PreparedQuery
from carnet.identity.models import Holder

pytestmark = pytest.mark.django_db


def _by_id_and_name(patient, name):
    return Holder.objects.filter(pk=patient, birth_family_name=name).values("id", "sex")[:1]


BY_ID_AND_NAME = PreparedQuery(_by_id_and_name, names=["patient", "name"], uuid_names=["patient"])


def test_it_returns_what_the_queryset_returns_for_each_new_value(personas):
    for holder in (personas.patient, personas.other_patient):
        row = BY_ID_AND_NAME.first(patient=holder.pk, name=holder.birth_family_name)
        expected = _by_id_and_name(holder.pk, holder.birth_family_name).get()
        assert row is not None
        assert (uuid.UUID(str(row["id"])), row["sex"]) == (expected["id"], expected["sex"])


def test_values_are_bound_not_spliced(personas):
    holder = personas.patient
    assert BY_ID_AND_NAME.first(patient=holder.pk, name="x' OR '1'='1") is None
    assert BY_ID_AND_NAME.first(patient=uuid.uuid4(), name=holder.birth_family_name) is None


def test_a_parameter_the_query_does_not_use_is_refused():
    ignoring = PreparedQuery(
        lambda patient, name: Holder.objects.filter(pk=patient).values("id")[:1],
        names=["patient", "name"],
        uuid_names=["patient"],
    )
    with pytest.raises(AssertionError, match="name"):
        ignoring.first(patient=uuid.uuid4(), name="x")
