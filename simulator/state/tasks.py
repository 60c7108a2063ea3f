"""File download tasks: created ``STARTED``, terminal once their duration has passed (derived on read).

A scenario can instead make a task advance by polls (terminal on its Nth ``GET /tasks/{id}``; the
poll count is stored in the record) and show intermediate statuses on the way.

The vendor API has no task delete, so :class:`TaskRetention` bounds the table: past
``Settings.task_retention`` finished tasks, the oldest-finished are forgotten (INFERRED: Tanium's own
retention is undocumented) and their ids answer 404 like ids never issued. Running tasks are never
forgotten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from simulator.clock import iso_ms

if TYPE_CHECKING:
    from simulator.state.store import Store

TABLE = "tasks"
TERMINAL = ("COMPLETED", "INCOMPLETE", "ERROR")
EVIDENCE_DIR = "/opt/Tanium/TaniumModuleServer/services/threat-response-files/evidence/files"
TMP_DIR = "/opt/Tanium/TaniumModuleServer/services/threat-response-files/tmp"
MIN_SLACK = 64  # tasks created between two pruning passes, at least


@dataclass(frozen=True)
class TaskRecord:
    """A ``fileDownload`` task; ``outcome`` is decided at creation and revealed at ``ends_at``."""

    id: int
    connection_id: str
    client_id: str
    hostname: str
    path: str
    created_at: float
    duration_s: float
    outcome: str  # COMPLETED | INCOMPLETE | ERROR
    error: str | None
    evidence_uuid: str | None
    total_bytes: int
    transfer_hash: str
    polls_needed: int = 0  # > 0: progress by polls, not by time
    polls: int = 0
    done_at: float | None = None  # when a poll-driven task turned terminal
    intermediate: tuple[str, ...] = ()

    @property
    def ends_at(self) -> float:
        if self.polls_needed:
            return math.inf if self.done_at is None else self.done_at
        return self.created_at + self.duration_s

    def status_at(self, now: float) -> str:
        if now >= self.ends_at:
            return self.outcome
        if not self.intermediate:
            return "STARTED"
        if self.polls_needed:
            progress = self.polls / self.polls_needed
        else:
            progress = (now - self.created_at) / self.duration_s if self.duration_s > 0 else 1.0
        steps = ("STARTED", *self.intermediate)
        return steps[min(len(steps) - 1, max(0, int(progress * len(steps))))]

    def polled(self, now: float) -> TaskRecord:
        """The record after one more ``GET /tasks/{id}`` (poll-driven tasks finish on the last one)."""
        if not self.polls_needed or self.done_at is not None:
            return self
        polls = self.polls + 1
        return replace(self, polls=polls, done_at=now if polls >= self.polls_needed else None)

    def metadata(self) -> dict[str, Any]:
        return {"connection": self.connection_id, "paths": [self.path], "compress": "true"}

    def task_info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": "STARTED",
            "metadata": self.metadata(),
            "startTime": iso_ms(self.created_at),
        }

    def to_api(self, now: float) -> dict[str, Any]:
        status = self.status_at(now)
        done = status in TERMINAL
        results: dict[str, Any] = {"completed": [], "failed": [], "fileResults": []}
        if done and status == "COMPLETED" and self.evidence_uuid:
            total_ms = max(1, int((self.ends_at - self.created_at) * 1000))
            results = {
                "completed": [self.path],
                "failed": [],
                "fileResults": [
                    {
                        "response": {
                            "source": self.path,
                            "target": f"{TMP_DIR}/{self.evidence_uuid}",
                            "totalBytes": self.total_bytes,
                            "transferHash": self.transfer_hash,
                            "totalTimeMs": total_ms,
                            "avgBytesPerSecond": round(self.total_bytes / (total_ms / 1000), 2),
                        },
                        "uuid": self.evidence_uuid,
                        "finalPath": f"{EVIDENCE_DIR}/{self.evidence_uuid}.zip",
                    }
                ],
            }
        elif done:
            results = {"completed": [], "failed": [self.path], "fileResults": []}
        updated = self.ends_at if done else self.created_at
        return {
            "id": self.id,
            "type": "fileDownload",
            "status": status,
            "metadata": self.metadata(),
            "results": results,
            "error": self.error if done and status == "ERROR" else None,
            "startTime": iso_ms(self.created_at),
            "endTime": iso_ms(self.ends_at) if done else None,
            "createdAt": iso_ms(self.created_at),
            "updatedAt": iso_ms(updated),
        }


def finished_to_forget(records: Iterable[TaskRecord], now: float, keep: int) -> list[TaskRecord]:
    """The tasks finished at ``now`` beyond the ``keep`` most recently finished (oldest-finished first).

    >>> def task(i: int) -> TaskRecord:  # created at i, finished at i + 1
    ...     return TaskRecord(i, "c", "1", "h", "/p", float(i), 1.0, "COMPLETED", None, None, 0, "")
    >>> done = [task(i) for i in range(4)]
    >>> [t.id for t in finished_to_forget(done, now=3.5, keep=1)]  # task 3 ends at 4.0: still running
    [0, 1]
    """
    finished = [t for t in records if t.status_at(now) in TERMINAL]
    if len(finished) <= keep:
        return []
    finished.sort(key=lambda t: (t.ends_at, t.id))
    return finished[: len(finished) - keep]


class TaskRetention:
    """Keeps at most ``keep`` finished tasks (0: every task), pruning in batches.

    A pass scans the table, so it runs only when the table has grown by a slack since the last one
    (at least :data:`MIN_SLACK`, a tenth of ``keep`` and an eighth of the table): O(log n) amortised per
    task created, and the table never holds more than ``keep`` + slack finished tasks.
    """

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.pruned = 0  # tasks forgotten since the start (or the last reset)
        self.check_at = self._threshold(0)

    def _threshold(self, count: int) -> int:
        base = max(self.keep, count)
        return base + max(MIN_SLACK, self.keep // 10, count // 8)

    def reset(self) -> None:
        self.pruned = 0
        self.check_at = self._threshold(0)

    def after_create(self, store: Store, now: float) -> int:
        """Call after storing a new task: forgets the oldest-finished tasks when a pass is due."""
        if self.keep <= 0:
            return 0
        count = store.count(TABLE)
        if count < self.check_at:
            return 0
        doomed = finished_to_forget(store.values(TABLE), now, self.keep)
        for task in doomed:
            store.delete(TABLE, str(task.id))
        self.pruned += len(doomed)
        self.check_at = self._threshold(count - len(doomed))
        return len(doomed)
