"""The reference client's evidence workflow under every scenario in scenarios/, over a real socket.

Each scenario's ``expect`` lists the outcomes it allows (``success`` or a client failure reason such as
``connection_timeout``), by default and per endpoint class (``offline``, ``missing_trace``, from the
fleet's ground truth); every endpoint's outcome must be one of them. The client retries transient
failures (``RetryPolicy``), as the expectations assume. Time is virtual on both sides
(a manual clock moved by the injected sleepers), so minutes of simulated latency and task time take
milliseconds; only a hang costs real time (the client's read timeout, 5 s).
"""

from __future__ import annotations

import random
from pathlib import Path

import anyio
import httpx
import pytest

from client._client import AsyncTaniumClient
from client._errors import TaniumError
from client._retry import RetryPolicy
from client._workflow import PollPolicy, collect_trace
from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.scenarios import Scenario, available, expected_outcomes
from simulator.server import BackgroundServer
from simulator.settings import Settings

pytestmark = pytest.mark.sockets
ENDPOINTS = {"huge-traces": 1}


@pytest.mark.parametrize("name", available())
def test_workflow_runs_under_each_scenario(name: str, tmp_path: Path) -> None:
    scenario = Scenario.load(name)
    clock = ManualClock()

    async def virtual_sleep(seconds: float) -> None:
        clock.advance(seconds)

    settings = Settings(port=0, seed=4, endpoints=6)
    app = create_app(settings, clock=clock, scenario=scenario, sleep=virtual_sleep)
    backend = app.state.backend
    count = ENDPOINTS.get(name, 3)
    endpoints = [backend.fleet.endpoint(i) for i in range(count)]
    client_ids = [ep.client_id for ep in endpoints]
    for ep in endpoints:  # generate traces up front: short client timeouts must only meet faults
        if ep.online and ep.has_trace:
            backend.catalog.evidence_zip(backend.trace_spec(ep))
    # The one hang of `hangs` ends at the client's read timeout: that is real time, 5 s of it, a bound with
    # room for a loaded machine (every other answer takes milliseconds; traces are built above).
    read_timeout = 5.0 if name == "hangs" else 30.0

    async def run(url: str) -> dict[str, str]:
        outcomes: dict[str, str] = {}
        timeout = httpx.Timeout(30.0, read=read_timeout)
        policy = RetryPolicy(attempts=4, clock=clock.now, sleep=virtual_sleep, rng=random.Random(1))
        async with AsyncTaniumClient(
            url, username="admin", password="tanium", timeout=timeout, policy=policy
        ) as tanium:
            for client_id in client_ids:
                try:
                    await collect_trace(
                        tanium,
                        client_id,
                        dest=tmp_path,
                        deadline_s=1800.0,
                        poll=PollPolicy(interval_s=2.0, max_interval_s=20.0),
                        clock=clock.now,
                        sleep=virtual_sleep,
                        cleanup_timeout_s=30.0,
                    )
                    outcomes[client_id] = "success"
                except TaniumError as exc:
                    outcomes[client_id] = exc.reason
        return outcomes

    with BackgroundServer(settings, app=app) as server:
        outcomes = anyio.run(run, server.url)
    for ep in endpoints:
        kind = "offline" if not ep.online else "missing_trace" if not ep.has_trace else "default"
        assert outcomes[ep.client_id] in expected_outcomes(scenario, kind), (name, kind, outcomes)
    if name == "baseline":
        assert set(outcomes.values()) == {"success"}
        state = backend.state_counts()
        assert state["connections"]["connected"] == 0 and state["evidence"] == 0
