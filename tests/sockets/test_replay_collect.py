"""``tanium-sim serve --replay``: a recorded ``collect --all`` replayed to ``tanium-sim collect --all``.

The recording is the reference client's own collection of a live simulator over a socket, kept by
:class:`tests.record_helpers.RecordingTransport` (its connections seen ``waiting`` and its tasks
``STARTED`` first); the replay is a real ``serve`` process. The traces collected from the replay are
the live ones, byte for byte: the recorded evidence zips are served back and pass the client's checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from client import CollectOptions
from simulator.cli import main
from simulator.record.har import read_har
from simulator.server import BackgroundServer
from simulator.settings import Lifecycle, Settings
from tests.record_helpers import record_collect
from tests.serve_process import serve_process

pytestmark = [pytest.mark.sockets, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 20.0


@contextmanager
def serve_replay(har: Path, *extra: str) -> Iterator[str]:
    """A ``tanium-sim serve --replay HAR`` process; its announced URL."""
    with serve_process("--replay", str(har), *extra) as (url, lines):
        assert lines[0].startswith(f"tanium-sim replaying {har}: ")
        yield url


def traces(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.cst.gz"))}


def test_collect_all_from_a_replay_writes_the_live_traces_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Connections and tasks take 0.5 s; the recorded client polls every 0.6 s: one waiting, one STARTED each.
    lifecycle = Lifecycle(connect_delay_s=0.5, task_duration_s=0.5)
    settings = Settings(port=0, endpoints=3, seed=21, lifecycle=lifecycle)
    har = tmp_path / "collect.har"
    with BackgroundServer(settings) as server:
        options = CollectOptions(
            url=server.url,
            token=settings.token,
            username=None,
            password=None,
            domain=None,
            client_ids=(),
            all=True,
            out=tmp_path / "live",
            concurrency=8,
            deadline_s=60.0,
            request_timeout_s=30.0,
            trace_path=None,
            poll_interval_s=0.6,
        )
        outcomes = asyncio.run(record_collect(options, har))
    assert [o.status for o in outcomes] == ["ok"] * 3
    live = traces(tmp_path / "live")
    assert len(live) == 3
    bodies = b"".join(e.response_body or b"" for e in read_har(har))
    assert b'"status":"waiting"' in bodies and b'"status":"STARTED"' in bodies

    with serve_replay(har) as url:
        argv = ["collect", "--url", url, "--token", "token-not-the-recorded-one", "--all"]
        assert main([*argv, "--out", str(tmp_path / "replayed")]) == 0
    assert "collected 3 of 3 endpoints" in capsys.readouterr().out
    assert traces(tmp_path / "replayed") == live
