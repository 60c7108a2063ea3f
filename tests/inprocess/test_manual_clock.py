"""The control view of the world that `qa --url` drives: the manual clock, peeked tasks, the fleet.

``serve --clock manual`` keeps simulated time in the store; ``POST /_sim/clock`` and the simulator's own
injected delays move it, a reset takes it back to the start. ``GET /_sim/tasks/{id}`` reads a task
without counting as a poll; ``GET /_sim/endpoints`` pages the fleet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.clock import START
from simulator.settings import Settings

from .conftest import ADMIN, TOKEN, TR

pytestmark = pytest.mark.anyio
BEARER = {"authorization": f"Bearer {ADMIN}"}


def manual_app(scenario: str | None = None, **settings: object) -> Starlette:
    base = Settings(seed=5, endpoints=7, token=TOKEN, admin_token=ADMIN, clock="manual", **settings)  # type: ignore[arg-type]
    return create_app(base, scenario=scenario)


@pytest.fixture
async def manual() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=manual_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": TOKEN}) as c:
        yield c


async def advance(client: httpx.AsyncClient, seconds: object) -> httpx.Response:
    return await client.post("/_sim/clock", headers=BEARER, json={"advance_s": seconds})


async def now(client: httpx.AsyncClient) -> float:
    return float((await client.get("/_sim/clock", headers=BEARER)).json()["now"])


async def test_the_manual_clock_starts_at_its_epoch_and_moves_only_when_advanced(
    manual: httpx.AsyncClient,
) -> None:
    clock = (await manual.get("/_sim/clock", headers=BEARER)).json()
    assert clock == {"mode": "manual", "now": START, "iso": "2026-11-21T00:00:00.000Z"}
    await manual.get(f"{TR}/conns")
    assert await now(manual) == START  # a request without injected delay moves nothing
    moved = (await advance(manual, 90)).json()
    assert moved["now"] == START + 90 and moved["iso"] == "2026-11-21T00:01:30.000Z"
    assert (await manual.get("/_sim/state", headers=BEARER)).json()["now"] == START + 90


@pytest.mark.parametrize("bad", [-1, "30", True, None, 1e300])
async def test_a_bad_advance_is_a_400_and_moves_nothing(manual: httpx.AsyncClient, bad: object) -> None:
    r = await advance(manual, bad)
    assert r.status_code == 400 and "advance_s" in r.json()["text"]
    assert await now(manual) == START


async def test_the_clock_routes_need_the_admin_token(manual: httpx.AsyncClient) -> None:
    assert (await manual.get("/_sim/clock")).status_code == 401
    assert (await manual.post("/_sim/clock", json={"advance_s": 5})).status_code == 401
    assert await now(manual) == START


async def test_the_real_clock_cannot_be_moved(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_sim/clock", headers=BEARER)).json()["mode"] == "system"
    r = await client.post("/_sim/clock", headers=BEARER, json={"advance_s": 5})
    assert r.status_code == 409 and "--clock manual" in r.json()["text"]


async def test_connections_follow_the_manual_clock_and_a_reset_takes_it_back(
    manual: httpx.AsyncClient,
) -> None:
    app: Starlette = manual._transport.app  # type: ignore[attr-defined]
    cid = app.state.backend.fleet.endpoint(0).client_id
    assert (await manual.post(f"{TR}/conns/connect", json={"target": {"clientId": cid}})).status_code == 200
    (conn,) = (await manual.get(f"{TR}/conns")).json()
    assert conn["status"] == "waiting"
    await advance(manual, app.state.settings.lifecycle.connect_delay_s)
    (conn,) = (await manual.get(f"{TR}/conns")).json()
    assert conn["status"] == "connected"
    assert (await manual.post("/_sim/reset", headers=BEARER)).status_code == 200
    assert await now(manual) == START
    assert (await manual.get(f"{TR}/conns")).json() == []


async def test_injected_latency_advances_the_manual_clock_instead_of_waiting() -> None:
    app = manual_app(scenario="slow-network")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim", headers={"session": TOKEN}
    ) as c:
        await c.get(f"{TR}/conns")
        moved = await now(c) - START
    assert moved == pytest.approx(app.state.runtime.delay_for("list_connections"), rel=1) and moved > 0


async def test_a_peeked_task_is_not_a_poll(manual: httpx.AsyncClient) -> None:
    app: Starlette = manual._transport.app  # type: ignore[attr-defined]
    body = {"name": "polls", "lifecycle": {"task_polls": 3, "intermediate_statuses": ["RUNNING"]}}
    assert (await manual.put("/_sim/scenario", headers=BEARER, json=body)).status_code == 200
    ep = app.state.backend.fleet.endpoint(0)
    await manual.post(f"{TR}/conns/connect", json={"target": {"clientId": ep.client_id}})
    await advance(manual, app.state.settings.lifecycle.connect_delay_s)
    (conn,) = (await manual.get(f"{TR}/conns")).json()
    path = app.state.backend.files.trace_path(ep)
    task_id = (await manual.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})).json()["taskInfo"][
        "id"
    ]
    for _ in range(5):
        peeked = (await manual.get(f"/_sim/tasks/{task_id}", headers=BEARER)).json()["data"]
        assert peeked["status"] != "COMPLETED"
    statuses = [(await manual.get(f"{TR}/tasks/{task_id}")).json()["data"]["status"] for _ in range(3)]
    assert statuses[-1] == "COMPLETED"
    assert (await manual.get(f"/_sim/tasks/{task_id}", headers=BEARER)).json()["data"][
        "status"
    ] == "COMPLETED"
    assert (await manual.get("/_sim/tasks/999999", headers=BEARER)).status_code == 404
    assert (await manual.get(f"/_sim/tasks/{task_id}")).status_code == 401


async def test_the_fleet_is_listed_a_page_at_a_time(manual: httpx.AsyncClient) -> None:
    app: Starlette = manual._transport.app  # type: ignore[attr-defined]
    fleet = app.state.backend.fleet
    page = (await manual.get("/_sim/endpoints", headers=BEARER, params={"offset": 2, "limit": 3})).json()
    assert page["total"] == 7 and page["offset"] == 2
    assert [row["clientId"] for row in page["endpoints"]] == [fleet.endpoint(i).client_id for i in (2, 3, 4)]
    assert set(page["endpoints"][0]) == {
        *("index", "clientId", "hostname", "ip", "platform", "os", "profile", "online", "hasTrace"),
    }
    tail = (await manual.get("/_sim/endpoints", headers=BEARER, params={"offset": 6, "limit": 1000})).json()
    assert len(tail["endpoints"]) == 1
    past = (await manual.get("/_sim/endpoints", headers=BEARER, params={"offset": 10**30})).json()
    assert past["endpoints"] == []
    for bad in ({"limit": "0"}, {"limit": "x"}, {"offset": "-1"}, {"offset": "9" * 5000}):
        assert (await manual.get("/_sim/endpoints", headers=BEARER, params=bad)).status_code == 400


async def test_state_counts_the_twins_a_repeated_connect_left(manual: httpx.AsyncClient) -> None:
    app: Starlette = manual._transport.app  # type: ignore[attr-defined]
    cid = app.state.backend.fleet.endpoint(1).client_id
    for _ in range(2):
        await manual.post(f"{TR}/conns/connect", json={"target": {"clientId": cid}})
    state = (await manual.get("/_sim/state", headers=BEARER)).json()
    assert state["duplicates"] == {"connections": 2, "evidence": 0}
