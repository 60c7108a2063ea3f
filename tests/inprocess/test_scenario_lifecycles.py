"""Scenario behaviour in-process on a manual clock: latency models, lifecycles, bandwidth, clientId
matching and determinism (same seed + same requests -> identical journal)."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.clock import ManualClock, VirtualSleep
from simulator.scenarios import Scenario
from simulator.settings import FleetProfile, Lifecycle, Settings
from simulator.traces.spec import ChurnRates
from tests.inprocess.conftest import ADMIN, TOKEN, TR, World

pytestmark = pytest.mark.anyio


def build(
    text: str, clock: ManualClock, *, seed: int = 3, endpoints: int = 8, **kw: Any
) -> tuple[Starlette, VirtualSleep]:
    sleep = VirtualSleep(clock)
    settings = Settings(seed=seed, endpoints=endpoints, token=TOKEN, admin_token=ADMIN, **kw)
    return create_app(settings, clock=clock, scenario=Scenario.from_text(text), sleep=sleep), sleep


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://s", headers={"session": TOKEN}
    )


LATENCY = """
latency:
  default: {model: fixed, ms: 80}
  operations:
    list_tasks: {model: uniform, min_ms: 20, max_ms: 180}
    list_evidence: {model: normal, mean_ms: 120, stddev_ms: 30}
    module_status: {model: lognormal, median_ms: 60, sigma: 0.7}
"""


async def test_observed_median_latency_per_model_within_10_percent(clock: ManualClock) -> None:
    app, _ = build(LATENCY, clock)
    expected = {"conns": 0.080, "tasks": 0.100, "filedownload": 0.120, "status": 0.060}
    async with client_for(app) as c:
        for suffix, median in expected.items():
            observed = []
            for _ in range(600):
                t0 = clock.now()
                assert (await c.get(f"{TR}/{suffix}")).status_code == 200
                observed.append(clock.now() - t0)
            assert statistics.median(observed) == pytest.approx(median, rel=0.10), suffix


async def test_delay_fault_adds_latency_to_matching_requests(clock: ManualClock) -> None:
    app, sleep = build(
        "faults:\n  - {name: slow, match: {operation: get_task}, fault: {type: delay, latency: 250}}\n", clock
    )
    async with client_for(app) as c:
        await c.get(f"{TR}/conns")
        await c.get(f"{TR}/tasks/1")
    assert sleep.delays == [0.25]


async def test_connect_delay_is_sampled_per_connection(clock: ManualClock) -> None:
    app, _ = build("lifecycle:\n  connect_delay: {model: uniform, min_s: 1, max_s: 9}\n", clock)
    async with client_for(app) as c:
        world = World(app, c, clock)
        for i in range(6):
            await c.post(f"{TR}/conns/connect", json={"target": {"clientId": world.endpoint(i).client_id}})
        clock.advance(10)
        conns = (await c.get(f"{TR}/conns")).json()
    delays = [(x["connectedAt"] - x["initiatedAt"]) / 1000 for x in conns]
    assert all(1 <= d <= 9 for d in delays) and len(set(delays)) == 6


async def test_poll_driven_tasks_with_intermediate_statuses(clock: ManualClock) -> None:
    text = "lifecycle:\n  task_polls: 4\n  intermediate_statuses: [QUEUED, RUNNING]\n"
    app, _ = build(text, clock, lifecycle=Lifecycle(connect_delay_s=1))
    async with client_for(app) as c:
        world = World(app, c, clock)
        conn = await world.connected(0)
        path = world.backend.files.trace_path(world.endpoint(0))
        task_id = (await c.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})).json()["taskInfo"][
            "id"
        ]
        clock.advance(3600)  # time alone does not finish a poll-driven task
        assert (await c.get(f"{TR}/filedownload")).json()["totalCount"] == 0
        statuses = [(await c.get(f"{TR}/tasks/{task_id}")).json()["data"]["status"] for _ in range(5)]
        assert statuses == ["STARTED", "QUEUED", "RUNNING", "COMPLETED", "COMPLETED"]
        assert (await c.get(f"{TR}/filedownload")).json()["totalCount"] == 1


async def test_time_driven_intermediate_statuses(clock: ManualClock) -> None:
    text = "lifecycle:\n  task_duration: 30\n  intermediate_statuses: [RUNNING]\n"
    app, _ = build(text, clock, lifecycle=Lifecycle(connect_delay_s=1))
    async with client_for(app) as c:
        world = World(app, c, clock)
        conn = await world.connected(0)
        path = world.backend.files.trace_path(world.endpoint(0))
        task_id = (await c.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})).json()["taskInfo"][
            "id"
        ]
        seen = []
        for _ in range(4):
            seen.append((await c.get(f"{TR}/tasks/{task_id}")).json()["data"]["status"])
            clock.advance(10)
        assert seen == ["STARTED", "STARTED", "RUNNING", "COMPLETED"]


async def test_outcome_weights_decide_task_results(clock: ManualClock) -> None:
    text = "lifecycle:\n  task_outcomes: {COMPLETED: 2, INCOMPLETE: 1, ERROR: 1}\n"
    app, _ = build(text, clock, endpoints=4, lifecycle=Lifecycle(connect_delay_s=1, task_duration_s=1))
    outcomes: Counter[str] = Counter()
    async with client_for(app) as c:
        world = World(app, c, clock)
        conn = await world.connected(0)
        path = world.backend.files.trace_path(world.endpoint(0))
        for _ in range(80):
            task_id = (await c.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})).json()["taskInfo"][
                "id"
            ]
            clock.advance(1)
            task = (await c.get(f"{TR}/tasks/{task_id}")).json()["data"]
            outcomes[task["status"]] += 1
            if task["status"] == "ERROR":
                assert task["error"] and not task["results"]["fileResults"]
            if task["status"] == "INCOMPLETE":
                assert task["results"]["failed"] == [path]
        assert (await c.get(f"{TR}/filedownload")).json()["totalCount"] == outcomes["COMPLETED"]
    assert set(outcomes) == {"COMPLETED", "INCOMPLETE", "ERROR"}
    assert 25 <= outcomes["COMPLETED"] <= 55


async def test_offline_fraction_and_session_lifetime(clock: ManualClock) -> None:
    text = "lifecycle:\n  offline_fraction: 1.0\n  offline_timeout_s: 20\n  session_lifetime_s: 60\n"
    app, _ = build(text, clock)
    async with client_for(app) as c:
        world = World(app, c, clock)
        await c.post(f"{TR}/conns/connect", json={"target": {"clientId": world.endpoint(0).client_id}})
        clock.advance(19)
        assert (await c.get(f"{TR}/conns")).json()[0]["status"] == "waiting"
        clock.advance(1)
        assert (await c.get(f"{TR}/conns")).json()[0]["status"] == "timeout"
        login = await c.post("/api/v2/session/login", json={"username": "admin", "password": "tanium"})
        session = login.json()["data"]["session"]
        assert (await c.get(f"{TR}/conns", headers={"session": session})).status_code == 200
        clock.advance(60)
        assert (await c.get(f"{TR}/conns", headers={"session": session})).status_code == 403


async def test_bandwidth_limits_evidence_downloads(clock: ManualClock) -> None:
    text = "bandwidth: {bytes_per_s: 100000, per_connection: true, chunk_bytes: 4096}\n"
    app, sleep = build(text, clock, lifecycle=Lifecycle(connect_delay_s=1, task_duration_s=1))
    async with client_for(app) as c:
        world = World(app, c, clock)
        task = await world.completed_task(0)
        uuid = task["results"]["fileResults"][0]["uuid"]
        sleep.delays.clear()
        t0 = clock.now()
        data = (await c.get(f"{TR}/filedownload/data/{uuid}")).content
        elapsed = clock.now() - t0
    assert elapsed == pytest.approx(len(data) / 100_000, rel=0.01)
    assert len(sleep.delays) == -(-len(data) // 4096)


async def test_an_abandoned_paced_download_is_journaled_with_what_was_sent(clock: ManualClock) -> None:
    text = "bandwidth: {bytes_per_s: 100000, per_connection: true, chunk_bytes: 4096}\n"
    app, _ = build(text, clock, lifecycle=Lifecycle(connect_delay_s=1, task_duration_s=1))
    async with client_for(app) as c:
        task = await World(app, c, clock).completed_task(0)
    path = f"{TR}/filedownload/data/{task['results']['fileResults'][0]['uuid']}"
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"session", TOKEN.encode())],
    }
    bodies = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:  # the client goes away after two pieces
        nonlocal bodies
        if message["type"] == "http.response.body":
            bodies += 1
            if bodies > 2:
                raise OSError("connection lost")

    with pytest.raises(OSError, match="connection lost"):
        await app(scope, receive, send)
    entry = app.state.runtime.journal.query(operation="download_evidence")[-1]
    assert (entry.status, entry.bytes) == (200, 2 * 4096)
    assert app.state.runtime.metrics.in_flight == 0


async def test_rules_match_client_ids_from_bodies_paths_and_records(clock: ManualClock) -> None:
    app, _ = build("", clock, lifecycle=Lifecycle(connect_delay_s=1, task_duration_s=1))
    target = app.state.backend.fleet.endpoint(1).client_id
    rule = {"name": "one-host", "match": {"client_id": target}, "fault": {"type": "status", "status": 502}}
    async with client_for(app) as c:
        await c.post("/_sim/faults", json=rule, headers={"authorization": f"Bearer {ADMIN}"})
        world = World(app, c, clock)
        await world.completed_task(0)  # another endpoint: untouched
        r = await c.post(f"{TR}/conns/connect", json={"target": {"clientId": target}})
        assert r.status_code == 502
        await c.delete("/_sim/faults/one-host", headers={"authorization": f"Bearer {ADMIN}"})
        task = await world.completed_task(1)
        await c.post("/_sim/faults", json=rule, headers={"authorization": f"Bearer {ADMIN}"})
        assert (await c.get(f"{TR}/tasks/{task['id']}")).status_code == 502
        uuid = task["results"]["fileResults"][0]["uuid"]
        assert (await c.get(f"{TR}/filedownload/data/{uuid}")).status_code == 502
        assert (await c.get(f"{TR}/conns/{task['_conn']['id']}")).status_code == 502
        journal = (await c.get("/_sim/requests", headers={"authorization": f"Bearer {ADMIN}"})).json()[
            "requests"
        ]
        assert {e["client_id"] for e in journal if e["fault"]} == {target}


DETERMINISM = """
latency:
  default: {model: lognormal, median_ms: 30, sigma: 0.8}
faults:
  - {name: flaky, probability: 0.2, fault: {type: status, status: 503}}
  - {name: limited, match: {operation: get_task}, probability: 0.3, fault: {type: status, status: 429}}
  - {name: spoiled, match: {operation: list_connections}, probability: 0.25, fault: {type: malformed_json}}
lifecycle:
  connect_delay: {model: lognormal, median_s: 2, sigma: 0.5}
  task_outcomes: {COMPLETED: 3, ERROR: 1}
"""


async def run_sequence(seed: int) -> list[dict[str, Any]]:
    clock = ManualClock()
    app, _ = build(DETERMINISM, clock, seed=seed)
    async with client_for(app) as c:
        backend = app.state.backend
        for i in range(8):
            ep = backend.fleet.endpoint(i)
            await c.post(f"{TR}/conns/connect", json={"target": {"clientId": ep.client_id}})
            for _ in range(3):
                await c.get(f"{TR}/conns")
                clock.advance(1)
            for conn in backend.list_connections():
                if conn["status"] == "connected" and conn["clientId"] == ep.client_id:
                    path = backend.files.trace_path(ep)
                    await c.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})
            for task_id in range(1, 4):
                await c.get(f"{TR}/tasks/{task_id}")
        entries = (await c.get("/_sim/requests", headers={"authorization": f"Bearer {ADMIN}"})).json()[
            "requests"
        ]
    return list(entries)


async def test_same_seed_same_requests_identical_journals() -> None:
    first, second = await run_sequence(21), await run_sequence(21)
    assert len(first) >= 60
    assert first == second
    assert {e["fault"] for e in first} >= {"flaky", "limited", "spoiled", None}
    other = await run_sequence(22)
    key = [(e["status"], e["fault"], e["delay_ms"]) for e in first]
    assert key != [(e["status"], e["fault"], e["delay_ms"]) for e in other]


async def test_delays_are_non_blocking_hundreds_wait_at_once(clock: ManualClock) -> None:
    """Every delayed request awaits the sleeper at the same time (no thread or lock per delay)."""
    import asyncio

    release = asyncio.Event()
    waiting = 0

    async def gated_sleep(seconds: float) -> None:
        nonlocal waiting
        waiting += 1
        await release.wait()

    settings = Settings(seed=1, endpoints=2, token=TOKEN, admin_token=ADMIN)
    app = create_app(
        settings, clock=clock, scenario=Scenario.from_text("latency: {default: 100}"), sleep=gated_sleep
    )
    async with client_for(app) as c:
        requests = [asyncio.ensure_future(c.get(f"{TR}/conns")) for _ in range(300)]
        for _ in range(10_000):  # bounded: let the 300 requests run up to their delay
            if waiting == 300:
                break
            await asyncio.sleep(0)
        assert waiting == 300  # all 300 are inside their delay together
        assert app.state.runtime.metrics.in_flight == 300
        release.set()
        assert [r.status_code for r in await asyncio.gather(*requests)] == [200] * 300


SCANS = "scans:\n  interval_s: 600\n  churn: {renew_in_place: 0.5, new_artifacts: 0.2, move_file: 0.1}\n"
ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN}"}


async def test_scans_section_schedules_scans_that_ship_diff_traces(clock: ManualClock) -> None:
    app, _ = build(
        SCANS,
        clock,
        endpoints=2,
        lifecycle=Lifecycle(connect_delay_s=1, task_duration_s=1),
        fleet=FleetProfile(profile_mix={"small": 1.0}),
    )
    backend = app.state.backend
    assert backend.settings.scan_interval_s == 600.0
    assert backend.settings.churn == ChurnRates(renew_in_place=0.5, new_artifacts=0.2, move_file=0.1)
    async with client_for(app) as c:
        shown = (await c.get("/_sim/scenario", headers=ADMIN_HEADERS)).json()
        assert shown["scans"] == {
            "interval_s": 600,
            "churn": {"renew_in_place": 0.5, "new_artifacts": 0.2, "move_file": 0.1},
        }
        world = World(app, c, clock)
        ep = world.endpoint(0)
        manifest_url = f"/_sim/endpoints/{ep.client_id}/manifest"
        first = (await c.get(manifest_url, headers=ADMIN_HEADERS)).json()
        assert first["scan"] == 1 and first["changes"] is None
        clock.advance(1200)  # scan 2 is due at start + (1 + phase) * 600, phase in [0, 1)
        second = (await c.get(manifest_url, headers=ADMIN_HEADERS)).json()
        assert second["scan"] == 2 and second["sha256"] != first["sha256"]
        changes = second["changes"]
        assert changes["added"] > 0 and changes["removed"] > 0, changes  # renewals and moves: both
        task = await world.completed_task(0, path=backend.files.diff_path(ep))
        assert task["status"] == "COMPLETED"
        response = task["results"]["fileResults"][0]["response"]
        assert (response["totalBytes"], response["transferHash"]) == (changes["size"], changes["sha256"])


async def test_put_scenario_scans_count_from_now_and_bad_values_change_nothing(clock: ManualClock) -> None:
    app, _ = build("", clock, endpoints=2)
    backend = app.state.backend
    ep = backend.fleet.endpoint(0)
    async with client_for(app) as c:
        clock.advance(30 * 86_400)  # a month with scans on demand only: nothing was scheduled
        text = "scans:\n  interval_s: 3600\n  churn: none\n"
        r = await c.put("/_sim/scenario", content=text, headers=ADMIN_HEADERS)
        assert r.status_code == 200, r.text
        assert r.json()["scans"] == {"interval_s": 3600, "churn": "none"}
        assert backend.settings.scan_interval_s == 3600.0 and backend.settings.churn == ChurnRates.none()
        assert backend.current_scan(ep) == 1  # not 720: the new interval schedules from now on
        clock.advance(7200)
        assert backend.current_scan(ep) == 2
        before = (await c.get("/_sim/scenario", headers=ADMIN_HEADERS)).json()
        for bad, expected in (
            ("scans:\n  interval_s: -1\n", ":2: scans.interval_s: expected a number >= 0, got -1"),
            ("scans:\n  churn:\n    move_file: 1.5\n", ":3: scans.churn.move_file: expected a number <= 1"),
            ("scans:\n  churn: {pgp_revoked: -0.5}\n", ":2: scans.churn.pgp_revoked: expected a number >= 0"),
            ("scans:\n  interval: 60\n", ":2: scans.interval: unknown field; expected one of interval_s"),
        ):
            r = await c.put("/_sim/scenario", content=bad, headers=ADMIN_HEADERS)
            assert r.status_code == 400, r.text
            assert r.json()["text"].startswith(f"400 Bad Request: PUT /_sim/scenario{expected}"), r.text
        assert (await c.get("/_sim/scenario", headers=ADMIN_HEADERS)).json() == before
        assert backend.settings.scan_interval_s == 3600.0 and backend.settings.churn == ChurnRates.none()
        r = await c.put("/_sim/scenario", content="seed: 3\n", headers=ADMIN_HEADERS)  # no scans: base ones
        assert r.status_code == 200 and backend.settings.scan_interval_s == 0.0
        assert backend.settings.churn == ChurnRates()
        clock.advance(10 * 86_400)
        assert backend.current_scan(ep) == 2  # the scans that ran stay; none are scheduled any more
