"""Actions: a package deployed to target endpoints, with per-endpoint status over time, expiry and stops.

An action stores when it was created, its targets and its timings. Each target's path is derived from the
seed: online endpoints go ``Waiting -> Downloading -> Running -> Completed`` (or ``Failed`` at the failure
rate, or when the package is for another platform); offline ones stay ``Waiting`` then report ``Failed``;
whatever has not finished when the action expires is ``Expired``, when it is stopped ``Stopped``.
The action's effect on the scanner is stored at creation as an event dated to the endpoint's completion
(:class:`~simulator.state.scanner.ScannerBook`), and a stop cancels the events still in the future.

>>> run = EndpointRun(received_at=3.0, downloaded_at=6.0, done_at=11.0, outcome="Completed")
>>> [run.status_at(t, expires_at=780.0, stopped_at=None) for t in (0, 4, 7, 11)]
['Waiting', 'Downloading', 'Running', 'Completed']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from simulator.clock import iso_ms
from simulator.platform.packages import Package
from simulator.platform.timing import PlatformTiming
from simulator.state.fleet import Endpoint, stable_fraction, stable_hash

TABLE = "platform_actions"
SAVED_TABLE = "platform_saved_actions"
STOPS_TABLE = "platform_action_stops"
STATUSES = ("Pending", "Active", "Open", "Closed", "Stopped", "Expired")
DONE = frozenset({"Completed", "Failed", "Expired", "Stopped"})


@dataclass(frozen=True)
class EndpointRun:
    """One target's planned path through the action (derived, never stored)."""

    received_at: float
    downloaded_at: float
    done_at: float
    outcome: str  # Completed | Failed
    offline: bool = False

    def status_at(self, t: float, *, expires_at: float, stopped_at: float | None) -> str:
        end = expires_at if stopped_at is None else min(expires_at, stopped_at)
        if t >= self.done_at and self.done_at <= end:
            return self.outcome
        if t >= end:
            return "Stopped" if stopped_at is not None and stopped_at < expires_at else "Expired"
        if self.offline or t < self.received_at:
            return "Waiting"
        return "Downloading" if t < self.downloaded_at else "Running"

    def takes_effect(self, expires_at: float) -> bool:
        return self.outcome == "Completed" and not self.offline and self.done_at <= expires_at


@dataclass(frozen=True)
class ActionRecord:
    """One deployed action, as stored."""

    id: int
    name: str
    package: Package
    created_at: float
    expire_seconds: int
    targets: tuple[int, ...]  # endpoint indices
    target_group: dict[str, Any]
    action_group: dict[str, Any]
    timing: PlatformTiming
    seed: int
    saved_action_id: int = 0
    stopped_at: float | None = None

    @property
    def expires_at(self) -> float:
        return self.created_at + self.expire_seconds

    def run(self, endpoint: Endpoint) -> EndpointRun:
        t = self.timing
        if not endpoint.online:
            return EndpointRun(
                self.created_at,
                self.created_at,
                self.created_at + t.offline_action_fail_s,
                "Failed",
                offline=True,
            )
        jitter = stable_fraction(self.seed, "action", self.id, endpoint.index) * t.answer_jitter_s
        received = self.created_at + t.action_pending_s + t.answer_delay_s + jitter
        downloaded = received + t.action_download_s
        failed = not self.package.runs_on(endpoint.platform) or (
            stable_fraction(self.seed, "action-fail", self.id, endpoint.index) < t.action_failure_rate
        )
        return EndpointRun(
            received, downloaded, downloaded + t.action_run_s, "Failed" if failed else "Completed"
        )

    def endpoint_status(self, endpoint: Endpoint, now: float) -> str:
        return self.run(endpoint).status_at(now, expires_at=self.expires_at, stopped_at=self.stopped_at)

    def status_at(self, now: float) -> str:
        if self.stopped_at is not None and now >= self.stopped_at:
            return "Stopped"
        if now >= self.expires_at:
            return "Expired"
        if now < self.created_at + self.timing.action_pending_s:
            return "Pending"
        return "Active"

    def to_api(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status_at(now),
            "stopped_flag": self.stopped_at is not None,
            "creation_time": iso_ms(self.created_at),
            "start_time": iso_ms(self.created_at),
            "expiration_time": iso_ms(self.expires_at),
            "expire_seconds": self.expire_seconds,
            "distribute_seconds": 0,
            "package_spec": {
                "id": self.package.id,
                "source_id": self.package.id,
                "name": self.package.name,
                "command": self.package.command,
                "command_timeout": self.package.command_timeout,
            },
            "target_group": self.target_group,
            "action_group": self.action_group,
            "saved_action": {"id": self.saved_action_id},
            "user": {"id": 1, "name": "admin"},
            "approver": {"id": 1, "name": "admin"},
            "comment": "",
        }

    def result_set(self, endpoints: list[Endpoint], now: float) -> dict[str, Any]:
        """``result_data/action/{id}``: Computer Name, Action Statuses (``<id>:<Status>.``), Count."""
        rows = []
        reported = done = 0
        for endpoint in endpoints:
            status = self.endpoint_status(endpoint, now)
            reported += status != "Waiting"
            done += status in DONE
            rows.append(
                {
                    "id": stable_hash("action-row", self.id, endpoint.index) & 0xFFFFFFFF,
                    "cid": endpoint.client_id,
                    "data": [
                        [{"text": endpoint.hostname}],
                        [{"text": f"{self.id}:{status}."}],
                        [{"text": "1"}],
                    ],
                }
            )
        return {
            "id": self.id,
            "question_id": 0,
            "action_id": self.id,
            "age": 0,
            "estimated_total": len(endpoints),
            "mr_tested": reported,
            "mr_passed": done,
            "tested": reported,
            "passed": done,
            "row_count": len(rows),
            "no_results_count": 0,
            "error_count": 0,
            "expire_seconds": self.expire_seconds,
            "expiration": math.floor(self.expires_at),  # an integer: epoch seconds (INFERRED unit)
            "columns": [
                {
                    "hash": stable_hash("sensor", "Computer Name") & 0xFFFFFFFF,
                    "name": "Computer Name",
                    "type": 1,
                },
                {
                    "hash": stable_hash("sensor", "Action Statuses") & 0xFFFFFFFF,
                    "name": "Action Statuses",
                    "type": 1,
                },
                {"hash": 0, "name": "Count", "type": 3},
            ],
            "rows": rows,
        }


__all__ = ["DONE", "SAVED_TABLE", "STATUSES", "STOPS_TABLE", "TABLE", "ActionRecord", "EndpointRun"]
