"""File download tasks: created ``STARTED``, terminal once their duration has passed (derived on read).

A scenario can instead make a task advance by polls (terminal on its Nth ``GET /tasks/{id}``; the
poll count is stored in the record) and show intermediate statuses on the way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from simulator.clock import iso_ms

TABLE = "tasks"
TERMINAL = ("COMPLETED", "INCOMPLETE", "ERROR")
EVIDENCE_DIR = "/opt/Tanium/TaniumModuleServer/services/threat-response-files/evidence/files"
TMP_DIR = "/opt/Tanium/TaniumModuleServer/services/threat-response-files/tmp"


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
