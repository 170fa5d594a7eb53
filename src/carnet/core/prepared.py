"""A query of the hot path compiled once: the ORM describes it, later calls only bind values.

Django composes and compiles a queryset's SQL again on every evaluation; for the few queries
every API call runs (the relation of a professional to a space), compiling costs more than the
query itself (measured with bench/profile_requests.py). `PreparedQuery` builds the queryset once
with sentinel values, keeps its SQL, and runs it with the actual values bound in their place.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import connection, models
from django.db.models import QuerySet

_UUID_FIELD: models.UUIDField[Any, Any] = models.UUIDField()
_DATETIME_FIELD: models.DateTimeField[Any, Any] = models.DateTimeField()


class PreparedQuery:
    """`build(**sentinels)` returns a `.values()` queryset; `uuid_names` and `datetime_names` are
    the parameters bound as the database stores those types, the others are bound as given."""

    def __init__(
        self,
        build: Callable[..., QuerySet[Any]],
        *,
        names: Sequence[str],
        uuid_names: Sequence[str] = (),
        datetime_names: Sequence[str] = (),
    ) -> None:
        self._build = build
        self._names = tuple(names)
        self._uuid_names = frozenset(uuid_names)
        self._datetime_names = frozenset(datetime_names)
        self._compiled: dict[str, tuple[str, tuple[str | None, ...], tuple[Any, ...]]] = {}
        self._columns: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def first(self, **values: Any) -> dict[str, Any] | None:
        sql, slots, constants, columns = self._sql()
        params = [
            self._bind(slot, values[slot]) if slot is not None else constant
            for slot, constant in zip(slots, constants, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        return None if row is None else dict(zip(columns, row, strict=True))

    def _bind(self, name: str, value: Any) -> Any:
        if name in self._uuid_names:
            return _UUID_FIELD.get_db_prep_value(value, connection)
        if name in self._datetime_names:
            return _DATETIME_FIELD.get_db_prep_value(value, connection)
        return value

    def _sql(self) -> tuple[str, tuple[str | None, ...], tuple[Any, ...], tuple[str, ...]]:
        vendor = connection.vendor
        with self._lock:
            if vendor not in self._compiled:
                self._compiled[vendor] = self._compile()
        sql, slots, constants = self._compiled[vendor]
        return sql, slots, constants, self._columns

    def _compile(self) -> tuple[str, tuple[str | None, ...], tuple[Any, ...]]:
        sentinels: dict[str, Any] = {name: self._sentinel(name) for name in self._names}
        queryset = self._build(**sentinels)
        self._columns = tuple(queryset.query.values_select) + tuple(
            queryset.query.annotation_select
        )
        sql, params = queryset.query.sql_with_params()
        by_value: Mapping[Any, str] = {
            self._bind(name, value): name for name, value in sentinels.items()
        }
        slots = tuple(by_value.get(param) if _hashable(param) else None for param in params)
        missing = set(self._names) - {slot for slot in slots if slot}
        if missing:
            raise AssertionError(f"prepared query does not use {sorted(missing)}")
        return sql, slots, tuple(params)

    def _sentinel(self, name: str) -> Any:
        if name in self._uuid_names:
            return uuid.uuid4()
        if name in self._datetime_names:  # a distinct instant no real value uses
            return dt.datetime(2999, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
                microseconds=secrets.randbelow(10**6)
            )
        return f"\x00sentinel:{name}"


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
