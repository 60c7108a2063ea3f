"""The pytest plugin (simulator/pytest_plugin.py), driven as another project would: pytester runs small
test files that use its marker, options and fixtures, in this process (the entry point loads it)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from starlette.applications import Starlette

# Imported here so pytester's sys.modules snapshot keeps them between its inner runs (each run is faster).
import client  # noqa: F401
import simulator.app
import simulator.server
from simulator.clock import ManualClock
from simulator.record.har import Exchange, HarWriter

pytest_plugins = ["pytester"]

INNER = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "--strict-markers", "-W", "error", "-q")

ASYNC_HEADER = """
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess(*INNER, *args)


def test_a_marked_test_collects_an_endpoint_in_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        ASYNC_HEADER
        + """
import anyio
from client import collect_trace

TR = "/plugin/products/threat-response/api/v1"


@pytest.mark.tanium_sim(endpoints=3, seed=5)
async def test_collect(tanium_sim_client, tanium_sim_http, tanium_sim_app, tanium_sim_clock,
                       tanium_sim_sleep, tmp_path):
    backend = tanium_sim_app.state.backend
    assert tanium_sim_app.state.settings.seed == 5
    start = tanium_sim_clock.now()
    # A real-time bound only as a safety net: if simulated time stopped moving, fail instead of hanging.
    with anyio.fail_after(30):
        async with tanium_sim_client as tanium:
            fleet = await tanium.system_status()
            assert len(fleet) == 3
            client_id = fleet[0].computer_id
            result = await collect_trace(tanium, client_id, dest=tmp_path, clock=tanium_sim_clock.now,
                                         sleep=tanium_sim_sleep)
    manifest = backend.manifest(client_id, None)
    assert (result.sha256, result.bytes) == (manifest["sha256"], manifest["size"])
    assert tanium_sim_sleep.delays and tanium_sim_clock.now() > start  # simulated waits, no real ones
    conns = await tanium_sim_http.get(f"{TR}/conns")
    assert conns.status_code == 200
    assert all(c["status"] != "connected" for c in conns.json())  # the workflow closed its connection
    denied = await tanium_sim_http.get(f"{TR}/conns", headers={"session": "token-wrong"})
    assert denied.status_code in (401, 403)
"""
    )
    run(pytester).assert_outcomes(passed=1)


def test_scenario_delays_advance_the_manual_clock(pytester: pytest.Pytester) -> None:
    slow = pytester.path / "slow.yaml"
    slow.write_text("# Every vendor call takes half a second.\nlatency: {default: {model: fixed, ms: 500}}\n")
    pytester.makepyfile(
        ASYNC_HEADER
        + f"""
@pytest.mark.tanium_sim(scenario={str(slow)!r})
async def test_latency(tanium_sim_http, tanium_sim_clock, tanium_sim_app):
    assert tanium_sim_app.state.runtime.scenario.name == "slow"
    start = tanium_sim_clock.now()
    r = await tanium_sim_http.get("/plugin/products/threat-response/api/v1/conns")
    assert r.status_code == 200
    assert tanium_sim_clock.now() - start == 0.5
"""
    )
    run(pytester).assert_outcomes(passed=1)


def test_options_choose_the_world_and_the_marker_beats_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest


def test_option(tanium_sim_app):
    assert tanium_sim_app.state.runtime.scenario.name == "slow-tasks"
    assert tanium_sim_app.state.settings.seed == 4
    assert tanium_sim_app.state.backend.fleet.size == 10


@pytest.mark.tanium_sim("baseline", seed=9)
def test_marker_wins(tanium_sim_app):
    assert tanium_sim_app.state.runtime.scenario.name == "baseline"
    assert tanium_sim_app.state.settings.seed == 9


@pytest.mark.tanium_sim(scenario="large-fleet", endpoints=4)
def test_a_named_setting_beats_the_scenario_file(tanium_sim_app):
    assert tanium_sim_app.state.runtime.scenario.name == "large-fleet"
    assert tanium_sim_app.state.backend.fleet.size == 4


@pytest.mark.tanium_sim(endpoints=2)
class TestMarkersMerge:
    @pytest.mark.tanium_sim(seed=1)
    def test_class_and_test_markers(self, tanium_sim_app):
        settings = tanium_sim_app.state.settings
        assert (settings.endpoints, settings.seed) == (2, 1)
"""
    )
    run(pytester, "--tanium-sim-scenario", "slow-tasks", "--tanium-sim-seed", "4").assert_outcomes(passed=4)


@pytest.mark.parametrize(
    ("marker", "args", "message"),
    [
        (
            "",
            ("--tanium-sim-scenario", "nope"),
            "--tanium-sim-scenario: nope: no scenario by that name; known: ",
        ),
        ('scenario="nope"', (), "the tanium_sim marker: nope: no scenario by that name; known: baseline"),
        ("endpoint=3", (), "the tanium_sim marker: 'endpoint' is not a setting (known: scenario, "),
        ('endpoints="ten"', (), "the tanium_sim marker: endpoints must be int, got 'ten'"),
        ("endpoints=-1", (), "the tanium_sim marker: endpoints must be >= 0"),
        ('"baseline", "flaky-5xx"', (), "it takes one positional argument at most (the scenario)"),
    ],
)
def test_a_bad_world_is_a_usage_error_in_one_sentence(
    pytester: pytest.Pytester, marker: str, args: tuple[str, ...], message: str
) -> None:
    pytester.makepyfile(
        test_world=f"""
import pytest

@pytest.mark.tanium_sim({marker})
def test_a(tanium_sim_app):
    pass
"""
    )
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR: ")]
    assert len(errors) == 1 and message in errors[0], result.errlines
    if not args:
        assert errors[0].startswith("ERROR: test_world.py::test_a: the tanium_sim marker: ")
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.sockets
def test_the_server_fixture_serves_a_socket_and_stops_its_thread(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import threading

import httpx
import pytest


@pytest.mark.tanium_sim(endpoints=4)
def test_socket(tanium_sim_server):
    url = tanium_sim_server.url
    assert url.startswith("http://127.0.0.1:") and tanium_sim_server.port > 0
    health = httpx.get(url + "/_sim/health").json()
    assert (health["status"], health["endpoints"]) == ("ok", 4)
    admin = {"authorization": "Bearer " + tanium_sim_server.settings.admin_token}
    assert httpx.get(url + "/_sim/state", headers=admin).status_code == 200
    vendor = {"session": tanium_sim_server.settings.token}
    conns = httpx.get(url + "/plugin/products/threat-response/api/v1/conns", headers=vendor)
    assert conns.status_code == 200
    assert any(t.name == "tanium-sim" and t.is_alive() for t in threading.enumerate())
"""
    )
    before = set(threading.enumerate())
    run(pytester).assert_outcomes(passed=1)
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == []


def write_recording(folder: Path) -> None:
    """recordings/session.har: a connection polled twice (waiting, then connected), 250 ms each."""
    with HarWriter(folder / "recordings" / "session.har") as har:
        for status in ("waiting", "connected"):
            har.add(
                Exchange(
                    "GET",
                    "https://tanium.example/plugin/products/threat-response/api/v1/conns",
                    status=200,
                    request_headers=[("session", "<session-1>")],
                    response_headers=[("content-type", "application/json")],
                    response_body=b'[{"id": "remote:h:1:1", "status": "%s"}]' % status.encode(),
                    time_ms=250,
                )
            )


def test_the_replay_fixture_answers_from_a_recording(pytester: pytest.Pytester) -> None:
    suite = pytester.mkpydir("suite")  # a relative recording is found next to the test file, not in the cwd
    write_recording(suite)
    (suite / "test_replayed.py").write_text(
        ASYNC_HEADER
        + """
import httpx

TR = "/plugin/products/threat-response/api/v1"


def http(app, session="token-anything"):
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://tanium-sim", headers={"session": session})


async def test_strict(tanium_sim_replay, tanium_sim_clock):
    app = tanium_sim_replay("recordings/session.har")
    start = tanium_sim_clock.now()
    async with http(app) as c:
        statuses = [(await c.get(f"{TR}/conns")).json()[0]["status"] for _ in range(3)]
        missing = await c.get(f"{TR}/tasks/1")
    assert statuses == ["waiting", "connected", "connected"]
    assert tanium_sim_clock.now() - start == 0.75  # the recorded 250 ms, three times, on the manual clock
    assert missing.status_code == 404
    assert missing.json()["text"].endswith(f"nearest recorded: GET {TR}/conns (differs in: path)")


@pytest.mark.tanium_sim(endpoints=2)
async def test_hybrid(tanium_sim_replay):
    app = tanium_sim_replay("recordings/session.har", mode="hybrid", speed=0)
    async with http(app, app.state.settings.token) as c:
        assert (await c.get(f"{TR}/conns")).json()[0]["id"] == "remote:h:1:1"
        fleet = (await c.get("/api/v2/system_status")).json()["data"]
    assert len(fleet) == 3  # the marker's two endpoints and the trailing cache-info element


def test_missing(tanium_sim_replay):
    tanium_sim_replay("nope.har")
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    expected = f"tanium_sim_replay: {suite / 'nope.har'}: no such recording (a HAR file"
    assert next(line for line in result.outlines if "no such recording" in line).startswith(expected)
    assert "Traceback" not in result.stdout.str() and "During handling" not in result.stdout.str()


@pytest.mark.sockets
def test_the_replay_fixture_serves_a_recording_on_a_socket(pytester: pytest.Pytester) -> None:
    write_recording(pytester.path)
    pytester.makepyfile(
        """
import httpx


def test_socket(tanium_sim_replay):
    server = tanium_sim_replay.server("recordings/session.har", speed=0)
    assert server.url.startswith("http://127.0.0.1:")
    url = server.url + "/plugin/products/threat-response/api/v1/conns"
    assert [httpx.get(url, headers={"session": "x"}).json()[0]["status"] for _ in range(2)] == [
        "waiting", "connected"
    ]
"""
    )
    before = set(threading.enumerate())
    run(pytester).assert_outcomes(passed=1)
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


def test_fixtures_and_options_are_documented(pytester: pytest.Pytester) -> None:
    fixtures = run(pytester, "--fixtures").stdout.str()
    for name in ("clock", "sleep", "app", "http", "client", "server", "replay"):
        assert f"tanium_sim_{name} -- " in fixtures
    assert "The simulator on a real socket" in fixtures
    helptext = run(pytester, "--help").stdout.str()
    assert "--tanium-sim-scenario=NAME|PATH" in helptext and "--tanium-sim-seed=N" in helptext
    markers = run(pytester, "--markers").stdout.str()
    assert "@pytest.mark.tanium_sim(scenario=None, **settings)" in markers


def test_loading_the_plugin_imports_nothing_of_the_simulator() -> None:
    probe = (
        "import sys, simulator.pytest_plugin\n"
        "heavy = ['simulator.app', 'simulator.settings', 'client', 'httpx', 'starlette', 'uvicorn']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.tanium_sim(endpoints=2, seed=1)
def test_this_projects_own_suite_has_the_fixtures(
    tanium_sim_app: Starlette, tanium_sim_clock: ManualClock
) -> None:
    assert isinstance(tanium_sim_app, simulator.app.SimulatorApp)
    assert tanium_sim_app.state.backend.fleet.size == 2
    assert tanium_sim_app.state.settings.seed == 1


def test_the_entry_point_is_installed() -> None:
    from importlib.metadata import entry_points

    plugin = [ep.value for ep in entry_points(group="pytest11") if ep.name == "tanium_sim"]
    assert plugin == ["simulator.pytest_plugin"], "reinstall: .venv/bin/pip install -e '.[dev]'"
    assert Path(sys.modules["simulator.pytest_plugin"].__file__ or "").name == "pytest_plugin.py"
