"""``tanium-sim conform --against URL``: a simulator on a real socket that already has history.

The target served a collection before the conformance run, so every id it hands out (connection, task,
evidence uuid) differs from the recording's: each must be followed for the run to conform. Lifecycles
take no time on the target, so nothing waits.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from simulator.cli import main
from simulator.server import BackgroundServer
from simulator.settings import Lifecycle, Settings
from tests.conform_helpers import record_session

pytestmark = pytest.mark.sockets
TR = "/plugin/products/threat-response/api/v1"


def test_conform_against_a_running_simulator_with_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    har = asyncio.run(record_session(tmp_path / "session.har", seed=5, endpoints=4, index=1))
    settings = Settings(
        port=0, seed=5, endpoints=4, lifecycle=Lifecycle(connect_delay_s=0, task_duration_s=0)
    )
    with BackgroundServer(settings) as server:
        with httpx.Client(base_url=server.url, headers={"session": settings.token}, timeout=10) as c:
            client_id = c.get("/plugin/products/dec/v1/endpoints").json()["data"][0]["clientId"]
            c.post(f"{TR}/conns/connect", json={"target": {"clientId": client_id}}).raise_for_status()
            (conn,) = c.get(f"{TR}/conns").json()
            windows = conn["platform"] == "Windows"
            path = {"path": settings.windows_trace_path if windows else settings.linux_trace_path}
            c.post(f"{TR}/conns/{conn['id']}/file", json=path).raise_for_status()
            c.delete(f"{TR}/conns/close/{conn['id']}").raise_for_status()  # history: a closed connection
        argv = ["conform", str(har), "--against", server.url, "--token", settings.token, "--json"]
        assert main(argv) == 0, capsys.readouterr().out
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == {"kind": "url"} and report["differences"] == 0
    assert report["replayed_exchanges"] == report["recorded_exchanges"] == 16  # listing, connect, ...
