"""The request journal: a bounded ring buffer of what the simulator answered, for tests and QA.

Each entry records the method, path, operation, status, the fault applied (rule and type), the injected
delay and the bytes sent. The buffer has a size cap (oldest entries drop first) so a soak test cannot
exhaust memory, and can be switched off entirely (``--no-journal``) for load tests.

>>> journal = Journal(capacity=2)
>>> for status in (200, 503, 200):
...     journal.record(method="GET", path="/x", operation="get_task", status=status)
>>> [e.status for e in journal.query()], journal.dropped
([503, 200], 1)
"""

from __future__ import annotations

import builtins
import itertools
from collections import deque
from dataclasses import dataclass, fields
from typing import Any

import orjson

DEFAULT_CAPACITY = 10_000


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One answered request. ``delay_ms`` is the injected latency (not the measured time)."""

    seq: int
    at: float
    method: str
    path: str
    operation: str
    status: int | None  # None: no HTTP answer (reset, hang)
    fault: str | None  # the rule that fired
    fault_type: str | None
    delay_ms: float
    client_id: str | None
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        """The entry as ``GET /_sim/requests`` shows it (field by field: ``asdict`` is ten times slower)."""
        return {name: getattr(self, name) for name in _FIELDS}

    def to_json(self) -> builtins.bytes:  # ``bytes`` alone names the field here
        """``orjson.dumps(self.to_dict())``, without the dict: what the console's event stream sends.

        >>> e = JournalEntry(1, 0.0, "GET", "/x", "get_task", 200, None, None, 0.0, "7", 2)
        >>> e.to_json() == orjson.dumps(e.to_dict())
        True
        """
        return orjson.dumps(self)


_FIELDS = tuple(f.name for f in fields(JournalEntry))


class Journal:
    """A ring buffer of :class:`JournalEntry`; ``enabled=False`` makes :meth:`record` a no-op."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, enabled: bool = True) -> None:
        if capacity < 1:
            raise ValueError("journal capacity must be >= 1")
        self.capacity = capacity
        self.enabled = enabled
        self._entries: deque[JournalEntry] = deque(maxlen=capacity)
        self._seq = itertools.count(1)
        self._last_seq = 0  # the newest entry's number (kept across a clear: numbers never repeat here)
        self.epoch = 0  # clears made through this object (what counts kept beside the journal start over on)
        self.total = 0

    @property
    def dropped(self) -> int:
        return self.total - len(self._entries)

    def record(
        self,
        *,
        method: str,
        path: str,
        operation: str,
        status: int | None,
        at: float = 0.0,
        fault: str | None = None,
        fault_type: str | None = None,
        delay_ms: float = 0.0,
        client_id: str | None = None,
        bytes: int = 0,
    ) -> None:
        if not self.enabled:
            return
        self.total += 1
        self._last_seq = next(self._seq)
        self._entries.append(
            JournalEntry(
                self._last_seq,
                at,
                method,
                path,
                operation,
                status,
                fault,
                fault_type,
                round(delay_ms, 3),
                client_id,
                bytes,
            )
        )

    def query(
        self,
        *,
        operation: str | None = None,
        status: int | None = None,
        fault: str | None = None,
        method: str | None = None,
        faulted: bool | None = None,
        since: int = 0,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Entries oldest first, filtered; ``limit`` keeps the most recent ones."""
        if operation is None and status is None and fault is None and method is None and faulted is None:
            out = list(self._entries) if since <= 0 else [e for e in self._entries if e.seq > since]
            return out[-limit:] if limit is not None else out
        out = [
            e
            for e in self._entries
            if e.seq > since
            and (operation is None or e.operation == operation)
            and (status is None or e.status == status)
            and (fault is None or e.fault == fault or e.fault_type == fault)
            and (method is None or e.method == method.upper())
            and (faulted is None or (e.fault is not None) == faulted)
        ]
        return out[-limit:] if limit is not None else out

    def read_since(self, cursor: int, limit: int) -> tuple[list[JournalEntry], int]:
        """At most ``limit`` entries numbered after ``cursor`` (oldest first), and the newest number
        handed out (0: none yet). Reads only those entries, not the whole journal: what a follower (the
        console's event stream) asks for every poll.

        >>> journal = Journal(capacity=3)
        >>> for _ in range(5):
        ...     journal.record(method="GET", path="/x", operation="get_task", status=200)
        >>> [e.seq for e in journal.read_since(3, 10)[0]], journal.read_since(0, 2)[0][0].seq
        ([4, 5], 3)
        """
        entries = self._entries
        newer = min(len(entries), max(0, self._last_seq - cursor))  # numbers are consecutive in the ring
        if not newer or limit < 1:
            return [], self._last_seq
        if newer <= limit:
            picked = list(itertools.islice(reversed(entries), newer))
            picked.reverse()
            return picked, self._last_seq
        start = len(entries) - newer
        return list(itertools.islice(entries, start, start + limit)), self._last_seq

    def clear(self) -> None:
        self._entries.clear()
        self.total = 0
        self.epoch += 1


__all__ = ["DEFAULT_CAPACITY", "Journal", "JournalEntry"]
