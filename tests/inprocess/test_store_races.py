"""Races between slow file operations and close / delete / reset: the acknowledged operation wins.

A file request, ``file/info`` or ``file/list`` does slow work (the endpoint's trace generated on first
use) between checking its connection and writing. Each test holds that slow step on a gate (a
``threading.Event``; the handler runs in a worker thread), lands the racing request through the API
and sees it answered 200, then releases the gate. Before the store had atomic updates, the slow request
wrote back the connection it had read: the close was undone, the deleted connection came back, a reset
left a connection, a task and an evidence item behind.

Every test runs on both stores (tests/inprocess/conftest.py: BOTH_STORES).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from simulator.state import connections, evidence, tasks
from simulator.traces import GeneratedTrace, TraceSpec

from .conftest import ADMIN, TR, World

pytestmark = pytest.mark.anyio
GATE_S = 10.0  # bounded waits: a broken gate fails the test instead of hanging it


class SlowTrace:
    """Holds the first trace generation until released (the slow step, made deterministic)."""

    def __init__(self, world: World) -> None:
        self.catalog = world.backend.catalog
        self.original: Callable[[TraceSpec], GeneratedTrace] = self.catalog.trace
        self.entered = threading.Event()
        self.release = threading.Event()
        self.held = 0

    def __call__(self, spec: TraceSpec) -> GeneratedTrace:
        if not self.release.is_set():
            self.held += 1
            self.entered.set()
            if not self.release.wait(GATE_S):
                raise RuntimeError("the test never released the slow step")
        return self.original(spec)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, GATE_S), "the request never reached its slow step"


@pytest.fixture
def slow(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowTrace]:
    gate = SlowTrace(world)
    monkeypatch.setattr(world.backend.catalog, "trace", gate)
    yield gate
    gate.release.set()


async def _start(world: World, op: str, cid: str) -> asyncio.Task[httpx.Response]:
    ep = world.endpoint(0)
    if op == "request_file":
        call = world.client.post(f"{TR}/conns/{cid}/file", json={"path": world.backend.files.trace_path(ep)})
    elif op == "file_info":
        call = world.client.get(f"{TR}/conns/{cid}/file/info/{world.backend.files.trace_path(ep)}")
    else:
        folder = world.backend.files.trace_path(ep).rsplit("/", 1)[0]
        call = world.client.get(f"{TR}/conns/{cid}/file/list/{folder}")
    return asyncio.ensure_future(call)


def _rows(world: World, table: str) -> list[Any]:
    return list(world.backend.store.values(table))


SLOW_OPS = ("request_file", "file_info", "file_list")


@pytest.mark.parametrize("op", SLOW_OPS)
async def test_a_close_during_a_slow_file_operation_stays_closed(
    world: World, slow: SlowTrace, op: str
) -> None:
    conn = await world.connected(0)
    pending = await _start(world, op, conn["id"])
    await slow.wait_entered()
    closed = await world.client.delete(f"{TR}/conns/close/{conn['id']}")
    assert closed.status_code == 200
    slow.release.set()
    late = await pending
    assert late.status_code == 400, late.text  # it is answered as if it came after the close
    (listed,) = (await world.client.get(f"{TR}/conns")).json()
    assert listed["status"] == "disconnected"
    assert _rows(world, tasks.TABLE) == [] and _rows(world, evidence.TABLE) == []


@pytest.mark.parametrize("op", SLOW_OPS)
async def test_a_delete_during_a_slow_file_operation_stays_deleted(
    world: World, slow: SlowTrace, op: str
) -> None:
    conn = await world.connected(0)
    pending = await _start(world, op, conn["id"])
    await slow.wait_entered()
    deleted = await world.client.delete(f"{TR}/conns/delete/{conn['id']}")
    assert deleted.status_code == 200
    slow.release.set()
    late = await pending
    assert late.status_code == 404, late.text
    assert (await world.client.get(f"{TR}/conns")).json() == []
    assert _rows(world, connections.TABLE) == [] and _rows(world, tasks.TABLE) == []


@pytest.mark.parametrize("op", SLOW_OPS)
async def test_a_reset_during_a_slow_file_operation_leaves_nothing_behind(
    world: World, slow: SlowTrace, op: str
) -> None:
    conn = await world.connected(0)
    pending = await _start(world, op, conn["id"])
    await slow.wait_entered()
    reset = await world.client.post("/_sim/reset", headers={"Authorization": f"Bearer {ADMIN}"})
    assert reset.status_code == 200
    slow.release.set()
    late = await pending
    assert late.status_code == 404, late.text  # its connection is gone with the old world
    for table in (connections.TABLE, tasks.TABLE, evidence.TABLE):
        assert _rows(world, table) == [], table
    state = (await world.client.get("/_sim/state", headers={"Authorization": f"Bearer {ADMIN}"})).json()
    assert state["evidence"] == state["evidence_pending"] == 0
    assert sum(state["connections"].values()) == 0 and sum(state["tasks"].values()) == 0


async def test_a_file_request_that_wins_the_race_is_kept_whole(world: World, slow: SlowTrace) -> None:
    """The other order: the request commits first, then the close; both are in the final state."""
    conn = await world.connected(0)
    pending = await _start(world, "request_file", conn["id"])
    await slow.wait_entered()
    slow.release.set()
    accepted = await pending
    assert accepted.status_code == 200
    assert (await world.client.delete(f"{TR}/conns/close/{conn['id']}")).status_code == 200
    (listed,) = (await world.client.get(f"{TR}/conns")).json()
    assert listed["status"] == "disconnected"
    (task,) = _rows(world, tasks.TABLE)
    assert task.id == accepted.json()["taskInfo"]["id"]
    assert [e.task_id for e in _rows(world, evidence.TABLE)] == [task.id]


async def test_concurrent_polls_of_a_poll_driven_task_each_count(world: World) -> None:
    """GET /tasks/{id} updates a poll counter: parallel polls must not overwrite each other."""
    settings = world.backend.settings
    world.backend.settings = replace(settings, lifecycle=replace(settings.lifecycle, task_polls=50))
    conn = await world.connected(0)
    path = world.backend.files.trace_path(world.endpoint(0))
    task_id = (await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})).json()[
        "taskInfo"
    ]["id"]

    def poll() -> None:
        world.backend.get_task(str(task_id))

    threads = [threading.Thread(target=lambda: [poll() for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(GATE_S)
    (task,) = _rows(world, tasks.TABLE)
    assert task.polls == 40


async def test_stress_close_delete_against_file_requests(world: World, slow: SlowTrace) -> None:
    """Many file requests with closes and deletes racing them, on real threads: the final state is
    exactly what the acknowledged operations say, whatever the interleaving. The slow step stays held
    until every close and delete was answered, so at least one request's slow work overlaps them."""
    count = 8
    conns = [await world.connected(i % world.backend.fleet.size) for i in range(count)]

    async def file_request(i: int) -> httpx.Response:
        ep = world.endpoint(i % world.backend.fleet.size)
        path = world.backend.files.trace_path(ep)
        return await world.client.post(f"{TR}/conns/{conns[i]['id']}/file", json={"path": path})

    async def other(i: int) -> httpx.Response:
        verb = "close" if i % 2 else "delete"
        return await world.client.delete(f"{TR}/conns/{verb}/{conns[i]['id']}")

    pending = [asyncio.ensure_future(file_request(i)) for i in range(count)]
    await slow.wait_entered()
    others = await asyncio.gather(*(other(i) for i in range(count)))
    slow.release.set()
    files = await asyncio.gather(*pending)
    assert all(r.status_code == 200 for r in others)
    stored = {c.id: c for c in _rows(world, connections.TABLE)}
    for i, conn in enumerate(conns):
        if i % 2:  # closed: still listed, and disconnected
            assert stored[conn["id"]].closed_at is not None
        else:  # deleted: gone for good
            assert conn["id"] not in stored
    accepted = {r.json()["taskInfo"]["id"] for r in files if r.status_code == 200}
    assert all(r.status_code in (200, 400, 404) for r in files)
    assert {t.id for t in _rows(world, tasks.TABLE)} == accepted
    assert {e.task_id for e in _rows(world, evidence.TABLE)} <= accepted
