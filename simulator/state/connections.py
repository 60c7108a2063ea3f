"""Threat Response connections: records with timestamps, status derived when read.

A connection is ``waiting`` after connect, ``connected`` once its ready delay has passed (online
endpoints only), ``timeout`` when the endpoint never answers or the connection sits idle too long,
and ``disconnected`` after close. Nothing advances in the background: ``status_at(now)`` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from simulator.clock import epoch_ms

TABLE = "connections"
DISCONNECTED_MESSAGE = "The connection has been disconnected."
TIMEOUT_MESSAGE = "The connection has timed out."
STATUSES = ("waiting", "connected", "disconnected", "timeout")


@dataclass(frozen=True)
class ConnectionRecord:
    """One connection as stored; its ``id`` never changes."""

    id: str
    client_id: str
    hostname: str
    ip: str
    platform: str
    eid: str
    user_id: str
    initiated_at: float
    ready_delay_s: float
    reachable: bool  # a known, online endpoint
    unreachable_timeout_s: float
    idle_timeout_s: float
    last_activity_at: float
    closed_at: float | None = None

    @property
    def connected_at(self) -> float:
        return self.initiated_at + self.ready_delay_s

    def status_at(self, now: float) -> str:
        if self.closed_at is not None and now >= self.closed_at:
            return "disconnected"
        if not self.reachable:
            return "timeout" if now >= self.initiated_at + self.unreachable_timeout_s else "waiting"
        if now < self.connected_at:
            return "waiting"
        if now >= max(self.last_activity_at, self.connected_at) + self.idle_timeout_s:
            return "timeout"
        return "connected"

    def was_connected(self, now: float) -> bool:
        end = self.closed_at if self.closed_at is not None else now
        return self.reachable and end >= self.connected_at

    def touched(self, now: float) -> ConnectionRecord:
        return replace(self, last_activity_at=now)

    def closed(self, now: float) -> ConnectionRecord:
        return self if self.closed_at is not None else replace(self, closed_at=now)

    def to_api(self, now: float) -> dict[str, Any]:
        status = self.status_at(now)
        body: dict[str, Any] = {
            "sessionId": None,
            "ip": self.ip,
            "hostname": self.hostname,
            "clientId": self.client_id,
            "platform": self.platform,
            "initiatedAt": epoch_ms(self.initiated_at),
            "status": status,
            "message": {"disconnected": DISCONNECTED_MESSAGE, "timeout": TIMEOUT_MESSAGE}.get(status, ""),
            "userId": self.user_id,
            "personaId": 0,
            "id": self.id,
        }
        if self.was_connected(now):
            body["eid"] = self.eid
            body["connectedAt"] = epoch_ms(self.connected_at)
            body["hasTools"] = True
        return body
