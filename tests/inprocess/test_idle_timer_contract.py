"""A connection's idle timer: every use on the connection (file info, file list, a file request) restarts it.

The idle timeout (60 s in these fixtures) counts from the connection's last use, not from when it
connected: a collector that keeps working on a connection must not see it time out under it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from .conftest import TR, World

pytestmark = pytest.mark.anyio

Use = Callable[[World, str], Awaitable[httpx.Response]]


def _parent(path: str) -> str:
    return path[: max(path.rfind("/"), path.rfind("\\"))]


async def _file_info(world: World, cid: str) -> httpx.Response:
    path = world.backend.files.trace_path(world.endpoint(0))
    return await world.client.get(f"{TR}/conns/{cid}/file/info/{path}")


async def _file_list(world: World, cid: str) -> httpx.Response:
    folder = _parent(world.backend.files.trace_path(world.endpoint(0)))
    return await world.client.get(f"{TR}/conns/{cid}/file/list/{folder}")


async def _request_file(world: World, cid: str) -> httpx.Response:
    path = world.backend.files.trace_path(world.endpoint(0))
    return await world.client.post(f"{TR}/conns/{cid}/file", json={"path": path})


USES: dict[str, Use] = {"file_info": _file_info, "file_list": _file_list, "request_file": _request_file}


async def _status(world: World, cid: str) -> str:
    status: str = (await world.client.get(f"{TR}/conns/{cid}")).json()["status"]
    return status


@pytest.mark.parametrize("use", list(USES))
async def test_each_use_restarts_the_idle_timer(world: World, use: str) -> None:
    idle = world.backend.settings.lifecycle.idle_timeout_s
    conn = await world.connected(0)
    world.clock.advance(idle - 1)
    r = await USES[use](world, conn["id"])
    assert r.status_code == 200, r.text
    # Past the idle timeout counted from the connect, within it counted from the use: still connected.
    world.clock.advance(idle - 1)
    assert await _status(world, conn["id"]) == "connected"
    world.clock.advance(1)  # a full idle timeout since the use
    assert await _status(world, conn["id"]) == "timeout"


async def test_reading_the_connection_does_not_restart_the_idle_timer(world: World) -> None:
    """Only uses count: polling GET /conns/{id} must not keep an abandoned connection alive."""
    idle = world.backend.settings.lifecycle.idle_timeout_s
    conn = await world.connected(0)
    for _ in range(3):
        world.clock.advance(idle / 4)
        assert await _status(world, conn["id"]) == "connected"
    world.clock.advance(idle / 4)
    assert await _status(world, conn["id"]) == "timeout"
