"""Wire faults over a real socket (uvicorn on 127.0.0.1, port 0) seen by a real httpx client:
connection reset, hang -> client read timeout, truncated body, dribble; and the server keeps serving."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.scenarios import Scenario
from simulator.server import BackgroundServer
from simulator.settings import Lifecycle, Settings

pytestmark = pytest.mark.sockets
TR = "/plugin/products/threat-response/api/v1"
ADMIN = "admin-wire"


def rule(name: str, operation: str, fault: str, **extra: object) -> str:
    fields = "".join(f", {k}: {v}" for k, v in extra.items())
    head = f"  - {{name: {name}, match: {{operation: {operation}}}, times: 1"
    return f"{head}, fault: {{type: {fault}{fields}}}}}\n"


SCENARIO = (
    "faults:\n"
    + rule("rst", "list_tasks", "reset")
    + rule("stuck", "module_status", "hang", max_s=30)
    + rule("short", "list_evidence", "truncate", at_byte=10)
    + rule("slowly", "list_connections", "dribble", chunk_bytes=1, interval_ms=15)
    + rule("half-zip", "download_evidence", "truncate", fraction=0.5)
)


class Gate:
    """The simulator's injected sleep: it notes each wait and costs no time, except while ``held``, when
    a wait lasts until the test calls :meth:`open` (from its thread; bounded, so a broken test ends)."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.held = False
        self._open = threading.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.held:
            await asyncio.to_thread(self._open.wait, 30)

    def hold(self) -> None:
        self._open.clear()
        self.held = True

    def open(self) -> None:
        self.held = False
        self._open.set()


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    settings = Settings(
        port=0,
        endpoints=3,
        seed=2,
        admin_token=ADMIN,
        lifecycle=Lifecycle(connect_delay_s=1, task_duration_s=1),
    )
    clock = ManualClock()
    gate = Gate()
    app = create_app(settings, clock=clock, scenario=Scenario.from_text(SCENARIO), sleep=gate)
    app.state.test_clock, app.state.test_gate = clock, gate
    with BackgroundServer(settings, app=app) as srv:
        yield srv


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    # 60 s: a bound for a broken server, never a measurement; the first file request generates a trace
    # (~2 s on an idle 2-core machine, several times that on a loaded one). The hang test sets its own.
    with httpx.Client(base_url=server.url, headers={"session": server.settings.token}, timeout=60) as c:
        yield c


def journal(client: httpx.Client, fault: str) -> list[dict[str, object]]:
    r = client.get("/_sim/requests", params={"fault": fault}, headers={"authorization": f"Bearer {ADMIN}"})
    entries: list[dict[str, object]] = r.json()["requests"]
    return entries


def test_connection_reset(client: httpx.Client) -> None:
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(f"{TR}/tasks")
    assert client.get(f"{TR}/tasks").status_code == 200  # times: 1, and the server is fine
    (entry,) = journal(client, "rst")
    assert entry["status"] is None and entry["fault_type"] == "reset"


def test_hang_ends_in_a_client_timeout(client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):  # the server never answers: any read timeout ends it
        client.get(f"{TR}/status", timeout=httpx.Timeout(60, read=0.5))
    assert client.get(f"{TR}/status").status_code == 200
    (entry,) = journal(client, "stuck")
    assert entry["status"] is None


def test_truncated_body(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete|complete message body|closed"):
        client.get(f"{TR}/filedownload")
    assert client.get(f"{TR}/filedownload").json()["totalCount"] == 0
    (entry,) = journal(client, "short")
    assert entry["bytes"] == 10


def test_dribble_sends_the_real_answer_in_small_pieces(
    server: BackgroundServer, client: httpx.Client
) -> None:
    """1-byte pieces, 15 ms apart: the server's wait between them is held until the client has read the
    first piece on its own, so the pieces cannot merge on a slow machine (no real 15 ms gap is relied on)."""
    gate: Gate = server.app.state.test_gate
    before = len(gate.delays)
    gate.hold()
    chunks = []
    try:
        with client.stream("GET", f"{TR}/conns") as r:
            assert r.status_code == 200
            for chunk in r.iter_raw():
                chunks.append(chunk)
                gate.open()  # the first piece is here alone: let the rest come
    finally:
        gate.open()
    assert chunks == [b"[", b"]"]
    assert gate.delays[before:] == [0.015]  # one wait, of interval_ms, between the two pieces


def test_truncated_evidence_download(server: BackgroundServer, client: httpx.Client) -> None:
    clock: ManualClock = server.app.state.test_clock
    ep = client.get("/plugin/products/dec/v1/endpoints").json()["data"][0]
    client.post(f"{TR}/conns/connect", json={"target": {"clientId": ep["clientId"]}})
    clock.advance(1)
    conn = next(c for c in client.get(f"{TR}/conns").json() if c["status"] == "connected")
    path = (
        server.settings.windows_trace_path
        if ep["platform"] == "Windows"
        else server.settings.linux_trace_path
    )
    task_id = client.post(f"{TR}/conns/{conn['id']}/file", json={"path": path}).json()["taskInfo"]["id"]
    clock.advance(1)
    uuid = client.get(f"{TR}/tasks/{task_id}").json()["data"]["results"]["fileResults"][0]["uuid"]
    received = bytearray()
    declared = 0

    def download() -> None:
        nonlocal declared
        with client.stream("GET", f"{TR}/filedownload/data/{uuid}") as r:
            declared = int(r.headers["content-length"])
            for chunk in r.iter_raw():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        download()
    assert len(received) == declared // 2
    assert len(client.get(f"{TR}/filedownload/data/{uuid}").content) == declared
