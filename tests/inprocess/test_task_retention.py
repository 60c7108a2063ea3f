"""Terminal task retention: past ``Settings.task_retention`` finished tasks, the oldest-finished are
forgotten (404 like an unknown id); running tasks never are, and pruning is batched, not per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.scenarios import Scenario
from simulator.settings import FleetProfile, Lifecycle, Settings
from simulator.state import tasks
from simulator.state.store import MemoryStore
from simulator.state.tasks import MIN_SLACK, TaskRecord, TaskRetention
from tests.inprocess.conftest import ADMIN, TOKEN, TR

pytestmark = pytest.mark.anyio

KEEP = 5
LIFE = Lifecycle(connect_delay_s=1.0, idle_timeout_s=10_000.0, task_duration_s=2.0)


def build(clock: ManualClock, *, keep: int = KEEP, scenario: str = "") -> Starlette:
    settings = Settings(
        seed=5,
        endpoints=2,
        token=TOKEN,
        admin_token=ADMIN,
        lifecycle=LIFE,
        fleet=FleetProfile(profile_mix={"small": 1.0}),
        task_retention=keep,
    )
    return create_app(settings, clock=clock, scenario=Scenario.from_text(scenario))


class Fleet:
    """One connected endpoint of the app, and task requests on it."""

    def __init__(self, app: Starlette, client: httpx.AsyncClient, clock: ManualClock) -> None:
        self.app, self.client, self.clock = app, client, clock
        self.backend = app.state.backend
        self.endpoint = self.backend.fleet.endpoint(0)
        self.cid = ""

    async def connect(self) -> None:
        r = await self.client.post(
            f"{TR}/conns/connect", json={"target": {"clientId": self.endpoint.client_id}}
        )
        assert r.status_code == 200, r.text
        self.clock.advance(LIFE.connect_delay_s)
        conns = (await self.client.get(f"{TR}/conns")).json()
        self.cid = next(c["id"] for c in conns if c["status"] == "connected")

    async def request(self) -> int:
        path = self.backend.files.trace_path(self.endpoint)
        r = await self.client.post(f"{TR}/conns/{self.cid}/file", json={"path": path})
        assert r.status_code == 200, r.text
        task_id: int = r.json()["taskInfo"]["id"]
        return task_id

    async def task(self, task_id: int) -> httpx.Response:
        return await self.client.get(f"{TR}/tasks/{task_id}")

    def stored(self) -> int:
        count: int = self.backend.store.count(tasks.TABLE)
        return count


@asynccontextmanager
async def open_fleet(app: Starlette, clock: ManualClock) -> AsyncIterator[tuple[httpx.AsyncClient, Fleet]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": TOKEN}) as c:
        fleet = Fleet(app, c, clock)
        await fleet.connect()
        yield c, fleet


async def test_finished_tasks_are_bounded_the_newest_kept_and_pruned_ids_answer_404(
    clock: ManualClock,
) -> None:
    app = build(clock)
    async with open_fleet(app, clock) as (client, fleet):
        ids = []
        for _ in range(300):
            ids.append(await fleet.request())
            clock.advance(LIFE.task_duration_s)  # each finishes before the next one starts
            assert fleet.stored() <= KEEP + MIN_SLACK + 1
        assert fleet.backend.task_retention.pruned >= 300 - KEEP - MIN_SLACK - 1
        listed = [t["id"] for t in (await client.get(f"{TR}/tasks")).json()["data"]]
        assert listed == sorted(listed) and listed[-KEEP:] == ids[-KEEP:]  # the newest are kept
        for task_id in ids[-KEEP:]:
            r = await fleet.task(task_id)
            assert r.status_code == 200 and r.json()["data"]["status"] == "COMPLETED"
        pruned, unknown = await fleet.task(ids[0]), await fleet.task(10_000_000)
        assert pruned.status_code == unknown.status_code == 404
        assert pruned.json() == unknown.json() == {"text": "404 Item Not Found"}
        assert pruned.headers["content-type"] == unknown.headers["content-type"]
        state = (await client.get("/_sim/state", headers={"authorization": f"Bearer {ADMIN}"})).json()
        assert sum(state["tasks"].values()) == fleet.stored()


async def test_running_tasks_are_never_pruned_and_the_oldest_finished_go_first(clock: ManualClock) -> None:
    # Poll-driven tasks stay running whatever the clock says, and finish in the order they are polled.
    app = build(clock, scenario="lifecycle:\n  task_polls: 1\n")
    async with open_fleet(app, clock) as (_client, fleet):
        running = [await fleet.request() for _ in range(10)]  # the oldest tasks: never polled
        finished = [await fleet.request() for _ in range(KEEP + MIN_SLACK)]
        for task_id in reversed(finished):  # finish the youngest first, a second apart
            clock.advance(1)
            assert (await fleet.task(task_id)).json()["data"]["status"] == "COMPLETED"
        clock.advance(3600)
        for _ in range(KEEP + MIN_SLACK):  # created and left running: they only push the count up
            running.append(await fleet.request())
        assert fleet.backend.task_retention.pruned == len(finished) - KEEP
        kept = [t for t in finished if (await fleet.task(t)).status_code == 200]
        assert kept == finished[:KEEP]  # finished last, though created first among them
        stored = {t.id for t in fleet.backend.store.values(tasks.TABLE)}
        assert set(running) <= stored  # every running task is still there
        for task_id in running[:10]:
            assert (await fleet.task(task_id)).json()["data"]["status"] == "COMPLETED"  # its first poll


async def test_a_retention_of_zero_keeps_every_task_and_reset_starts_over(clock: ManualClock) -> None:
    app = build(clock, keep=0)
    async with open_fleet(app, clock) as (client, fleet):
        for _ in range(KEEP + MIN_SLACK + 20):
            await fleet.request()
            clock.advance(LIFE.task_duration_s)
        assert fleet.stored() == KEEP + MIN_SLACK + 20 and fleet.backend.task_retention.pruned == 0
        r = await client.post("/_sim/reset", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200 and fleet.stored() == 0


class CountingStore(MemoryStore):
    """A memory store that counts full scans of the task table."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0

    def values(self, table: str) -> Any:
        if table == tasks.TABLE:
            self.scans += 1
        return super().values(table)


def record(task_id: int, created_at: float) -> TaskRecord:
    return TaskRecord(task_id, "c", "1", "h", "/p", created_at, 1.0, "COMPLETED", None, None, 0, "")


@pytest.mark.parametrize("keep", [1, 100, 1000])
def test_pruning_is_batched_a_table_scan_per_slack_of_new_tasks(keep: int) -> None:
    store, retention = CountingStore(), TaskRetention(keep)
    created = 20_000
    for i in range(1, created + 1):
        store.put(tasks.TABLE, str(i), record(i, float(i)))
        retention.after_create(store, now=float(i) + 0.5)  # all but the newest have finished
        assert store.count(tasks.TABLE) <= keep + max(MIN_SLACK, keep // 10, (keep + 1) // 8) + 1
    assert 0 < store.scans <= created // max(MIN_SLACK, keep // 10) + 1
    assert retention.pruned == created - store.count(tasks.TABLE)
    assert store.get(tasks.TABLE, str(created)) is not None  # the running one


def test_serve_refuses_a_negative_retention_in_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    assert main(["serve", "--port", "0", "--task-retention", "-1"]) == 2
    err = capsys.readouterr().err
    assert err == "tanium-sim: task_retention must be >= 0 (0: keep every task)\n"
