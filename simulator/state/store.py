"""The store interface and its in-memory implementation.

Records are frozen dataclasses keyed by a string id inside a named table ("connections", "tasks", ...).
Code never mutates a record it got back: it builds a new one and ``put``s it, so a shared store (Redis)
can replace :class:`MemoryStore` without changing callers. Counters give the integer ids Tanium uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Store(Protocol):
    """What the backend needs from a store."""

    def get(self, table: str, key: str) -> Any | None: ...

    def put(self, table: str, key: str, record: Any) -> None: ...

    def delete(self, table: str, key: str) -> bool: ...

    def values(self, table: str) -> Iterator[Any]: ...

    def count(self, table: str) -> int: ...

    def next_id(self, counter: str, start: int = 1) -> int: ...

    def clear(self, table: str | None = None) -> None: ...


class MemoryStore:
    """A dict of dicts. Iteration order is insertion order, like Tanium's listings."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Any]] = {}
        self._counters: dict[str, int] = {}

    def _table(self, table: str) -> dict[str, Any]:
        rows = self._tables.get(table)
        if rows is None:
            rows = self._tables[table] = {}
        return rows

    def get(self, table: str, key: str) -> Any | None:
        return self._table(table).get(key)

    def put(self, table: str, key: str, record: Any) -> None:
        self._table(table)[key] = record

    def delete(self, table: str, key: str) -> bool:
        return self._table(table).pop(key, None) is not None

    def values(self, table: str) -> Iterator[Any]:
        return iter(list(self._table(table).values()))

    def count(self, table: str) -> int:
        return len(self._table(table))

    def next_id(self, counter: str, start: int = 1) -> int:
        value = self._counters.get(counter, start - 1) + 1
        self._counters[counter] = value
        return value

    def clear(self, table: str | None = None) -> None:
        if table is None:
            self._tables.clear()
            self._counters.clear()
        else:
            self._tables.pop(table, None)
