"""Fleet discovery routes and the /_sim/ control namespace."""

from __future__ import annotations

import httpx
import pytest

from .conftest import ADMIN, TR, World

pytestmark = pytest.mark.anyio
BEARER = {"authorization": f"Bearer {ADMIN}"}


async def test_system_status_lists_every_endpoint_then_cache_info(client: httpx.AsyncClient) -> None:
    rows = (await client.get("/api/v2/system_status")).json()["data"]
    *endpoints, cache = rows
    assert len(endpoints) == 12
    assert {
        "computer_id",
        "host_name",
        "ipaddress_client",
        "ipaddress_server",
        "port_number",
        "status",
    } <= set(endpoints[0])
    assert {e["status"] for e in endpoints} <= {"Leader", "Normal"}
    assert set(cache) == {"cache_id", "cache_row_count", "filtered_row_count", "page_row_count", "expiration"}
    assert len({e["computer_id"] for e in endpoints}) == 12


async def test_system_status_paging_with_tanium_options(client: httpx.AsyncClient) -> None:
    rows = (
        await client.get(
            "/api/v2/system_status", headers={"tanium-options": '{"row_start":10,"row_count":5}'}
        )
    ).json()["data"]
    assert len(rows) == 3  # two endpoints and the cache info
    r = await client.get("/api/v2/system_status", headers={"tanium-options": "{bad"})
    assert r.status_code == 400


async def test_dec_endpoints_filters(world: World) -> None:
    ep = world.endpoint(3)
    for params in ({"clientId": ep.client_id}, {"hostname": ep.hostname}, {"ip": ep.ip}):
        (row,) = (await world.client.get("/plugin/products/dec/v1/endpoints", params=params)).json()["data"]
        assert (
            row["clientId"] == ep.client_id
            and row["hostname"] == ep.hostname
            and row["platform"] == ep.platform
        )
    none = (await world.client.get("/plugin/products/dec/v1/endpoints", params={"hostname": "ghost"})).json()
    assert none == {"data": []}
    all_rows = (await world.client.get("/plugin/products/dec/v1/endpoints")).json()["data"]
    assert len(all_rows) == 12


async def test_health_needs_no_auth(client: httpx.AsyncClient) -> None:
    r = await client.get("/_sim/health", headers={"session": ""})
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_sim/state"), ("POST", "/_sim/reset"), ("GET", "/_sim/endpoints/1/manifest")],
)
@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"Basic {ADMIN}", "token-0123456789abcdef"])
async def test_control_routes_need_the_admin_token(
    client: httpx.AsyncClient, method: str, path: str, auth: str | None
) -> None:
    headers = {"authorization": auth} if auth else {}
    r = await client.request(method, path, headers=headers)
    assert r.status_code == 401 and r.json()["text"].startswith("401 Unauthorized")


async def test_state_counts_and_reset(world: World) -> None:
    await world.completed_task(0)
    conn = await world.connected(1)
    await world.client.delete(f"{TR}/conns/close/{conn['id']}")
    state = (await world.client.get("/_sim/state", headers=BEARER)).json()
    assert state["connections"] == {"waiting": 0, "connected": 1, "disconnected": 1, "timeout": 0}
    assert state["tasks"]["COMPLETED"] == 1 and state["evidence"] == 1
    r = await world.client.post("/_sim/reset", headers=BEARER)
    assert r.status_code == 200
    state = (await world.client.get("/_sim/state", headers=BEARER)).json()
    assert state["connections"] == {"waiting": 0, "connected": 0, "disconnected": 0, "timeout": 0}
    assert state["evidence"] == 0 and sum(state["tasks"].values()) == 0


async def test_manifest(world: World) -> None:
    ep = world.endpoint(0)
    r = await world.client.get(f"/_sim/endpoints/{ep.client_id}/manifest", headers=BEARER)
    assert r.status_code == 200
    manifest = r.json()
    assert manifest["client_id"] == ep.client_id and manifest["hostname"] == ep.hostname
    assert manifest["record_count"] == sum(manifest["by_type"].values())
    assert {"expired", "weak_key", "weak_signature", "unencrypted_private_key"} <= set(manifest["findings"])
    r = await world.client.get("/_sim/endpoints/123/manifest", headers=BEARER)
    assert r.status_code == 404
    r = await world.client.get(f"/_sim/endpoints/{ep.client_id}/manifest?scan=0", headers=BEARER)
    assert r.status_code == 400
    ahead = await world.client.get(f"/_sim/endpoints/{ep.client_id}/manifest?scan=11", headers=BEARER)
    assert ahead.status_code == 200 and ahead.json()["scan"] == 11
    far = await world.client.get(f"/_sim/endpoints/{ep.client_id}/manifest?scan=999999999", headers=BEARER)
    assert far.status_code == 400 and "at scan 1" in far.json()["text"]  # answered, not generated for hours


async def test_same_seed_same_trace_different_endpoints_differ(world: World) -> None:
    a = world.backend.manifest(world.endpoint(0).client_id)
    again = world.backend.catalog.trace(world.backend.trace_spec(world.endpoint(0)))
    assert a["sha256"] == again.sha256
    b = world.backend.manifest(world.endpoint(1).client_id)
    assert a["sha256"] != b["sha256"]


async def test_a_dec_listing_answers_at_most_one_page_of_the_fleet() -> None:
    from simulator.api.platform import DEC_MAX_PAGE
    from simulator.app import create_app
    from simulator.settings import Settings

    app = create_app(Settings(endpoints=1_000_000, token="t"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as c:
        r = await c.get(
            "/plugin/products/dec/v1/endpoints", params={"limit": 10**6}, headers={"session": "t"}
        )
    assert r.status_code == 200 and len(r.json()["data"]) == DEC_MAX_PAGE
