"""The /_sim/ control routes for scenarios: scenario get/put, live fault rules, reset areas, journal,
metrics and OpenAPI; HTTP-level faults as a client sees them; faulted requests change nothing."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.scenarios import Scenario
from simulator.settings import Settings
from tests.inprocess.conftest import ADMIN, TOKEN, TR, World

pytestmark = pytest.mark.anyio
AUTH = {"authorization": f"Bearer {ADMIN}"}


def make_app(text: str, clock: ManualClock, **kw: Any) -> Starlette:
    settings = Settings(seed=3, endpoints=6, token=TOKEN, admin_token=ADMIN, **kw)
    return create_app(settings, clock=clock, scenario=Scenario.from_text(text))


@pytest.fixture
async def admin(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=AUTH) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_sim/scenario"),
        ("PUT", "/_sim/scenario"),
        ("GET", "/_sim/faults"),
        ("POST", "/_sim/faults"),
        ("DELETE", "/_sim/faults"),
        ("DELETE", "/_sim/faults/x"),
        ("POST", "/_sim/reset"),
        ("GET", "/_sim/requests"),
        ("GET", "/_sim/metrics"),
        ("GET", "/_sim/openapi.json"),
    ],
)
async def test_control_routes_need_the_admin_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    r = await client.request(method, path, headers={"authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["text"].startswith("401")
    assert (await client.get("/_sim/health")).status_code == 200


async def test_put_scenario_applies_it_and_an_invalid_one_changes_nothing(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, world: World
) -> None:
    assert (await admin.get("/_sim/scenario")).json()["name"] == "baseline"
    good = (
        "faults:\n  - name: conns-down\n    match: {operation: list_connections}\n"
        "    fault: {type: status, status: 503}\n"
    )
    r = await admin.put("/_sim/scenario", content=good, headers={"content-type": "application/yaml"})
    assert r.status_code == 200, r.text
    assert [f["name"] for f in r.json()["faults"]] == ["conns-down"]
    assert (await client.get(f"{TR}/conns")).status_code == 503
    before = (await admin.get("/_sim/scenario")).json()
    for bad, expected in (
        (
            "faults:\n  - name: x\n    fault: {type: explode}\n",
            ":3: faults[0].fault.type",
        ),
        ("latency:\n  default: {model: fixed, ms: -1}\n", ":2: latency.default.ms"),
        (
            "faults:\n  - name: x\n    probability: 1.01\n    fault: {type: reset}\n",
            ":3: faults[0].probability",
        ),
        ("faults: [\n", "not valid YAML"),
    ):
        r = await admin.put("/_sim/scenario", content=bad)
        assert r.status_code == 400 and expected in r.json()["text"], r.text
        assert r.json()["text"].startswith("400 Bad Request: PUT /_sim/scenario")
    assert (await admin.get("/_sim/scenario")).json() == before
    assert (await client.get(f"{TR}/conns")).status_code == 503
    r = await admin.put("/_sim/scenario", params={"name": "task-errors"})
    assert r.status_code == 200 and r.json()["name"] == "task-errors"
    assert world.backend.settings.lifecycle.outcome_weights
    assert (await client.get(f"{TR}/conns")).status_code == 200
    assert (await admin.put("/_sim/scenario", params={"name": "nope"})).status_code == 400


async def test_fault_rules_added_listed_and_removed_live(
    client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    rule = {
        "name": "limit",
        "match": {"operation": "list_connections"},
        "times": 1,
        "fault": {"type": "status", "status": 429, "retry_after_s": 7},
    }
    r = await admin.post("/_sim/faults", json=rule)
    assert r.status_code == 201 and r.json()["name"] == "limit"
    assert (await admin.post("/_sim/faults", json=rule)).status_code == 400  # same name
    bad = await admin.post("/_sim/faults", json={**rule, "name": "b", "probability": 3})
    assert bad.status_code == 400 and "probability" in bad.json()["text"]
    r = await client.get(f"{TR}/conns")
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json() == {"text": "429 Too Many Requests: injected by the scenario"}
    assert (await client.get(f"{TR}/conns")).status_code == 200  # times: 1
    (listed,) = (await admin.get("/_sim/faults")).json()["faults"]
    assert (listed["matched"], listed["fired"]) == (2, 1)
    await admin.post(
        "/_sim/faults", json={"name": "gone", "fault": {"type": "session_invalid"}}, params={"position": 0}
    )
    assert (await client.get(f"{TR}/conns")).status_code == 401
    assert (await admin.delete("/_sim/faults/gone")).json() == {"removed": 1}
    assert (await admin.delete("/_sim/faults/gone")).status_code == 404
    assert (await client.get(f"{TR}/conns")).status_code == 200
    assert (await admin.delete("/_sim/faults")).json() == {"removed": 1}
    assert (await admin.get("/_sim/faults")).json() == {"faults": []}


async def test_faulted_requests_change_nothing(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, world: World
) -> None:
    for fault in ({"type": "status", "status": 503}, {"type": "session_expired"}):
        await admin.post(
            "/_sim/faults", json={"name": "x", "match": {"operation": "connect"}, "fault": fault}
        )
        ep = world.endpoint(0)
        r = await client.post(f"{TR}/conns/connect", json={"target": {"clientId": ep.client_id}})
        assert r.status_code in (503, 403)
        assert (await client.get(f"{TR}/conns")).json() == []
        await admin.delete("/_sim/faults/x")


async def test_reset_areas(client: httpx.AsyncClient, admin: httpx.AsyncClient, world: World) -> None:
    await admin.post(
        "/_sim/faults", json={"name": "live", "match": {"operation": "get_task"}, "fault": {"type": "empty"}}
    )
    await world.connected(0)
    assert (await admin.get("/_sim/requests")).json()["count"] == 2
    assert (await admin.post("/_sim/reset", params={"area": "bogus"})).status_code == 400
    assert (await admin.post("/_sim/reset", params={"area": "journal"})).json()["area"] == "journal"
    assert (await admin.get("/_sim/requests")).json()["count"] == 0
    assert len((await client.get(f"{TR}/conns")).json()) == 1
    await admin.post("/_sim/reset", params={"area": "faults"})  # back to the scenario's own rules
    assert (await admin.get("/_sim/faults")).json()["faults"] == []
    await admin.post("/_sim/reset", params={"area": "state"})
    assert (await client.get(f"{TR}/conns")).json() == []
    await admin.post("/_sim/reset")
    assert (await admin.get("/_sim/requests")).json()["count"] == 0


async def test_journal_filters_count_cap_and_off_switch(clock: ManualClock) -> None:
    app = create_app(
        Settings(seed=1, endpoints=3, token=TOKEN, admin_token=ADMIN),
        clock=clock,
        scenario=Scenario.from_text(
            "faults:\n  - {name: odd, match: {operation: get_task}, every_n: 2,\n"
            "     fault: {type: status, status: 500}}\n"
        ),
        journal_capacity=4,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s", headers={"session": TOKEN}) as c:
        for i in range(6):
            await c.get(f"{TR}/tasks/{i}")
        body = (await c.get("/_sim/requests", headers=AUTH)).json()
        assert (body["total"], body["dropped"], body["count"], body["capacity"]) == (6, 2, 4, 4)
        faulted = (await c.get("/_sim/requests", headers=AUTH, params={"fault": "odd"})).json()["requests"]
        assert [e["status"] for e in faulted] == [500, 500]
        assert all(e["operation"] == "get_task" and e["fault_type"] == "status" for e in faulted)
        nf = (await c.get("/_sim/requests", headers=AUTH, params={"status": 404, "limit": 1})).json()
        assert nf["count"] == 1 and nf["requests"][0]["path"] == f"{TR}/tasks/4"
        assert (await c.get("/_sim/requests", headers=AUTH, params={"faulted": "maybe"})).status_code == 400
    off = create_app(
        Settings(seed=1, endpoints=3, token=TOKEN, admin_token=ADMIN, journal=False), clock=clock
    )
    transport = httpx.ASGITransport(app=off)
    async with httpx.AsyncClient(transport=transport, base_url="http://s", headers={"session": TOKEN}) as c:
        await c.get(f"{TR}/conns")
        body = (await c.get("/_sim/requests", headers=AUTH)).json()
        assert (body["enabled"], body["count"]) == (False, 0)


async def test_metrics_count_requests_faults_and_bytes(
    client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await admin.post(
        "/_sim/faults",
        json={"name": "nope", "match": {"operation": "list_tasks"}, "fault": {"type": "reset"}},
    )
    await client.get(f"{TR}/conns")
    with pytest.raises(httpx.ReadError):  # in-process stand-in for a reset (no socket)
        await client.get(f"{TR}/tasks")
    r = await admin.get("/_sim/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'tanium_sim_requests_total{operation="list_connections",status="200"} 1.0' in text
    assert 'tanium_sim_requests_total{operation="list_tasks",status="none"} 1.0' in text
    assert 'tanium_sim_faults_total{rule="nope",type="reset"} 1.0' in text
    assert 'tanium_sim_response_bytes_total{operation="list_connections"} 2.0' in text
    assert "tanium_sim_requests_in_flight 0.0" in text


async def test_openapi_describes_vendor_and_control_routes(admin: httpx.AsyncClient) -> None:
    doc = (await admin.get("/_sim/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    ops = {
        item["operationId"]: (path, method, item)
        for path, methods in doc["paths"].items()
        for method, item in methods.items()
    }
    for name in (
        "connect",
        "list_connections",
        "get_task",
        "download_evidence",
        "delete_evidence",
        "login",
        "sim_scenario_put",
        "sim_faults_add",
        "sim_requests",
        "sim_metrics",
        "sim_openapi",
        "sim_health",
    ):
        assert name in ops, name
    assert ops["get_task"][0] == f"{TR}/tasks/{{task_id}}"
    assert ops["get_task"][2]["security"] == [{"session": []}]
    assert ops["sim_faults_add"][2]["security"] == [{"adminBearer": []}]
    assert ops["sim_health"][2]["security"] == []
    assert ops["file_info"][0].endswith("/file/info/{path}")


async def test_http_faults_spoil_real_answers(clock: ManualClock) -> None:
    text = """
faults:
  - {name: empty, match: {operation: list_connections}, times: 1, fault: {type: empty}}
  - {name: bad-json, match: {operation: list_connections}, times: 1, fault: {type: malformed_json}}
  - name: html
    match: {operation: list_connections}
    times: 1
    fault: {type: content_type, content_type: text/html}
  - {name: zip, match: {operation: download_evidence}, times: 1, fault: {type: corrupt, bytes: 64}}
"""
    app = make_app(
        text, clock, lifecycle=Settings().lifecycle.__class__(connect_delay_s=1, task_duration_s=1)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s", headers={"session": TOKEN}) as c:
        r = await c.get(f"{TR}/conns")
        assert r.status_code == 200 and r.content == b""
        r = await c.get(f"{TR}/conns")
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(r.content)
        r = await c.get(f"{TR}/conns")
        assert r.headers["content-type"] == "text/html" and r.json() == []
        world = World(app, c, clock)
        task = await world.completed_task(0)
        uuid = task["results"]["fileResults"][0]["uuid"]
        spoiled = (await c.get(f"{TR}/filedownload/data/{uuid}")).content
        clean = (await c.get(f"{TR}/filedownload/data/{uuid}")).content
        assert len(spoiled) == len(clean) and spoiled != clean
        with zipfile.ZipFile(io.BytesIO(clean)) as zf:
            zf.read(zf.namelist()[0], pwd=b"infected")  # the next download is intact again
