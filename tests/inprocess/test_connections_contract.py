"""Connections: connect's quoted string, the listed object, and every status value over time."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.settings import Lifecycle, Settings
from simulator.state.store import Store

from .conftest import TOKEN, TR, World

pytestmark = pytest.mark.anyio

CONNECTION_KEYS = {
    "sessionId",
    "ip",
    "hostname",
    "clientId",
    "platform",
    "initiatedAt",
    "status",
    "message",
    "userId",
    "personaId",
    "id",
}


async def test_connect_returns_a_quoted_json_string(world: World) -> None:
    ep = world.endpoint(0)
    r = await world.client.post(f"{TR}/conns/connect", json={"target": {"clientId": ep.client_id}})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.content == f'"remote:undefined:{ep.client_id}:"'.encode()


async def test_connect_accepts_the_long_target_form_with_none_strings(world: World) -> None:
    ep = world.endpoint(1)
    target = {"hostname": "None", "clientId": ep.client_id, "ip": "None", "platform": "None"}
    r = await world.client.post(f"{TR}/conns/connect", json={"target": target})
    assert r.json() == f"remote:undefined:{ep.client_id}:"


async def test_connect_by_hostname_only(world: World) -> None:
    ep = world.endpoint(2)
    r = await world.client.post(f"{TR}/conns/connect", json={"target": {"hostname": ep.hostname}})
    assert r.json() == f"remote:{ep.hostname}:{ep.client_id}:"


async def test_waiting_then_connected_with_listed_shape(world: World) -> None:
    ep = world.endpoint(0)
    await world.client.post(f"{TR}/conns/connect", json={"target": {"clientId": ep.client_id}})
    (conn,) = (await world.client.get(f"{TR}/conns")).json()
    assert set(conn) == CONNECTION_KEYS  # eid, connectedAt, hasTools absent while never connected
    assert conn["status"] == "waiting" and conn["message"] == ""
    world.clock.advance(1.0)
    (conn,) = (await world.client.get(f"{TR}/conns")).json()
    assert set(conn) == CONNECTION_KEYS | {"eid", "connectedAt", "hasTools"}
    assert conn["status"] == "connected"
    assert conn["id"] == f"remote:{ep.hostname}:{ep.client_id}:{conn['eid']}"
    assert conn["clientId"] == ep.client_id and isinstance(conn["clientId"], str)
    assert isinstance(conn["userId"], str) and isinstance(conn["eid"], str)
    assert isinstance(conn["personaId"], int)
    assert conn["connectedAt"] - conn["initiatedAt"] == 1000  # epoch milliseconds
    assert conn["sessionId"] is None and conn["hasTools"] is True
    assert conn["platform"] == ep.platform and conn["ip"] == ep.ip


async def test_get_one_connection(world: World) -> None:
    conn = await world.connected(0)
    r = await world.client.get(f"{TR}/conns/{conn['id']}")
    assert r.status_code == 200 and r.json() == conn


async def test_close_disconnects_with_message_and_stays_listed(world: World) -> None:
    conn = await world.connected(0)
    r = await world.client.delete(f"{TR}/conns/close/{conn['id']}")
    assert r.status_code == 200 and r.json() == {}
    listed = (await world.client.get(f"{TR}/conns")).json()
    assert listed[0]["status"] == "disconnected"
    assert listed[0]["message"] == "The connection has been disconnected."
    # closing twice is harmless
    assert (await world.client.delete(f"{TR}/conns/close/{conn['id']}")).status_code == 200


async def test_delete_removes_the_record(world: World) -> None:
    conn = await world.connected(0)
    assert (await world.client.delete(f"{TR}/conns/delete/{conn['id']}")).json() == {}
    assert (await world.client.get(f"{TR}/conns")).json() == []
    r = await world.client.get(f"{TR}/conns/{conn['id']}")
    assert r.status_code == 404 and r.json() == {"text": "404 Item Not Found"}


async def test_unknown_endpoint_times_out(world: World) -> None:
    r = await world.client.post(f"{TR}/conns/connect", json={"target": {"clientId": "123"}})
    assert r.json() == "remote:undefined:123:"
    world.clock.advance(4.9)
    assert (await world.client.get(f"{TR}/conns")).json()[0]["status"] == "waiting"
    world.clock.advance(0.2)
    (conn,) = (await world.client.get(f"{TR}/conns")).json()
    assert conn["status"] == "timeout"
    assert conn["message"] == "The connection has timed out."
    assert "connectedAt" not in conn and "eid" not in conn


async def test_offline_endpoints_time_out(clock: ManualClock, store: Store | None) -> None:
    settings = Settings(
        endpoints=3, token=TOKEN, lifecycle=Lifecycle(offline_fraction=1.0, offline_timeout_s=3.0)
    )
    app = create_app(settings, clock=clock, store=store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim", headers={"session": TOKEN}
    ) as client:
        ep = app.state.backend.fleet.endpoint(0)
        await client.post(f"{TR}/conns/connect", json={"target": {"clientId": ep.client_id}})
        clock.advance(3.0)
        (conn,) = (await client.get(f"{TR}/conns")).json()
        assert conn["status"] == "timeout" and conn["hostname"] == ep.hostname


async def test_idle_connections_time_out(world: World) -> None:
    conn = await world.connected(0)
    world.clock.advance(59.0)
    assert (await world.client.get(f"{TR}/conns/{conn['id']}")).json()["status"] == "connected"
    world.clock.advance(1.0)
    timed_out = (await world.client.get(f"{TR}/conns/{conn['id']}")).json()
    assert timed_out["status"] == "timeout" and "connectedAt" in timed_out


async def test_historical_entries_coexist(world: World) -> None:
    first = await world.connected(0)
    await world.client.delete(f"{TR}/conns/close/{first['id']}")
    second = await world.connected(0)
    listed = (await world.client.get(f"{TR}/conns")).json()
    assert [c["status"] for c in listed] == ["disconnected", "connected"]
    assert first["id"] != second["id"]
    assert {c["clientId"] for c in listed} == {first["clientId"]}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"target": "123"},
        {"target": {}},
        {"target": {"clientId": None}},
        {"target": {"clientId": ["1"]}},
        {"target": {"clientId": {"a": 1}}},
        [],
        "remote",
    ],
)
async def test_connect_bad_bodies_are_400(client: httpx.AsyncClient, body: object) -> None:
    r = await client.post(f"{TR}/conns/connect", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["text"].startswith("400 Bad Request")
    assert (await client.get(f"{TR}/conns")).json() == []  # nothing changed


async def test_unknown_connection_ids_are_404(client: httpx.AsyncClient, app: Starlette) -> None:
    for method, path in [
        ("GET", f"{TR}/conns/remote:nope:1:9"),
        ("DELETE", f"{TR}/conns/close/remote:nope:1:9"),
        ("DELETE", f"{TR}/conns/delete/remote:nope:1:9"),
        ("POST", f"{TR}/conns/remote:nope:1:9/file"),
    ]:
        r = await client.request(method, path, json={"path": "/opt/x"})
        assert r.status_code == 404, (method, path)
        assert r.json() == {"text": "404 Item Not Found"}
