"""Middleware added with ``app.add_middleware`` sees every request, vendor routes included.

The fault middleware dispatches vendor routes itself (the hot path), so middleware inside Starlette's
stack would never see them; added middleware wraps the fault middleware instead.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.faults.rules import FaultRule

from .conftest import ADMIN, TOKEN, TR

pytestmark = pytest.mark.anyio


class Recorder:
    """Records (path, status) of every HTTP request it passes on."""

    seen: list[tuple[str, int]]

    def __init__(self, app: ASGIApp, *, seen: list[tuple[str, int]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, recording)


async def test_added_middleware_sees_vendor_and_control_requests_with_faults_applied(app: Starlette) -> None:
    seen: list[tuple[str, int]] = []
    app.add_middleware(Recorder, seen=seen)
    once = {"name": "once", "match": {"operation": "list_tasks"}, "times": 1}
    app.state.runtime.rules.add(FaultRule.parse({**once, "fault": {"type": "status", "status": 503}}, ()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": TOKEN}) as c:
        assert (await c.get(f"{TR}/conns")).status_code == 200
        assert (await c.get(f"{TR}/tasks")).status_code == 503
        assert (await c.get("/_sim/health", headers={"authorization": f"Bearer {ADMIN}"})).status_code == 200
        assert (await c.get(f"{TR}/no-such-route")).status_code == 404
    assert seen == [
        (f"{TR}/conns", 200),
        (f"{TR}/tasks", 503),
        ("/_sim/health", 200),
        (f"{TR}/no-such-route", 404),
    ]
