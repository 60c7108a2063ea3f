"""Benchmark: one simulated Tanium served by several processes on Redis — what the shared store costs, and
how the simulator scales with worker processes.

Three figures per server: req/s of ``GET /tasks/{id}`` (a finished task) and ``GET /conns`` (ten
connections listed), and complete evidence workflows per second (connect, poll ``GET /conns`` until
connected, request the trace, poll the task until COMPLETED, download the evidence zip, delete it, close
and delete the connection). Servers: the simulator on the memory store with 1 worker; on the Redis store
(``serve --store``) with 1, 2, 4, ... workers (``serve --workers W``); and, as the ceiling of this machine's
server stack, a bare Starlette app answering the simulator's bytes from the same number of processes with
the same uvicorn settings and GC tuning. Targets:

* Redis, 1 worker / memory, 1 worker >= 0.6 (the cost of the shared store);
* Redis, W workers / (W x Redis, 1 worker) >= 0.7 (scaling), where 2W cores are free.

Cores: W for the servers, W for the load generator; Redis is pinned to the last core (it shares a load
core unless the machine has more). A worker count that needs more cores than this process may use is
reported as not measurable. ``GET`` routes are driven by ``wrk`` (W threads pinned to the load cores)
when installed, else by bench_api's asyncio client in this process; workflows by raw-asyncio keep-alive
clients in W child processes pinned to the load cores, each with its own connection and endpoint per
concurrent workflow (each simulator worker computes the traces it serves; every client does one workflow
before the window opens). The scenario is ``baseline`` with the connect and task delays at 0, so a
workflow measures the server, not simulated waiting. Redis is a ``redis-server`` this script starts on a
unix socket in a temporary folder (``loadtests/_redis.py``; ``--redis-tcp``: 127.0.0.1), or
``--redis-url``. Every server listens on 127.0.0.1; each gets ``--rounds`` alternating runs and keeps
its best. Figures are printed, never asserted::

    .venv/bin/python loadtests/bench_scale.py                         # 2 s per run, best of 2
    .venv/bin/python loadtests/bench_scale.py --seconds 5 --rounds 3 --workers 1,2,4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests._redis import MISSING, RedisServer, find_binary  # noqa: E402
from loadtests.bench_api import (  # noqa: E402
    TR,
    connect_more,
    load,
    machine,
    prepare,
    save_payload,
    serve_baseline,
    simulator_command,
)
from loadtests.bench_latency import bounded, parse_wrk, start_servers  # noqa: E402

BARE_ENV = "BENCH_SCALE_PAYLOADS"
DEC = "/plugin/products/dec/v1/endpoints"
TARGET_STORE = 0.6  # redis 1 worker / memory 1 worker
TARGET_SCALE = 0.7  # W redis workers / (W x redis 1 worker)
FIRST_DRIVEN = 100  # workflow endpoints are taken from this offset of the fleet on (the listed ten are 0..9)
ZERO_DELAYS = """\
# bench_scale: the baseline with no simulated waiting, so a workflow measures the server.
lifecycle:
  connect_delay: {model: fixed, s: 0}
  task_duration: {model: fixed, s: 0}
expect:
  default: success
"""


# --- cores -----------------------------------------------------------------------------------------


def usable_cores() -> list[int]:
    """The CPUs this process may run on (its affinity), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Plan:
    """Which cores serve and which load, per worker count: W and W (Redis on the last core)."""

    cores: tuple[int, ...]
    oversubscribe: bool = False  # measure counts that do not fit anyway (checks the harness, not the figures)

    def fits(self, workers: int) -> bool:
        return 2 * workers <= len(self.cores) or (workers == 1 and len(self.cores) == 1)

    def measurable(self, workers: int) -> bool:
        return self.fits(workers) or self.oversubscribe

    def _split(self, workers: int) -> int:
        return workers if self.fits(workers) else max(1, len(self.cores) // 2)

    def server(self, workers: int) -> tuple[int, ...]:
        return self.cores[: self._split(workers)] if len(self.cores) > 1 else self.cores

    def loaders(self, workers: int) -> tuple[int, ...]:
        if len(self.cores) == 1:
            return self.cores
        split = self._split(workers)
        return self.cores[split : split + split] if self.fits(workers) else self.cores[split:]

    @property
    def redis(self) -> tuple[int, ...]:
        return self.cores[-1:]

    def not_measurable(self, workers: int) -> str:
        return f"not measurable here (needs {2 * workers} free cores, this machine has {len(self.cores)})"


def cpu_list(cpus: tuple[int, ...]) -> str:
    return ",".join(map(str, cpus))


def pinned(command: list[str], cpus: tuple[int, ...]) -> list[str]:
    """``command`` run on ``cpus`` only (through ``taskset``; unpinned where it is missing)."""
    if len(usable_cores()) < 2 or cpus == (0,) or not shutil.which("taskset"):
        return command  # bench_api.serve pins to CPU 0 itself
    return ["taskset", "-c", cpu_list(cpus), *command]


def default_workers(cores: int) -> list[int]:
    """1, 2, 4, ... up to the core count (the last ones are reported as not measurable).

    >>> default_workers(2), default_workers(16), default_workers(1)
    ([1, 2], [1, 2, 4, 8, 16], [1])
    """
    out = [1]
    while out[-1] * 2 <= max(cores, 1):
        out.append(out[-1] * 2)
    return out


# --- the bare baseline, from 1 or W processes --------------------------------------------------------


def bare_app() -> Any:
    """A Starlette app answering the stored bytes (``save_payload``) of ``$BENCH_SCALE_PAYLOADS``;
    route paths may hold ``{param}``s. The factory of each ``--workers`` process."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from simulator.server import tune_gc

    routes = []
    for meta_path in sorted(Path(os.environ[BARE_ENV]).glob("*.json")):
        meta = json.loads(meta_path.read_text())
        body = (meta_path.parent / meta["body_file"]).read_bytes()

        def handler(body: bytes = body, media: str = meta["media_type"]) -> Any:
            async def endpoint(request: Request) -> Response:
                await request.body()  # a POST reads its body, like the simulator does
                return Response(body, media_type=media)

            return endpoint

        routes.append(Route(meta["path"], handler(), methods=[meta["method"]]))
    app = Starlette(routes=routes)
    tune_gc()
    return app


def run_bare(payload_dir: Path, workers: int) -> None:
    """Serve :func:`bare_app` like ``tanium-sim serve`` does: one process, or uvicorn's process manager
    with ``workers`` processes on one socket (what ``serve --workers`` uses)."""
    os.environ[BARE_ENV] = str(payload_dir)
    if workers == 1:
        serve_baseline(bare_app())
        return
    from uvicorn.supervisors import Multiprocess

    from simulator.server import uvicorn_config

    config = uvicorn_config("loadtests.bench_scale:bare_app", "127.0.0.1", 0, factory=True, workers=workers)
    sock = config.bind_socket()
    print(f"serving http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[sock]).run()


def bare_command(payload_dir: Path, workers: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(payload_dir), str(workers)]


# --- the workflow client: raw asyncio keep-alive HTTP/1.1 ------------------------------------------


class Failed(Exception):
    """A workflow step answered something else than expected."""


class Connection:
    """One keep-alive HTTP/1.1 connection (Content-Length and chunked bodies); reopens when closed."""

    def __init__(self, url: str, token: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.requests = 0

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        import orjson

        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = b"" if body is None else orjson.dumps(body)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nsession: {self.token}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n\r\n"
        self.writer.write(head.encode() + data)
        try:
            status, payload, close = await self._response()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise
        self.requests += 1
        if close:
            await self.close()
        return status, payload

    async def _response(self) -> tuple[int, bytes, bool]:
        assert self.reader is not None
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head.split(" ", 2)[1])
        headers = dict(
            line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line
        )  # fmt: skip
        close = headers.get("connection", "").strip() == "close"
        if "chunked" in headers.get("transfer-encoding", ""):
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size + 2))
            await self.reader.readuntil(b"\r\n")
            return status, b"".join(p[:-2] for p in parts), close
        return status, await self.reader.readexactly(int(headers.get("content-length", "0"))), close

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def call(c: Connection, method: str, path: str, body: Any = None) -> Any:
    """One request that must answer 2xx; its JSON body."""
    import orjson

    status, payload = await c.request(method, path, body)
    if not 200 <= status < 300:
        raise Failed(f"{method} {path} answered {status}")
    return orjson.loads(payload) if payload else None


async def workflow(c: Connection, client_id: str, trace_path: str, timeout_s: float = 30.0) -> None:
    """The whole evidence workflow for one endpoint, on one connection; raises :class:`Failed`."""
    import orjson

    deadline = time.monotonic() + timeout_s
    await call(c, "POST", f"{TR}/conns/connect", {"target": {"clientId": client_id}})
    cid = None
    while cid is None:  # poll until connected (bounded by the deadline)
        status, payload = await c.request("GET", f"{TR}/conns")
        if status != 200:
            raise Failed(f"GET /conns answered {status}")
        live = [x for x in orjson.loads(payload) if x["clientId"] == client_id and x["status"] == "connected"]
        if live:
            cid = urllib.parse.quote(str(live[-1]["id"]), safe=":")
        elif time.monotonic() > deadline:
            raise Failed("the connection never connected")
    info = await call(c, "POST", f"{TR}/conns/{cid}/file", {"path": trace_path})
    task_id = info["taskInfo"]["id"]
    while True:  # poll until terminal (bounded by the deadline)
        status, payload = await c.request("GET", f"{TR}/tasks/{task_id}")
        if status != 200:
            raise Failed(f"GET /tasks/{{id}} answered {status}")
        task = orjson.loads(payload)["data"]
        if task["status"] == "COMPLETED":
            break
        if task["status"] in ("ERROR", "INCOMPLETE") or time.monotonic() > deadline:
            raise Failed(f"the task ended {task['status']}")
    uuid = task["results"]["fileResults"][0]["uuid"]
    status, data = await c.request("GET", f"{TR}/filedownload/data/{uuid}")
    if status != 200 or not data.startswith(b"PK"):
        raise Failed(f"the download answered {status} with {len(data)} bytes")
    await call(c, "DELETE", f"{TR}/filedownload", {"ids": [uuid]})
    await call(c, "DELETE", f"{TR}/conns/close/{cid}")
    await call(c, "DELETE", f"{TR}/conns/delete/{cid}")


async def drive(spec: dict[str, Any]) -> dict[str, Any]:
    """A driver process: every client does one warm-up workflow, then ``ready`` is printed; the window
    (``start_at``, ``stop_at``, wall clock) comes back on stdin, and workflows finished inside it count."""
    loop = asyncio.get_running_loop()
    go, all_warm = asyncio.Event(), asyncio.Event()
    window: dict[str, float] = {}
    tally = {"workflows": 0, "requests": 0, "failed": 0, "warm": 0}
    errors: list[str] = []
    timeout_s = float(spec["timeout_s"])
    broken = (Failed, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, KeyError)

    async def one(client_id: str, trace_path: str) -> None:
        c = Connection(spec["url"], spec["token"])
        try:
            with contextlib.suppress(*broken):  # warm-up: this worker computes the trace
                await asyncio.wait_for(workflow(c, client_id, trace_path, timeout_s), timeout_s)
            tally["warm"] += 1
            if tally["warm"] == len(spec["endpoints"]):
                all_warm.set()
            await go.wait()
            while time.time() < window["stop_at"]:
                before = c.requests
                try:
                    await asyncio.wait_for(workflow(c, client_id, trace_path, timeout_s), timeout_s)
                except broken as exc:
                    if window["start_at"] <= time.time() <= window["stop_at"]:
                        tally["failed"] += 1
                        if len(errors) < 3:
                            errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if window["start_at"] <= time.time() <= window["stop_at"]:
                    tally["workflows"] += 1
                    tally["requests"] += c.requests - before
        finally:
            await c.close()

    tasks = [asyncio.ensure_future(one(cid, path)) for cid, path in spec["endpoints"]]
    await asyncio.wait_for(all_warm.wait(), timeout_s * 2)
    print("ready", flush=True)
    window.update(json.loads(await loop.run_in_executor(None, sys.stdin.readline)))
    cpu_before = time.process_time()
    go.set()
    await asyncio.wait(tasks, timeout=window["stop_at"] - time.time() + timeout_s)
    cpu = time.process_time() - cpu_before
    for t in tasks:
        t.cancel()
    tally.pop("warm")
    return {**tally, "cpu_s": cpu, "errors": errors}


def run_driver() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    spec = json.loads(sys.stdin.readline())
    print(json.dumps(asyncio.run(drive(spec))), flush=True)


# --- measuring -------------------------------------------------------------------------------------


@dataclass
class Figures:
    """One server's best figures."""

    tasks: float = 0.0  # GET /tasks/{id} req/s
    conns: float = 0.0  # GET /conns (ten listed) req/s
    workflows: float = 0.0  # complete workflows/s
    workflow_requests: float = 0.0  # their HTTP requests/s
    errors: int = 0
    busy: float = 0.0  # the workflow drivers' CPU use over the window, per load core (1.0 = saturated)
    notes: list[str] = field(default_factory=list)


def _affinity(cpus: tuple[int, ...]) -> Any:
    if len(usable_cores()) < 2 or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, set(cpus))


def wrk_rate(
    url: str, headers: dict[str, str], connections: int, seconds: float, cpus: tuple[int, ...]
) -> Any:
    """wrk with one thread per load core, pinned to them; bench_latency's parser (2xx only count)."""
    threads = min(len(cpus), connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        for key, value in headers.items():
            script.write(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}\n")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    try:
        done = subprocess.run(
            [*command, "-s", script.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            preexec_fn=_affinity(cpus),
        )
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.stderr.strip()[:200] or done.returncode})")
    return parse_wrk(done.stdout)


def get_rate(
    url: str, token: str, args: argparse.Namespace, cpus: tuple[int, ...], seconds: float
) -> tuple[float, int]:
    """req/s (2xx only) and errors of ``GET url`` with ``--connections`` per load core."""
    headers = {"session": token}
    connections = args.connections * len(cpus)
    if args.client == "wrk":
        run = wrk_rate(url, headers, connections, seconds, cpus)
        return run.rate, run.error_count
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if (pin := _affinity(cpus)) is not None:
        pin()
    try:
        result = load(url, headers=headers, seconds=seconds, connections=connections, client="asyncio")
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    return result.requests_s, result.errors


def run_workflows(
    url: str, token: str, endpoints: list[tuple[str, str]], cpus: tuple[int, ...], seconds: float
) -> dict[str, Any]:
    """Workflows from one driver process per load core; the summed tally of the window."""
    from concurrent.futures import ThreadPoolExecutor

    timeout_s = 60.0
    shares = [endpoints[i :: len(cpus)] for i in range(len(cpus))]
    drivers = [
        subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--drive"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            preexec_fn=_affinity((cpu,)),
        )
        for cpu, share in zip(cpus, shares, strict=True)
        if share
    ]
    pool = ThreadPoolExecutor(len(drivers))

    def each(message: dict[str, Any] | None, wait_s: float) -> list[str]:
        """Send each driver its spec (``None``) or ``message``; one line back from each."""
        for proc, share in zip(drivers, shares, strict=False):
            assert proc.stdin is not None
            text = message or {"url": url, "token": token, "endpoints": share, "timeout_s": timeout_s}
            proc.stdin.write(json.dumps(text) + "\n")
            proc.stdin.flush()
        lines = [pool.submit(proc.stdout.readline) for proc in drivers]  # type: ignore[union-attr]
        return [line.result(timeout=wait_s).strip() for line in lines]

    try:
        if any(line != "ready" for line in each(None, 2 * timeout_s + 30)):
            raise RuntimeError("a workflow driver did not warm up (is the server answering?)")
        start_at = time.time() + 0.2
        window = {"start_at": start_at, "stop_at": start_at + seconds}
        results = [json.loads(line) for line in each(window, seconds + timeout_s + 30)]
    finally:
        for proc in drivers:  # first: a reader thread still waiting returns once its driver is gone
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        pool.shutdown()
        for proc in drivers:
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()  # type: ignore[union-attr]
    total: dict[str, Any] = {"workflows": 0, "requests": 0, "failed": 0, "cpu_s": 0.0, "errors": []}
    for result in results:
        for key in ("workflows", "requests", "failed", "cpu_s"):
            total[key] += result[key]
        total["errors"] += result["errors"]
    total["busy"] = total["cpu_s"] / ((seconds + 0.2) * len(drivers))
    return total


# --- one worker count: its servers, their state, their figures -----------------------------------


def trace_path(platform: str) -> str:
    if platform.lower().startswith("win"):
        return r"C:\ProgramData\Cryptosense\traces\trace.cst.gz"
    return "/opt/cryptosense/traces/trace.cst.gz"


def wait_ready(url: str, path: str, token: str, timeout_s: float = 60.0) -> None:
    """Until ``GET path`` answers 200 (``serve --workers`` announces before its workers listen)."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, headers={"session": token}, timeout=5) as c:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if c.get(path).status_code == 200:
                    return
            time.sleep(0.05)  # the next poll, bounded by the deadline
    raise RuntimeError(f"{url} did not answer GET {path} within {timeout_s:g} s")


def driven_endpoints(url: str, token: str, count: int) -> list[tuple[str, str]]:
    """``count`` endpoints from offset FIRST_DRIVEN on: (clientId, trace path), one per client."""
    with httpx.Client(base_url=url, headers={"session": token}, timeout=60) as c:
        data = c.get(f"{DEC}?offset={FIRST_DRIVEN}&limit={count}").json()["data"]
    return [(str(e["clientId"]), trace_path(str(e["platform"]))) for e in data]


def capture(url: str, token: str, folder: Path, endpoint: dict[str, Any], task_path: str) -> None:
    """The bare app's answers: the simulator's bytes for every route the benchmark sends, the listing of
    the ten prepared connections, and one whole workflow on ``endpoint`` (route templates for ids)."""
    folder.mkdir(parents=True, exist_ok=True)
    json_ = "application/json"
    with httpx.Client(base_url=url, headers={"session": token}, timeout=60) as c:

        def keep(name: str, method: str, template: str, response: httpx.Response) -> httpx.Response:
            response.raise_for_status()
            media = response.headers.get("content-type", json_).split(";")[0]
            save_payload(folder, name, method, template, response.content, media)
            return response

        # a- before b-: the literal task path is tried before the /tasks/{id} template
        keep("a-conns", "GET", f"{TR}/conns", c.get(f"{TR}/conns"))
        keep("a-task", "GET", task_path, c.get(task_path))
        client_id = str(endpoint["clientId"])
        target = {"target": {"clientId": client_id}}
        keep("b-connect", "POST", f"{TR}/conns/connect", c.post(f"{TR}/conns/connect", json=target))
        deadline = time.monotonic() + 30
        while True:
            mine = [x for x in c.get(f"{TR}/conns").json() if x["clientId"] == client_id]
            live = [x for x in mine if x["status"] == "connected"]
            if len(live) > 1:  # the prepared connection and the new one
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the captured workflow's connection never connected")
            time.sleep(0.02)  # the next poll, bounded by the deadline
        cid = urllib.parse.quote(str(live[-1]["id"]), safe=":")
        body = {"path": trace_path(str(endpoint["platform"]))}
        info = keep("b-file", "POST", f"{TR}/conns/{{cid}}/file", c.post(f"{TR}/conns/{cid}/file", json=body))
        task_id = info.json()["taskInfo"]["id"]
        while (task := c.get(f"{TR}/tasks/{task_id}")).json()["data"]["status"] != "COMPLETED":
            if time.monotonic() > deadline:
                raise RuntimeError("the captured workflow's task never completed")
            time.sleep(0.02)  # the next poll, bounded by the deadline
        keep("b-task", "GET", f"{TR}/tasks/{{id}}", task)
        uuid = task.json()["data"]["results"]["fileResults"][0]["uuid"]
        keep("b-download", "GET", f"{TR}/filedownload/data/{{uuid}}", c.get(f"{TR}/filedownload/data/{uuid}"))
        ids = {"ids": [uuid]}
        keep(
            "b-evidence", "DELETE", f"{TR}/filedownload", c.request("DELETE", f"{TR}/filedownload", json=ids)
        )
        keep("b-close", "DELETE", f"{TR}/conns/close/{{cid}}", c.delete(f"{TR}/conns/close/{cid}"))
        keep("b-delete", "DELETE", f"{TR}/conns/delete/{{cid}}", c.delete(f"{TR}/conns/delete/{cid}"))


def measure_group(
    workers: int,
    plan: Plan,
    args: argparse.Namespace,
    token: str,
    scenario: Path,
    store_url: str | None,
    folder: Path,
) -> dict[str, Figures]:
    """Every server of one worker count, prepared alike and measured in alternating rounds."""
    base = ["--no-journal", "--scenario", str(scenario)]
    sims: dict[str, list[str]] = {}
    if workers == 1:
        sims["memory"] = simulator_command(token, args.endpoints, *base)
    if store_url:
        prefix = f"bench-scale-{workers}-{secrets.token_hex(3)}"
        store = ["--store", store_url, "--store-prefix", prefix]
        if workers > 1:
            store += ["--workers", str(workers)]
        sims["redis"] = simulator_command(token, args.endpoints, *base, *store)
    cores, loaders = plan.server(workers), plan.loaders(workers)
    figures = {name: Figures() for name in [*sims, "bare"]}
    with contextlib.ExitStack() as stack:
        urls = start_servers(stack, {name: pinned(command, cores) for name, command in sims.items()})
        paths: dict[str, str] = {}
        listed: list[dict[str, Any]] = []
        for name, url in urls.items():  # the same state on every simulator: ten connected, one task done
            wait_ready(url, f"{TR}/status", token)
            listed, paths[name], _ = prepare(url, token)
            connect_more(url, token, listed)
        first = next(iter(urls))
        payloads = folder / f"workers-{workers}"
        capture(urls[first], token, payloads, listed[0], paths[first])
        paths["bare"] = paths[first]
        urls.update(start_servers(stack, {"bare": pinned(bare_command(payloads, workers), cores)}))
        wait_ready(urls["bare"], f"{TR}/conns", token)
        for label, route in (("tasks", None), ("conns", f"{TR}/conns")):
            for name, url in urls.items():  # warm: every worker started, caches filled
                get_rate(url + (route or paths[name]), token, args, loaders, 1.0)
            for _ in range(args.rounds):
                for name, url in urls.items():
                    rate, errors = get_rate(url + (route or paths[name]), token, args, loaders, args.seconds)
                    setattr(figures[name], label, max(getattr(figures[name], label), rate))
                    figures[name].errors += errors
        count = args.concurrency * workers
        driven = {name: driven_endpoints(url, token, count) for name, url in urls.items() if name != "bare"}
        one = (str(listed[0]["clientId"]), trace_path(str(listed[0]["platform"])))
        driven["bare"] = [one] * count  # the bare app answers the captured workflow of that endpoint
        for _ in range(args.rounds):
            for name, url in urls.items():
                tally = run_workflows(url, token, driven[name], loaders, args.seconds)
                f = figures[name]
                if tally["workflows"] / args.seconds > f.workflows:
                    f.workflows = tally["workflows"] / args.seconds
                    f.workflow_requests = tally["requests"] / args.seconds
                    f.busy = tally["busy"]
                f.errors += tally["failed"]
                f.notes += [e for e in tally["errors"] if e not in f.notes][: 3 - len(f.notes)]
    return figures


# --- the report ------------------------------------------------------------------------------------


METRICS = (("tasks", "GET /tasks/{id}"), ("conns", "GET /conns"), ("workflows", "workflows"))


def ratio_line(label: str, value: dict[str, float], target: float) -> str:
    """One ratio per figure and the verdict (every figure must reach the target)."""
    parts = ", ".join(f"{name} {value[key]:.2f}" for key, name in METRICS if key in value)
    verdict = "met" if all(v >= target for v in value.values()) else "MISSED"
    return f"{label}: {parts}  (target >= {target:.2f}: {verdict})"


def ratios(a: Figures, b: Figures, times: float = 1.0) -> dict[str, float]:
    out = {}
    for key, _ in METRICS:
        denominator = getattr(b, key) * times
        out[key] = getattr(a, key) / denominator if denominator else float("nan")
    return out


def report(results: dict[int, dict[str, Figures]], plan: Plan, workers: list[int], redis_note: str) -> None:
    print(
        f"{'workers':>7} {'server':8} {'GET /tasks/{id}':>16} {'GET /conns':>11} {'workflows/s':>12} "
        f"{'(req/s)':>9} {'errors':>7} {'drivers busy':>13}"
    )
    for w in workers:
        if w not in results:
            print(f"{w:7} {'all':8} {plan.not_measurable(w)}")
            continue
        if not plan.fits(w):
            print(f"{w:7} {'all':8} {plan.not_measurable(w)}; measured anyway on shared cores:")
        for name, f in results[w].items():
            print(
                f"{w:7} {name:8} {f.tasks:16.0f} {f.conns:11.0f} {f.workflows:12.1f} "
                f"{f.workflow_requests:9.0f} {f.errors:7d} {f.busy:12.0%}"
                + ("  <- load generator saturated" if f.busy > 0.9 else "")
            )
            for note in f.notes:
                print(f"{'':17}{name} workflow error: {note}")
    print("ratios:")
    one = results.get(1, {})
    if "redis" in one and "memory" in one:
        print(
            ratio_line(
                "  redis 1 worker / memory 1 worker", ratios(one["redis"], one["memory"]), TARGET_STORE
            )
        )
    elif redis_note:
        print(f"  redis 1 worker / memory 1 worker: {redis_note}")
    for w in workers:
        if w == 1:
            continue
        label = f"  redis {w} workers / ({w} x redis 1 worker)"
        if w not in results or not plan.fits(w):
            print(f"{label}: {plan.not_measurable(w)}")
            if w in results and "redis" in results[w] and "redis" in one:
                scaled = ratios(results[w]["redis"], one["redis"], w)
                parts = ", ".join(f"{name} {scaled[key]:.2f}" for key, name in METRICS)
                print(f"    measured anyway on shared cores (--oversubscribe): {parts}; not meaningful")
            continue
        if "redis" in results[w] and "redis" in one:
            scaled = ratios(results[w]["redis"], one["redis"], w)
            print(ratio_line(label, scaled, TARGET_SCALE))
        bare = ratios(results[w]["bare"], one["bare"], w) if "bare" in one else {}
        if bare and plan.fits(w):
            parts = ", ".join(f"{name} {bare[key]:.2f}" for key, name in METRICS)
            print(
                f"  bare {w} workers / ({w} x bare 1 worker): {parts}  (what this machine's stack scales to)"
            )
    for w, group in results.items():
        if not plan.fits(w):
            continue
        for name in ("memory", "redis"):
            if name in group:
                r = ratios(group[name], group["bare"])
                parts = ", ".join(f"{label} {r[key]:.2f}" for key, label in METRICS)
                print(f"  {name} {w} worker{'s' if w > 1 else ''} / bare {w}: {parts}  (for reference)")


# --- main ------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Everything stays on 127.0.0.1 and stops at the end; a run takes about "
        "worker counts x 3 servers x rounds x 3 x seconds, plus start-up.",
    )
    p.add_argument(
        "--seconds", type=bounded(float, 0.2, 60, "seconds"), default=2.0, help="per run (default 2)"
    )
    p.add_argument(
        "--rounds", type=bounded(int, 1, 10, "rounds"), default=2, help="runs per server (best kept)"
    )
    p.add_argument(
        "--workers",
        default="",
        help="worker counts, comma-separated (default 1,2,4,... up to the usable cores)",
    )
    p.add_argument(
        "--connections",
        type=bounded(int, 1, 1000, "connections"),
        default=32,
        help="per load core (GET routes)",
    )
    p.add_argument(
        "--concurrency",
        type=bounded(int, 1, 64, "workflows"),
        default=8,
        help="concurrent workflows per worker, each on its own endpoint and connection (default 8)",
    )
    p.add_argument("--endpoints", type=bounded(int, 200, 1_000_000, "endpoints"), default=1_000)
    p.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto", help="GET routes")
    p.add_argument(
        "--redis-url", default="", help="use this Redis (keys under the bench's prefixes are deleted)"
    )
    p.add_argument("--redis-tcp", action="store_true", help="start Redis on 127.0.0.1 TCP, not a unix socket")
    p.add_argument(
        "--oversubscribe",
        action="store_true",
        help="measure worker counts that do not fit this machine anyway, on shared cores (checks the "
        "harness; those figures are not meaningful)",
    )
    p.add_argument("--serve-bare", nargs=2, metavar=("DIR", "WORKERS"), help=argparse.SUPPRESS)
    p.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    return p


def parse_workers(text: str, cores: int) -> list[int]:
    if not text.strip():
        return default_workers(cores)
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise SystemExit(
            f"bench_scale: --workers {text!r} is not a comma-separated list of numbers"
        ) from None
    if not counts or counts[0] < 1 or counts[-1] > 256:
        raise SystemExit("bench_scale: keep it bounded: worker counts from 1 up to 256")
    return counts if counts[0] == 1 else [1, *counts]  # every ratio needs the 1-worker figures


@contextlib.contextmanager
def redis_for_bench(args: argparse.Namespace, plan: Plan) -> Iterator[tuple[str | None, str]]:
    """(store URL or None, what it is / why there is none)."""
    if args.redis_url:
        yield args.redis_url, "given (--redis-url)"
        return
    if find_binary() is None:
        yield None, f"skipped: {MISSING}"
        return
    with RedisServer(tcp=args.redis_tcp, cpus=set(plan.redis)) as server:
        where = "127.0.0.1 TCP" if args.redis_tcp else "a unix socket"
        yield server.url, f"redis-server started here on {where}, pinned to CPU {cpu_list(plan.redis)}"


def redis_version(url: str) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        info = client.info("server")
        if "valkey_version" in info:
            return f"valkey {info['valkey_version']}"
        return f"redis {info['redis_version']}"
    except redis.RedisError as exc:
        return f"unreachable ({exc})"
    finally:
        client.close()


def clean(url: str, given: bool) -> None:
    """Delete the benchmark's keys: every bench-scale-* prefix on a given Redis, all of a started one."""
    from loadtests.distributed import delete_prefix

    if given:
        delete_prefix(url, "bench-scale-*")
        return
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushall()
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.serve_bare:
        run_bare(Path(args.serve_bare[0]), int(args.serve_bare[1]))
        return 0
    if args.drive:
        run_driver()
        return 0
    cores = usable_cores()
    plan = Plan(tuple(cores), oversubscribe=args.oversubscribe)
    workers = parse_workers(args.workers, len(cores))
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "asyncio"
    token = "token-" + secrets.token_hex(16)
    print(f"bench_scale: {machine()}; {len(cores)} usable cores (CPUs {cpu_list(plan.cores)})")
    if len(cores) == 1:
        print("only one core: servers, load generator and Redis share it (ratios only, no scaling figures)")
    client = (
        "wrk" if args.client == "wrk" else "bench_api's asyncio client (install wrk for trustworthy figures)"
    )
    print(
        f"GET routes: {client}, {args.connections} connections per load core; workflows: raw-asyncio "
        f"clients, {args.concurrency} per worker; {args.seconds:g} s per run, best of {args.rounds}; "
        f"scenario: baseline with 0 s connect and task delays; {args.endpoints} endpoints; journal off"
    )
    results: dict[int, dict[str, Figures]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp,
        redis_for_bench(args, plan) as (store_url, redis_note),
    ):
        folder = Path(tmp)
        scenario = folder / "zero-delays.yaml"
        scenario.write_text(ZERO_DELAYS)
        print(f"redis: {redis_version(store_url) + ', ' if store_url else ''}{redis_note}", flush=True)
        for w in workers:
            if not plan.measurable(w):
                continue
            print(
                f"-- {w} worker{'s' if w > 1 else ''}: servers on CPUs {cpu_list(plan.server(w))}, "
                f"load generator on CPUs {cpu_list(plan.loaders(w))}",
                flush=True,
            )
            try:
                results[w] = measure_group(w, plan, args, token, scenario, store_url, folder)
            except (RuntimeError, OSError, httpx.HTTPError, subprocess.SubprocessError) as exc:
                print(f"-- {w} workers: failed: {exc}", flush=True)
            finally:
                if store_url:
                    with contextlib.suppress(Exception):
                        clean(store_url, bool(args.redis_url))
    report(results, plan, workers, "" if store_url else redis_note)
    return 0 if 1 in results else 1


if __name__ == "__main__":
    raise SystemExit(main())
