"""In-process fixtures: the simulator app on a manual clock, driven by httpx through ASGITransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.settings import Lifecycle, Settings
from simulator.state.store import Store
from tests.inprocess.tanium_fakes import FakeTanium

TR = "/plugin/products/threat-response/api/v1"
TOKEN = "token-0123456789abcdef"
ADMIN = "admin-secret"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    """respx in front of every httpx call of the test (routes not called are fine)."""
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def fake(mock: respx.MockRouter) -> FakeTanium:
    """A scripted Threat Response on ``mock`` (tests/inprocess/tanium_fakes.py)."""
    return FakeTanium(mock)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def lifecycle() -> Lifecycle:
    return Lifecycle(connect_delay_s=1.0, offline_timeout_s=5.0, idle_timeout_s=60.0, task_duration_s=2.0)


@pytest.fixture
def settings(lifecycle: Lifecycle) -> Settings:
    return Settings(
        seed=11,
        endpoints=12,
        token=TOKEN,
        admin_token=ADMIN,
        lifecycle=lifecycle,
        fleet=Settings().fleet.__class__(profile_mix={"small": 1.0}),
    )


# Modules whose tests run on both stores: the vendor contract and the races (issue: shared state).
BOTH_STORES = ("_contract", "test_store_races")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames:
        both = any(part in metafunc.module.__name__ for part in BOTH_STORES)
        kinds = [
            "memory",
            *([pytest.param("redis", marks=pytest.mark.redis)] if both else []),
        ]
        metafunc.parametrize("store_kind", kinds, indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "memory"))


@pytest.fixture
def store(store_kind: str, request: pytest.FixtureRequest) -> Iterator[Store | None]:
    """None (the app's own MemoryStore) or a RedisStore on a clean database of the test Redis."""
    if store_kind == "memory":
        yield None
        return
    from simulator.state.redis_store import RedisStore

    url = request.getfixturevalue("redis_url")
    redis_store = RedisStore.from_url(url, prefix="test")
    yield redis_store
    redis_store.close()


@pytest.fixture
def app(settings: Settings, clock: ManualClock, store: Store | None) -> Starlette:
    return create_app(settings, clock=clock, store=store)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": TOKEN}) as c:
        yield c


class World:
    """Small helpers over the app for contract tests."""

    def __init__(self, app: Starlette, client: httpx.AsyncClient, clock: ManualClock) -> None:
        self.app = app
        self.client = client
        self.clock = clock
        self.backend = app.state.backend

    def endpoint(self, index: int = 0) -> Any:
        return self.backend.fleet.endpoint(index)

    async def connected(self, index: int = 0) -> dict[str, Any]:
        ep = self.endpoint(index)
        r = await self.client.post(f"{TR}/conns/connect", json={"target": {"clientId": ep.client_id}})
        assert r.status_code == 200, r.text
        self.clock.advance(self.backend.settings.lifecycle.connect_delay_s)
        conns = (await self.client.get(f"{TR}/conns")).json()
        live = [c for c in conns if c["clientId"] == ep.client_id and c["status"] == "connected"]
        assert live, conns
        conn: dict[str, Any] = live[-1]
        return conn

    async def completed_task(self, index: int = 0, path: str | None = None) -> dict[str, Any]:
        conn = await self.connected(index)
        ep = self.endpoint(index)
        path = path or self.backend.files.trace_path(ep)
        r = await self.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})
        assert r.status_code == 200, r.text
        self.clock.advance(self.backend.settings.lifecycle.task_duration_s)
        task = (await self.client.get(f"{TR}/tasks/{r.json()['taskInfo']['id']}")).json()["data"]
        task["_conn"] = conn
        result: dict[str, Any] = task
        return result


@pytest.fixture
def world(app: Starlette, client: httpx.AsyncClient, clock: ManualClock) -> World:
    return World(app, client, clock)
