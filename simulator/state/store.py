"""The store interface and its in-memory implementation.

Records are frozen dataclasses keyed by a string id inside a named table ("connections", "tasks", ...).
Code never mutates a record it got back, and never writes back a record it read earlier: every change
is one atomic step, :meth:`Store.update` (read the current record, apply a pure function, write the
result, with nothing in between), so slow work done between a read and a write can never undo a
change another request made meanwhile. Counters give the integer ids Tanium uses.

**Generations.** :meth:`Store.clear` with no table (``POST /_sim/reset``) starts a new generation. A
request that began before the reset passes the generation it read (``generation=``) to its writes,
and those writes are dropped: a reset world stays reset.

>>> store = MemoryStore()
>>> store.put("t", "a", 1)
True
>>> store.update("t", "a", lambda n: n + 1)
2
>>> gen = store.generation()
>>> store.clear()
>>> store.put("t", "a", 5, generation=gen), store.get("t", "a")
(False, None)

:class:`~simulator.state.redis_store.RedisStore` implements the same interface on Redis, so several
processes and hosts share one world.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Protocol

from simulator.state.updates import DELETE, Updater


class Store(Protocol):
    """What the backends need from a store. Every method is atomic on its own."""

    def generation(self) -> int:
        """The current generation (bumped by :meth:`clear` with no table)."""
        ...

    def get(self, table: str, key: str) -> Any | None: ...

    def put(self, table: str, key: str, record: Any, *, generation: int | None = None) -> bool:
        """Insert or replace; a new key goes last in listings. False: dropped (an older generation)."""
        ...

    def update(
        self,
        table: str,
        key: str,
        fn: Updater,
        *,
        create: bool = False,
        generation: int | None = None,
    ) -> Any | None:
        """Replace the record with ``fn(record)`` atomically and return the new one.

        ``fn`` must be pure (a shared store may call it again when another writer got in first) and
        may raise to change nothing. It returns the new record, the same record (nothing written) or
        :data:`DELETE`. An absent record gives ``None`` without calling ``fn`` unless ``create``
        (then ``fn(None)``). A write for an older ``generation`` is dropped (``None``).
        """
        ...

    def delete(self, table: str, key: str, *, generation: int | None = None) -> bool: ...

    def values(self, table: str) -> Iterator[Any]:
        """The table's records in insertion order (a snapshot)."""
        ...

    def count(self, table: str) -> int: ...

    def next_id(self, counter: str, start: int = 1) -> int: ...

    def clear(self, table: str | None = None) -> None:
        """Empty one table, or everything (tables and counters) and start a new generation."""
        ...


class MemoryStore:
    """A dict of dicts behind one lock. Iteration order is insertion order, like Tanium's listings.

    Handlers run on the event loop and in worker threads (slow trace work), so every method holds
    the lock for its whole step; ``update`` runs its function under it (functions are small and pure).
    """

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, Any]] = {}
        self._counters: dict[str, int] = {}
        self._generation = 1
        self._lock = threading.RLock()

    def _table(self, table: str) -> dict[str, Any]:
        rows = self._tables.get(table)
        if rows is None:
            rows = self._tables[table] = {}
        return rows

    def _stale(self, generation: int | None) -> bool:
        return generation is not None and generation != self._generation

    def generation(self) -> int:
        return self._generation

    def get(self, table: str, key: str) -> Any | None:
        rows = self._tables.get(table)
        return None if rows is None else rows.get(key)

    def put(self, table: str, key: str, record: Any, *, generation: int | None = None) -> bool:
        with self._lock:
            if self._stale(generation):
                return False
            self._table(table)[key] = record
            return True

    def update(
        self,
        table: str,
        key: str,
        fn: Updater,
        *,
        create: bool = False,
        generation: int | None = None,
    ) -> Any | None:
        with self._lock:
            if self._stale(generation):
                return None
            rows = self._table(table)
            current = rows.get(key)
            if current is None and not create:
                return None
            new = fn(current)
            if new is DELETE:
                rows.pop(key, None)
                return None
            if new is not current:
                rows[key] = new
            return new

    def delete(self, table: str, key: str, *, generation: int | None = None) -> bool:
        with self._lock:
            if self._stale(generation):
                return False
            return self._table(table).pop(key, None) is not None

    def values(self, table: str) -> Iterator[Any]:
        with self._lock:
            return iter(list(self._table(table).values()))

    def count(self, table: str) -> int:
        rows = self._tables.get(table)
        return 0 if rows is None else len(rows)

    def next_id(self, counter: str, start: int = 1) -> int:
        with self._lock:
            value = self._counters.get(counter, start - 1) + 1
            self._counters[counter] = value
            return value

    def clear(self, table: str | None = None) -> None:
        with self._lock:
            if table is None:
                self._tables.clear()
                self._counters.clear()
                self._generation += 1
            else:
                self._tables.pop(table, None)


def open_store(url: str, *, prefix: str = "tanium-sim") -> Store:
    """The store named by ``url``: ``memory`` (default) or ``redis://HOST:PORT/DB`` (``rediss://``,
    ``unix://PATH?db=N`` too). Raises ``ValueError`` with one sentence for anything else."""
    text = (url or "memory").strip()
    if text == "memory":
        return MemoryStore()
    scheme = text.partition("://")[0].lower()
    if scheme in ("redis", "rediss", "unix", "valkey", "valkeys"):
        from simulator.state.redis_store import RedisStore

        return RedisStore.from_url(text, prefix=prefix)
    raise ValueError(
        f"--store must be 'memory' or a Redis URL like redis://127.0.0.1:6379/0, not {text[:60]!r}"
    )


__all__ = ["DELETE", "MemoryStore", "Store", "Updater", "open_store"]
