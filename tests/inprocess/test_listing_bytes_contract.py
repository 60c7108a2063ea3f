"""``GET /conns`` answers exactly ``orjson.dumps(backend.list_connections())`` in every state.

The handler joins each record's cached JSON instead of serialising the backend's objects on every poll
(loadtests/RESULTS.md, hot path); this holds the two together through a connection's whole life, on
both stores (records read back from Redis come without a cache).
"""

from __future__ import annotations

import orjson
import pytest

from .conftest import TR, World

pytestmark = pytest.mark.anyio


async def _same(world: World) -> list[str]:
    r = await world.client.get(f"{TR}/conns")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-length"] == str(len(r.content))
    assert r.content == orjson.dumps(world.backend.list_connections())
    now = world.backend.now()
    plain = [c.render(now) for c in world.backend.store.values("connections")]
    assert r.content == orjson.dumps(plain)
    return [c["status"] for c in r.json()]


async def test_listing_bytes_follow_every_status(world: World) -> None:
    life = world.backend.settings.lifecycle
    assert await _same(world) == []
    online = next(i for i in range(12) if world.endpoint(i).online)
    offline = next((i for i in range(12) if not world.endpoint(i).online), None)
    conn = await world.connected(online)
    statuses = await _same(world)
    assert statuses == ["connected"]
    await world.client.post(f"{TR}/conns/connect", json={"target": {"clientId": "no-such-client"}})
    if offline is not None:
        await world.client.post(
            f"{TR}/conns/connect", json={"target": {"clientId": world.endpoint(offline).client_id}}
        )
    await world.client.post(
        f"{TR}/conns/connect", json={"target": {"clientId": world.endpoint(online).client_id}}
    )
    seen = set()
    for _ in range(8):  # across the connect delay and the offline timeout, in steps
        seen.update(await _same(world))
        world.clock.advance(life.offline_timeout_s / 4)
    assert {"waiting", "connected", "timeout"} <= seen
    r = await world.client.get(f"{TR}/conns/{conn['id']}")
    assert r.content == orjson.dumps(world.backend.get_connection(conn["id"]))
    await world.client.delete(f"{TR}/conns/close/{conn['id']}")
    assert "disconnected" in await _same(world)
    world.clock.advance(life.idle_timeout_s)
    assert set(await _same(world)) <= {"timeout", "disconnected"}
    await world.client.delete(f"{TR}/conns/delete/{conn['id']}")
    await _same(world)


async def test_listing_after_reset_and_touch(world: World) -> None:
    conn = await world.connected(0)
    before = await _same(world)
    path = world.backend.files.trace_path(world.endpoint(0))
    r = await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})
    assert r.status_code == 200
    assert await _same(world) == before  # touched: a new record, rendered afresh, same answer
    world.backend.reset()
    assert await _same(world) == []
