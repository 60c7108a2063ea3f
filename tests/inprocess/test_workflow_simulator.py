"""The reference client's workflow against the simulator app itself (ASGITransport, manual clock)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from client._client import AsyncTaniumClient
from client._errors import ConnectionTimedOut, TaskFailed
from client._findings import summarize
from client._trace import open_trace
from client._workflow import PollPolicy, collect_trace
from simulator.clock import ManualClock
from simulator.settings import Settings

pytestmark = pytest.mark.anyio


async def test_collect_every_endpoint_and_leave_nothing_behind(
    app: Starlette, clock: ManualClock, settings: Settings, tmp_path: Path
) -> None:
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    transport = httpx.ASGITransport(app=app)
    backend = app.state.backend
    outcomes: dict[str, str] = {}
    async with AsyncTaniumClient("http://sim", token=settings.token, transport=transport) as tanium:
        fleet = await tanium.system_status(page_size=5)  # exercises paging and the cache-info row
        assert len(fleet) == backend.fleet.size
        for row in fleet:
            try:
                result = await collect_trace(
                    tanium,
                    row.computer_id,
                    dest=tmp_path,
                    deadline_s=120.0,
                    poll=PollPolicy(interval_s=0.5, max_interval_s=2.0),
                    clock=clock.now,
                    sleep=sleep,
                )
            except (ConnectionTimedOut, TaskFailed) as exc:
                outcomes[row.computer_id] = exc.reason
                continue
            manifest = backend.manifest(row.computer_id, None)
            assert (result.sha256, result.bytes) == (manifest["sha256"], manifest["size"])
            assert result.trace_path.read_bytes()[:2] == b"\x1f\x8b"
            with open_trace(result.trace_path) as reader:
                summary = summarize(reader)
            assert summary.record_count == manifest["record_count"]
            assert summary.by_type == manifest["by_type"]
            assert summary.findings == manifest["findings"]
            outcomes[row.computer_id] = "ok"

    for row in fleet:
        ep = backend.fleet.by_client_id(row.computer_id)
        expected = "connection_timeout" if not ep.online else "ok" if ep.has_trace else "task_failed"
        assert outcomes[row.computer_id] == expected, ep
    assert "ok" in outcomes.values()
    state = backend.state_counts()
    assert state["connections"]["connected"] == state["connections"]["waiting"] == 0
    assert state["evidence"] == state["evidence_pending"] == 0
