"""``tanium-sim runbook`` against a real socket: uvicorn on 127.0.0.1 with a manual clock.

Simulated time moves only when the command waits: its poll loop's ``sleep`` and ``monotonic`` are the
test's manual clock (the server's too), so answer delays, action steps and the one-minute Maximum Data
Age pass at once and in the same order on any machine, however loaded (no wall-clock pacing).
"""

from __future__ import annotations

import functools

import pytest

from simulator.app import create_app
from simulator.cli import main
from simulator.cli import runbook as runbook_cli
from simulator.clock import ManualClock
from simulator.server import BackgroundServer
from simulator.settings import Settings

pytestmark = pytest.mark.sockets
TOKEN = "token-feedface"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The server's clock, which the runbook's waits advance (and its deadline reads)."""
    clock = ManualClock()
    waits = functools.partial(runbook_cli.Runbook, sleep=clock.advance, monotonic=clock.now)
    monkeypatch.setattr(runbook_cli, "Runbook", waits)
    return clock


def runbook(url: str, *args: str) -> list[str]:
    # Simulated seconds: a poll every 15 s, at most 30 minutes per step.
    return ["runbook", *args, "--url", url, "--token", TOKEN, "--poll-interval", "15", "--timeout", "1800"]


def test_runbook_status_stop_uninstall_over_a_socket(
    clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(port=0, endpoints=6, seed=4, token=TOKEN)
    app = create_app(settings, clock=clock)
    with BackgroundServer(settings, app=app) as server:
        fleet = list(app.state.backend.fleet)
        names = [ep.hostname for ep in fleet]

        assert main(runbook(server.url, "status")) == 0
        out = capsys.readouterr().out
        assert "runbook status: 6 endpoint(s)" in out and all(n in out for n in names)

        running = [line for line in out.splitlines() if " Running " in line]
        assert running, out
        first_running = running[0].split("│")[1].strip()
        assert main(runbook(server.url, "uninstall", "--computer-name", first_running)) == 1
        out = capsys.readouterr().out
        assert "refused: scanner still running" in out

        assert main(runbook(server.url, "stop", "--all")) == 0
        out = capsys.readouterr().out
        assert "Not Running" in out and "stopped" in out and " Running " not in out.replace("Not Running", "")

        assert main(runbook(server.url, "uninstall", "--all")) == 0
        out = capsys.readouterr().out
        assert "removed" in out and "refused" not in out and "gone" in out

        # A name no endpoint answers to is named, exit 1; a login works like a token.
        login = ["--username", settings.username, "--password", settings.password]
        argv = [*runbook(server.url, "stop", "--computer-name", "no-such-host"), *login]
        assert main([a for a in argv if a not in ("--token", TOKEN)]) == 1
        err = capsys.readouterr().err
        assert "no endpoint named no-such-host answered: unknown or offline" in err and "Traceback" not in err


def test_runbook_usage_errors_exit_2_and_runtime_failures_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TANIUM_URL", "TANIUM_TOKEN", "TANIUM_USERNAME", "TANIUM_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert main(["runbook", "stop", "--url", "http://127.0.0.1:9", "--token", TOKEN]) == 2
    assert "--computer-name NAME, --where TEXT or --all" in capsys.readouterr().err
    assert main(["runbook", "status", "--token", TOKEN]) == 2
    assert "no server URL: pass --url or set TANIUM_URL" in capsys.readouterr().err
    monkeypatch.setenv("TANIUM_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("TANIUM_TOKEN", TOKEN)
    assert main(["runbook", "status", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:9" in err and err.count("\n") == 1
