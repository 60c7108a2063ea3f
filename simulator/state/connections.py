"""Threat Response connections: records with timestamps, status derived when read.

A connection is ``waiting`` after connect, ``connected`` once its ready delay has passed (online
endpoints only), ``timeout`` when the endpoint never answers or the connection sits idle too long,
and ``disconnected`` after close. Nothing advances in the background: ``status_at(now)`` computes it.

A listing renders every record on every poll, so a record keeps its last rendering (the object and
its JSON) with the span of time it holds for: see :meth:`ConnectionRecord.to_api` and
:func:`render_listing`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar, NamedTuple

import orjson

from simulator.clock import epoch_ms

TABLE = "connections"
DISCONNECTED_MESSAGE = "The connection has been disconnected."
TIMEOUT_MESSAGE = "The connection has timed out."
STATUSES = ("waiting", "connected", "disconnected", "timeout")


class Rendering(NamedTuple):
    """A record's vendor object and its JSON, valid while ``since <= now < until``."""

    since: float
    until: float
    body: dict[str, Any]  # never handed out: to_api answers copies
    json: bytes


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
    # Not a field: the last Rendering, set on the instance by rendering(); kept out of comparisons,
    # replace() and pickles (a record read back from a shared store starts without one).
    _api: ClassVar[Rendering | None] = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__
        return {k: v for k, v in state.items() if k != "_api"} if "_api" in state else state

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

    def steady(self, now: float) -> tuple[float, float]:
        """The span ``[since, until)`` around ``now`` in which :meth:`to_api` gives the same answer.

        Time enters it only through :meth:`status_at` and :meth:`was_connected`, and each of their
        checks is ``now >= t`` for one of the times below (computed by the same expressions), so the
        answer changes only at those times. A NaN time never changes an answer and is skipped; with a
        NaN ``now`` the span is empty (``since <= now`` is false).

        >>> record = ConnectionRecord("c", "1", "h", "10.0.0.1", "Linux", "7", "1", 100.0, 0.5, True,
        ...                           5.0, 600.0, 100.0)
        >>> record.steady(100.2), record.steady(100.5), record.steady(800.0)
        ((-inf, 100.5), (100.5, 700.5), (700.5, inf))
        """
        times: tuple[float | None, ...]
        if self.reachable:
            times = (
                self.closed_at,
                self.connected_at,
                max(self.last_activity_at, self.connected_at) + self.idle_timeout_s,
            )
        else:  # never connected: only the unreachable timeout and a close change anything
            times = (self.closed_at, self.initiated_at + self.unreachable_timeout_s)
        since, until = -math.inf, math.inf
        for t in times:
            if t is None:
                continue
            if t <= now:
                since = max(since, t)
            elif t < until:
                until = t
        return since, until

    def rendering(self, now: float) -> Rendering:
        """The record rendered at ``now``: the last rendering while ``now`` stays in its span
        (:meth:`steady`), else a new one (kept on the instance: one per record, the latest)."""
        cached = self._api
        if cached is not None and cached.since <= now < cached.until:
            return cached
        body = self.render(now)
        fresh = Rendering(*self.steady(now), body, orjson.dumps(body))
        object.__setattr__(self, "_api", fresh)
        return fresh

    def to_api(self, now: float) -> dict[str, Any]:
        """The vendor's connection object at ``now`` (a new dict each call: callers may change it; the
        object is flat, so a copy of the cached one is a full copy)."""
        return dict(self.rendering(now).body)

    def api_json(self, now: float) -> bytes:
        """``orjson.dumps(self.to_api(now))``, from the cached rendering."""
        return self.rendering(now).json

    def render(self, now: float) -> dict[str, Any]:
        """:meth:`to_api`, computed (no cache)."""
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


def render_listing(records: Iterable[ConnectionRecord], now: float) -> bytes:
    """``orjson.dumps([r.to_api(now) for r in records])`` (``GET /conns``), joined from each record's
    cached JSON: compact JSON separates array items with a bare comma.

    >>> record = ConnectionRecord("c", "1", "h", "10.0.0.1", "Linux", "7", "1", 100.0, 0.5, True,
    ...                           5.0, 600.0, 100.0)
    >>> render_listing([record, record], 200.0) == orjson.dumps([record.to_api(200.0)] * 2)
    True
    >>> render_listing([], 200.0)
    b'[]'
    """
    return b"[" + b",".join([r.rendering(now).json for r in records]) + b"]"
