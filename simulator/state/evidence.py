"""File evidence: created with its task, visible once the task has completed, kept until deleted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.clock import iso_ms

TABLE = "evidence"
SORT_FIELDS = ("uuid", "hostname", "path", "downloaded", "size")


@dataclass(frozen=True)
class EvidenceRecord:
    """One file evidence item; the zip is built from (seed, endpoint, scan) when downloaded."""

    uuid: str
    task_id: int
    client_id: str
    endpoint_index: int
    hostname: str
    path: str
    scan: int
    available_at: float
    size: int
    hash: str
    file_modified_at: float

    def visible_at(self, now: float) -> bool:
        return now >= self.available_at

    def sort_key(self, field: str) -> Any:
        if field == "downloaded":
            return self.available_at
        return getattr(self, field)

    def to_api(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "hostname": self.hostname,
            "path": self.path,
            "downloaded": iso_ms(self.available_at),
            "hash": self.hash,
            "size": self.size,
            "process_creation_time": iso_ms(self.file_modified_at),
            "created_by": "",
            "created_by_proc": "",
            "last_modified": iso_ms(self.file_modified_at),
            "last_modified_by": "",
            "last_modified_by_proc": "",
            "tags": "",
            "comments": "",
            "username": None,
            "evidenceType": "file",
        }
