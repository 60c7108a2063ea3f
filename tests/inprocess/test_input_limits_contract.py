"""Over-long connect targets and file paths get a 400 envelope and change nothing (docs/api.md §3 limits)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulator.state.backend import TARGET_MAX_CHARS
from simulator.state.filesystem import MAX_PATH_CHARS

from .conftest import TR, World

pytestmark = pytest.mark.anyio


async def _state(client: httpx.AsyncClient) -> tuple[Any, Any]:
    conns = await client.get(f"{TR}/conns")
    tasks = await client.get(f"{TR}/tasks")
    assert conns.status_code == tasks.status_code == 200
    return conns.json(), tasks.json()


def _refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert set(r.json()) == {"text"}
    text = r.json()["text"]
    assert text.startswith("400 Bad Request") and field in text and len(text) < 200, text


async def test_a_900_kb_client_id_is_refused_and_lists_nothing_new(world: World) -> None:
    await world.connected(0)  # some history, so "unchanged" is not just "empty"
    before = await _state(world.client)
    r = await world.client.post(f"{TR}/conns/connect", json={"target": {"clientId": "7" * 900_000}})
    _refused(r, "clientId")
    assert await _state(world.client) == before


@pytest.mark.parametrize("field", sorted(TARGET_MAX_CHARS))
async def test_connect_fields_longer_than_the_limit_are_refused(world: World, field: str) -> None:
    limit = TARGET_MAX_CHARS[field]
    before = await _state(world.client)
    r = await world.client.post(f"{TR}/conns/connect", json={"target": {field: "a" * (limit + 1)}})
    _refused(r, f"target.{field}")
    assert await _state(world.client) == before
    # at the limit it is an ordinary (unknown) target
    r = await world.client.post(f"{TR}/conns/connect", json={"target": {field: "a" * limit}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("route", ["file/info", "file/list"])
async def test_file_paths_longer_than_the_limit_are_refused(world: World, route: str) -> None:
    conn = await world.connected(0)
    long_path = "/opt/" + "a" * MAX_PATH_CHARS
    r = await world.client.get(f"{TR}/conns/{conn['id']}/{route}/{long_path}")
    _refused(r, "path")
    at_limit = "/opt/" + "a" * (MAX_PATH_CHARS - len("/opt/"))
    r = await world.client.get(f"{TR}/conns/{conn['id']}/{route}/{at_limit}")
    assert r.status_code == 404, r.text  # allowed, merely absent


async def test_a_file_request_with_a_long_path_starts_no_task(world: World) -> None:
    conn = await world.connected(0)
    before = await _state(world.client)
    r = await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": "/" + "a" * MAX_PATH_CHARS})
    _refused(r, "path")
    assert await _state(world.client) == before
