"""The CI-sized fault matrix (what ``make qa`` runs): every scenario, 2 seeds, a few endpoints, must pass.

Wire-fault scenarios (resets, hangs, truncation, dribble) run over uvicorn on 127.0.0.1 here; the
others in-process. The JUnit report must list every scenario file in scenarios/.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.scenarios import available

pytestmark = [pytest.mark.sockets, pytest.mark.slow]


def test_every_scenario_passes_with_the_reference_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, report = tmp_path / "qa-junit.xml", tmp_path / "qa.json"
    # --request-timeout is what the hangs scenario's one hang per run costs in real time; every other
    # answer takes milliseconds (the runner builds each trace before collecting its endpoint), so 5 s is
    # a bound with room for a loaded machine, not a measurement.
    argv = ["--seeds", "2", "--endpoints", "2", "--request-timeout", "5"]
    code = main(["qa", *argv, "--junit", str(junit), "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out
    root = ET.parse(junit).getroot()
    assert {suite.get("name") for suite in root} == set(available())
    assert root.get("failures") == "0" and root.get("tests") == str(2 * len(available()))
    totals = json.loads(report.read_text())["totals"]
    assert totals["leaked_connections"] == totals["leaked_evidence"] == 0
    assert totals["corrupt_traces"] == totals["untyped_failures"] == totals["retry_after_violations"] == 0
    transports = {run["scenario"]: run["transport"] for run in json.loads(report.read_text())["runs"]}
    assert transports["hangs"] == transports["connection-resets"] == "sockets"


@pytest.mark.anyio
async def test_a_hang_ends_at_the_read_timeout_and_the_retry_recovers() -> None:
    import httpx

    from client._client import AsyncTaniumClient
    from client._errors import TimeoutError_
    from client._retry import RetryPolicy
    from simulator.app import create_app
    from simulator.scenarios import Scenario
    from simulator.server import BackgroundServer
    from simulator.settings import Settings

    hang_once = (
        "faults: [{name: stuck, match: {operation: list_tasks}, times: 1, fault: {type: hang, max_s: 30}}]"
    )
    settings = Settings(port=0, endpoints=1)
    app = create_app(settings, scenario=Scenario.from_text(hang_once))
    with BackgroundServer(settings, app=app) as server:
        # The hung call never gets an answer, so any read timeout ends it: a short one keeps this quick.
        hung = httpx.Timeout(30.0, read=0.3)
        async with AsyncTaniumClient(server.url, token=settings.token, timeout=hung) as once:
            with pytest.raises(TimeoutError_, match=r"within 0.3 s \(read timeout\)"):
                await once.list_tasks()
        app.state.runtime.reset_faults()
        # The retry must be answered within the read timeout too: 2 s is room for a loaded machine (an
        # empty task list takes milliseconds), and only the one hung call waits it out.
        policy = RetryPolicy(initial_s=0.01, sleep=_no_wait)
        timeout = httpx.Timeout(30.0, read=2.0)
        async with AsyncTaniumClient(
            server.url, token=settings.token, timeout=timeout, policy=policy
        ) as retrying:
            assert await retrying.list_tasks() == []
        assert policy.stats.retries == 1


async def _no_wait(seconds: float) -> None:
    """The retry's backoff, in virtual time: the test is about the read timeout, not the backoff."""
