"""Two collectors on one endpoint at once: each uses the connection it made, never the other's.

The first test runs the real simulator (ASGITransport, manual clock); the others play the server with
respx (tests/inprocess/tanium_fakes.py) for what the simulator never does: a connect answered with the
listed id, another client's connect landing between our listing and our connect.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest
import respx
from starlette.applications import Starlette

from client._client import AsyncTaniumClient
from client._errors import ConnectionAmbiguous, WorkflowError
from client._retry import RetryPolicy
from client._workflow import CollectResult, PollPolicy, collect_trace
from simulator.clock import ManualClock
from simulator.settings import Settings
from tests.inprocess.tanium_fakes import (
    BASE,
    CLIENT_ID,
    CONN_ID,
    TOKEN,
    TR,
    FakeClock,
    FakeTanium,
    conn,
    ok,
    plays,
)

pytestmark = pytest.mark.anyio
POLL = PollPolicy(interval_s=1.0, max_interval_s=4.0, multiplier=2.0)
OTHER_CONN = "remote:web-01:123:3"  # another client's connection to the same endpoint


class YieldingTransport(httpx.AsyncBaseTransport):
    """ASGITransport letting other tasks run while a request is in flight, as a socket would.

    Without it each request completes without yielding, and two collectors never interleave between
    listing the connections and connecting.
    """

    def __init__(self, app: Starlette) -> None:
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        response = await self.inner.handle_async_request(request)
        await asyncio.sleep(0)
        return response


async def test_two_concurrent_collectors_each_use_their_own_connection(
    app: Starlette, clock: ManualClock, settings: Settings, tmp_path: Path
) -> None:
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)  # let the other collector run, as a real wait would

    backend = app.state.backend
    endpoint = next(ep for ep in backend.fleet if ep.online and ep.has_trace)
    transport = YieldingTransport(app)
    async with AsyncTaniumClient("http://sim", token=settings.token, transport=transport) as tanium:

        async def one(name: str) -> CollectResult:
            return await collect_trace(
                tanium,
                endpoint.client_id,
                dest=tmp_path / name,
                deadline_s=120.0,
                poll=PollPolicy(interval_s=0.5, max_interval_s=2.0),
                clock=clock.now,
                sleep=sleep,
            )

        first, second = await asyncio.gather(one("a"), one("b"))
        listed = await tanium.list_connections()
        tasks = await tanium.list_tasks()

    manifest = backend.manifest(endpoint.client_id)
    for result in (first, second):
        assert (result.sha256, result.bytes) == (manifest["sha256"], manifest["size"])
    assert first.connection_id != second.connection_id
    # each file request went over the collector's own connection...
    by_task = {t.id: t.metadata.connection if t.metadata else None for t in tasks}
    assert by_task[first.task_id] == first.connection_id
    assert by_task[second.task_id] == second.connection_id
    # ...and both were closed, by their owners: nothing of the endpoint is left live
    mine = {c.id: c.status for c in listed if c.client_id == endpoint.client_id}
    assert mine == {first.connection_id: "disconnected", second.connection_id: "disconnected"}
    assert backend.state_counts()["evidence"] == 0


async def collect(client: AsyncTaniumClient, clock: FakeClock, dest: Path) -> CollectResult:
    return await collect_trace(
        client, CLIENT_ID, dest=dest, deadline_s=60.0, poll=POLL, clock=clock, sleep=clock.sleep
    )


async def test_two_new_connections_and_no_id_from_connect_is_ambiguous(
    fake: FakeTanium, mock: respx.MockRouter, tmp_path: Path
) -> None:
    # Another client connected the endpoint between our listing and our connect: which is ours?
    clock = FakeClock()
    theirs = conn("waiting", id=OTHER_CONN, initiated_at=1_700_000_000_500)
    fake.conns.side_effect = plays(ok([]), ok([conn("waiting"), theirs]))
    other_close = mock.delete(f"{TR}/conns/close/{OTHER_CONN}").mock(return_value=ok({}))
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        with pytest.raises(ConnectionAmbiguous) as info:
            await collect(client, clock, tmp_path)
    error = info.value
    assert isinstance(error, WorkflowError) and error.reason == "connection_ambiguous"
    assert CONN_ID in str(error) and OTHER_CONN in str(error) and "one collector at a time" in str(error)
    # neither adopted nor closed: no file request, no close of either connection
    assert not fake.request_file.called and not fake.close.called and not other_close.called
    assert fake.conns.call_count == 2


async def test_a_connect_answering_the_listed_id_is_followed_among_new_ones(
    fake: FakeTanium, mock: respx.MockRouter, tmp_path: Path
) -> None:
    # A server that answers connect with the real id: no guessing, even with another new connection.
    clock = FakeClock()
    fake.connect.return_value = ok(CONN_ID)
    theirs = conn("connected", id=OTHER_CONN, initiated_at=1_800_000_000_000)  # newer than ours
    fake.conns.side_effect = plays(ok([]), ok([conn("waiting"), theirs]), ok([conn("connected"), theirs]))
    other_file = mock.post(f"{TR}/conns/{OTHER_CONN}/file")
    other_close = mock.delete(f"{TR}/conns/close/{OTHER_CONN}")
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        result = await collect(client, clock, tmp_path)
    assert result.connection_id == CONN_ID
    assert fake.request_file.called and fake.close.called
    assert not other_file.called and not other_close.called


async def test_a_retried_connect_closes_its_twin_but_not_another_clients_connection(
    fake: FakeTanium, mock: respx.MockRouter, tmp_path: Path
) -> None:
    clock = FakeClock()
    twin = "remote:web-01:123:1"
    fake.connect.side_effect = plays(httpx.ReadTimeout("no answer"), ok(f"remote:undefined:{CLIENT_ID}:"))
    theirs = conn("connected", id=OTHER_CONN, initiated_at=1_600_000_000_000)  # live before we began
    earlier = conn("waiting", id=twin, initiated_at=1_699_999_999_000)
    fake.conns.side_effect = plays(
        ok([theirs]),
        ok([theirs, earlier, conn("waiting")]),
        ok([theirs, earlier | {"status": "connected"}, conn("connected")]),
    )
    twin_close = mock.delete(f"{TR}/conns/close/{twin}").mock(return_value=ok({}))
    other_close = mock.delete(f"{TR}/conns/close/{OTHER_CONN}").mock(return_value=ok({}))
    policy = RetryPolicy(retry_unsafe=True, clock=clock, sleep=clock.sleep, rng=random.Random(3))
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy) as client:
        result = await collect(client, clock, tmp_path)
    assert result.connection_id == CONN_ID and fake.connect.call_count == 2
    assert fake.close.called and twin_close.called
    assert not other_close.called
