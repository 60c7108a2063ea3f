"""Benchmark: the simulator's hot API routes against a bare Starlette app serving the same bytes.

Why: the load harness must never make the simulator the bottleneck of an integration's load test. The
baseline is what uvicorn + Starlette can do at all on this machine with the same settings (uvloop,
httptools, no access log, one process): the simulator should reach at least 0.8x of it on
``GET /conns`` (one connection listed, and ten: the common case), ``GET /tasks/{id}`` and
``POST /conns/connect``. Each route gets its own bare app, started once the simulator is in the state
the route needs and checked to answer exactly the simulator's bytes.

Both servers run as child processes on 127.0.0.1 (pinned to CPU 0 when there are 2+ CPUs); the load
generator is ``wrk`` (pinned to CPU 1) when it is installed, else a lean asyncio keep-alive client in
this process (``--client asyncio``; slower, so ratios then understate the gap). The output says which.
Beside req/s it prints each server's CPU time per request (``/proc/<pid>/stat``, least of the rounds):
on a machine other work shares, that ratio holds still while req/s swings. Figures are printed, never
asserted::

    .venv/bin/python loadtests/bench_api.py --seconds 5 --connections 32
    .venv/bin/python loadtests/bench_api.py --only connect --sim-arg=--no-journal   # one route, an option

``--console`` measures what the live console costs the vendor request path instead: the same routes on
the same simulator process, in alternating rounds with no console and with one console client (a child
process doing what the page does: following ``/_sim/events`` as a stream, polling ``/_sim/state`` and
``/_sim/stats`` every second, ``/_sim/faults`` every 2 s, ``/_sim/scenario`` and ``/_sim/clock`` every 5 s).
It prints both figures per route and their ratio (target: the console costs at most 5%)::

    .venv/bin/python loadtests/bench_api.py --console --seconds 4 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TR = "/plugin/products/threat-response/api/v1"


# --- servers as child processes --------------------------------------------------------------------


def _pin(cpu: int) -> Any:
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@dataclass
class Server:
    """A child process serving HTTP on 127.0.0.1; ``url`` once it announced itself."""

    proc: subprocess.Popen[bytes]
    url: str


@contextmanager
def serve(command: list[str], *, cpu: int = 0, timeout_s: float = 60.0) -> Iterator[Server]:
    """Run ``command`` (it prints ``serving http://127.0.0.1:<port>`` first) and stop it afterwards."""
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, preexec_fn=_pin(cpu)
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = b""
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()  # the announcement names tokens: parsed here, never printed
            if b"serving http" in line:
                break
        match = re.search(rb"serving (http://[\d.]+:\d+)", line)
        if not match:
            raise RuntimeError(f"server did not start: {command[:4]}")
        yield Server(proc, match.group(1).decode())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def simulator_command(token: str, endpoints: int = 1_000, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "simulator",
        "serve",
        "--port",
        "0",
        "--endpoints",
        str(endpoints),
        "--token",
        token,
        *extra,
    ]


def bare_command(payload_dir: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(payload_dir)]


def run_bare(payload_dir: Path) -> None:
    """The baseline: Starlette + uvicorn with the simulator's uvicorn settings, answering stored bytes."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    routes = []
    for meta_path in sorted(payload_dir.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        body = (payload_dir / meta["body_file"]).read_bytes()

        def handler(body: bytes = body, media: str = meta["media_type"]) -> Any:
            async def endpoint(request: Request) -> Response:
                await request.body()  # a POST reads its body, like the simulator does
                return Response(body, media_type=media)

            return endpoint

        routes.append(Route(meta["path"], handler(), methods=[meta["method"]]))
    serve_baseline(Starlette(routes=routes))


def serve_baseline(app: Any) -> None:
    """Serve a baseline app like ``tanium-sim serve`` does (its uvicorn settings and GC tuning), on a free
    port of 127.0.0.1, printing ``serving http://127.0.0.1:PORT`` once listening (what :func:`serve` waits
    for): the ratio then measures the app, not the process settings."""
    import uvicorn

    from simulator.server import tune_gc, uvicorn_config

    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", 0))
    tune_gc()
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets=sockets)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"serving http://127.0.0.1:{port}", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run()


def save_payload(payload_dir: Path, name: str, method: str, path: str, body: bytes, media: str) -> None:
    (payload_dir / f"{name}.bin").write_bytes(body)
    meta = {"method": method, "path": path, "body_file": f"{name}.bin", "media_type": media}
    (payload_dir / f"{name}.json").write_text(json.dumps(meta))


# --- load generators -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    requests_s: float
    p99_ms: float
    bytes_s: float
    errors: int
    client: str
    requests: int = 0  # answered in the run (0: not counted)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _size(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)([KMGT]?B)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[unit]


def wrk_load(
    url: str, *, method: str, headers: dict[str, str], body: bytes, seconds: float, connections: int
) -> LoadResult:
    """Drive ``url`` with wrk (one thread, pinned to CPU 1) and parse its summary."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"wrk.method = {json.dumps(method)}\n")
        script.write(f"wrk.body = {json.dumps(body.decode())}\n")
        for key, value in headers.items():
            script.write(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}\n")
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=_pin(1),
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\n\s+99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    transfer = _size(re.search(r"Transfer/sec:\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(found.group(1))
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in found.groups())
    done = re.search(r"(\d+) requests in", out)
    return LoadResult(rps, p99, transfer, errors, "wrk", int(done.group(1)) if done else 0)


async def _asyncio_load(
    url: str, method: str, headers: dict[str, str], body: bytes, seconds: float, connections: int
) -> LoadResult:
    parsed = httpx.URL(url)
    head = f"{method} {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    latencies: list[float] = []
    received = errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal received, errors
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                writer.write(request)
                header = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", header).group(1))  # type: ignore[union-attr]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                received += length
                if not header.startswith(b"HTTP/1.1 2"):
                    errors += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    p99 = statistics.quantiles(latencies, n=100)[98] * 1000 if len(latencies) > 100 else float("nan")
    rps = len(latencies) / elapsed
    return LoadResult(rps, p99, received / elapsed, errors, "asyncio", len(latencies))


def load(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    seconds: float = 5.0,
    connections: int = 32,
    client: str = "auto",
) -> LoadResult:
    """Drive ``url`` for ``seconds`` with ``connections`` keep-alive connections (wrk when available)."""
    headers = headers or {}
    if client == "wrk" or (client == "auto" and shutil.which("wrk")):
        return wrk_load(
            url, method=method, headers=headers, body=body, seconds=seconds, connections=connections
        )
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_asyncio_load(url, method, headers, body, seconds, connections))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()  # the name may hold spaces: fields after it
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    """A load run and the server's CPU time per request during it (µs; nan when not counted)."""

    load: LoadResult
    cpu_us: float


def measured_load(server: Server, path: str, **opts: Any) -> Measured:
    """:func:`load` on ``server``, with the CPU time the server process spent per answered request."""
    before = cpu_seconds(server.proc.pid)
    result = load(server.url + path, **opts)
    used = cpu_seconds(server.proc.pid) - before
    return Measured(result, used / result.requests * 1e6 if result.requests else float("nan"))


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


# --- the console's cost ----------------------------------------------------------------------------

CONSOLE_ADMIN_ENV = "TANIUM_SIM_BENCH_ADMIN"  # how the console client gets the admin token (not argv)
CONSOLE_POLLS = (  # what the page asks for, and how often (simulator/console/static/console.js)
    (1.0, ("/_sim/state", "/_sim/stats")),  # then at least 50x what they took, at most every 10 s
    (2.0, ("/_sim/faults",)),
    (5.0, ("/_sim/scenario", "/_sim/clock")),
)


def run_console_client(url: str) -> None:
    """A console page's traffic, until SIGTERM: the event stream (reconnecting from its last id, as the page
    does) and the polls of :data:`CONSOLE_POLLS`. Prints ``ready`` once both are going, and at the end one
    JSON line: events received, polls answered, errors."""
    import signal
    import threading

    headers = {"Authorization": f"Bearer {os.environ[CONSOLE_ADMIN_ENV]}"}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    counts = {"events": 0, "polls": 0, "errors": 0}
    streaming = threading.Event()

    def follow() -> None:
        since = ""
        with httpx.Client(base_url=url, headers={**headers, "Accept": "text/event-stream"}, timeout=30) as c:
            while not stop.is_set():
                try:
                    with c.stream("GET", "/_sim/events" + (f"?since={since}" if since else "")) as r:
                        for line in r.iter_lines():
                            streaming.set()
                            if line.startswith("id: "):
                                since = line[4:]
                                counts["events"] += 1
                            if stop.is_set():
                                return
                except httpx.HTTPError:
                    counts["errors"] += 1
                    stop.wait(0.5)

    threading.Thread(target=follow, daemon=True).start()
    due = {every: 0.0 for every, _ in CONSOLE_POLLS}
    announced = False
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        while not stop.is_set():
            now = time.monotonic()
            for every, paths in CONSOLE_POLLS:
                if now >= due[every]:
                    for path in paths:
                        try:
                            ok = c.get(path).status_code == 200
                        except httpx.HTTPError:
                            ok = False
                        counts["polls" if ok else "errors"] += 1
                    took = time.monotonic() - now
                    due[every] = now + (min(10.0, max(every, 50 * took)) if every == 1.0 else every)
            if not announced and streaming.is_set():
                print("ready", flush=True)
                announced = True
            stop.wait(max(0.0, min(due.values()) - time.monotonic()))
    print(json.dumps(counts), flush=True)


@contextmanager
def console_client(url: str, admin: str) -> Iterator[dict[str, int]]:
    """A console client process (pinned to CPU 1, beside the load generator) for the ``with`` block; the
    dict it yields is filled with its counts when the block ends."""
    env = {**os.environ, CONSOLE_ADMIN_ENV: admin}
    command = [sys.executable, str(Path(__file__).resolve()), "--console-client", url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, cwd=ROOT, preexec_fn=_pin(1))
    counts: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the console client did not start")
        yield counts
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
            counts.update(json.loads(out.decode().strip().splitlines()[-1]))
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class ConsoleCost:
    """One route on one simulator: its best round without a console and with one, and the CPU."""

    off: LoadResult
    on: LoadResult
    off_cpu_us: float
    on_cpu_us: float
    console: dict[str, int]

    @property
    def ratio(self) -> float:
        """Throughput with the console / without: 1.0 is no cost."""
        return self.on.requests_s / self.off.requests_s if self.off.requests_s else float("nan")

    @property
    def cpu_ratio(self) -> float:
        """Server CPU per vendor request, with the console / without (the console's own requests count)."""
        return self.on_cpu_us / self.off_cpu_us if self.off_cpu_us else float("nan")


def measure_console(sim: Server, case: Case, token: str, admin: str, args: argparse.Namespace) -> ConsoleCost:
    """Alternate rounds of ``case`` on the simulator without and with a console client; best of each."""
    opts: dict[str, Any] = {
        "method": case.method,
        "headers": {"session": token, "Content-Type": "application/json"},
        "body": case.body,
        "seconds": args.seconds,
        "connections": args.connections,
        "client": args.client,
    }
    load(sim.url + case.path, **{**opts, "seconds": 1.0})  # warm up
    offs: list[Measured] = []
    ons: list[Measured] = []
    seen: dict[str, int] = {"events": 0, "polls": 0, "errors": 0}
    for _ in range(args.rounds):
        offs.append(measured_load(sim, case.path, **opts))
        with console_client(sim.url, admin) as counts:
            ons.append(measured_load(sim, case.path, **opts))
        for key in seen:
            seen[key] += counts.get(key, 0)
    return ConsoleCost(
        off=max((m.load for m in offs), key=lambda r: r.requests_s),
        on=max((m.load for m in ons), key=lambda r: r.requests_s),
        off_cpu_us=min(m.cpu_us for m in offs),
        on_cpu_us=min(m.cpu_us for m in ons),
        console=seen,
    )


def print_console(results: dict[str, ConsoleCost]) -> None:
    print(
        f"{'route':22} {'console off req/s':>18} {'on req/s':>9} {'ratio':>6} {'off p99 ms':>11} "
        f"{'on p99 ms':>10} {'errors':>7}  target on/off >= 0.95"
    )
    for label, r in results.items():
        verdict = "met" if r.ratio >= 0.95 else "MISSED"
        print(
            f"{label:22} {r.off.requests_s:18.0f} {r.on.requests_s:9.0f} {r.ratio:6.2f} {r.off.p99_ms:11.2f} "
            f"{r.on.p99_ms:10.2f} {r.off.errors + r.on.errors:7d}  {verdict}"
        )
    print("simulator CPU per vendor request (least of the rounds; the console's own requests included):")
    print(f"{'route':22} {'console off µs':>18} {'on µs':>9} {'ratio':>6}  (on / off)   console client saw")
    for label, r in results.items():
        c = r.console
        print(
            f"{label:22} {r.off_cpu_us:18.1f} {r.on_cpu_us:9.1f} {r.cpu_ratio:6.2f}"
            f"                {c['events']} events, {c['polls']} polls, {c['errors']} errors"
        )


# --- the benchmark ---------------------------------------------------------------------------------


LISTED = 10  # connections listed in the common-case listing


@dataclass(frozen=True)
class Case:
    """One route to benchmark: the request, and the exact bytes the simulator answers it with."""

    label: str
    method: str
    path: str
    body: bytes
    answer: bytes


def _wait_connected(c: httpx.Client, count: int) -> list[dict[str, Any]]:
    """The listing once ``count`` connections are connected (the connect delay runs on the real clock)."""
    for _ in range(600):
        conns: list[dict[str, Any]] = c.get(f"{TR}/conns").json()
        if sum(x["status"] == "connected" for x in conns) >= count:
            return conns
        time.sleep(0.05)
    raise RuntimeError(f"fewer than {count} connections connected after 30 s")


def prepare(url: str, token: str) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    """One connected connection and one completed task on the simulator: (endpoints, task path, target)."""
    with httpx.Client(base_url=url, headers={"session": token}, timeout=60) as c:
        fleet = c.get("/plugin/products/dec/v1/endpoints?limit=100").json()["data"]
        endpoints = [e for e in fleet if e.get("online", True)][:LISTED]  # offline ones never connect
        endpoint = endpoints[0]
        target = {"target": {"clientId": endpoint["clientId"]}}
        c.post(f"{TR}/conns/connect", json=target).raise_for_status()
        cid = _wait_connected(c, 1)[0]["id"]
        path = "/opt/cryptosense/traces/trace.cst.gz"
        if endpoint["platform"] == "Windows":
            path = r"C:\ProgramData\Cryptosense\traces\trace.cst.gz"
        task_id = c.post(f"{TR}/conns/{cid}/file", json={"path": path}).json()["taskInfo"]["id"]
        for _ in range(600):
            task = c.get(f"{TR}/tasks/{task_id}").json()["data"]
            if task["status"] != "STARTED":
                break
            time.sleep(0.05)
        return endpoints, f"{TR}/tasks/{task_id}", target


def connect_more(url: str, token: str, endpoints: list[dict[str, Any]]) -> None:
    """Open a connection to each endpoint after the first, and wait until all of them are connected."""
    with httpx.Client(base_url=url, headers={"session": token}, timeout=60) as c:
        for endpoint in endpoints[1:]:
            c.post(
                f"{TR}/conns/connect", json={"target": {"clientId": endpoint["clientId"]}}
            ).raise_for_status()
        _wait_connected(c, len(endpoints))


def answer(url: str, token: str, method: str, path: str, body: bytes) -> bytes:
    """What the server answers (200 only) to one request."""
    headers = {"session": token, "Content-Type": "application/json"}
    response = httpx.request(method, url + path, headers=headers, content=body, timeout=60)
    response.raise_for_status()
    return response.content


@dataclass(frozen=True)
class Compared:
    """One route on both servers: each one's best round by throughput, and its least CPU per request."""

    sim: LoadResult
    bare: LoadResult
    sim_cpu_us: float
    bare_cpu_us: float

    @property
    def ratio(self) -> float:
        """Throughput, simulator / bare: the target's figure."""
        return self.sim.requests_s / self.bare.requests_s if self.bare.requests_s else float("nan")

    @property
    def cpu_ratio(self) -> float:
        """CPU per request, bare / simulator: the same ratio for a CPU-bound server, and steadier when
        other work shares the machine (it slows a server down, but hardly adds CPU time per request)."""
        return self.bare_cpu_us / self.sim_cpu_us if self.sim_cpu_us else float("nan")


def measure(sim: Server, case: Case, token: str, args: argparse.Namespace) -> Compared:
    """Alternate the simulator and a bare app serving ``case.answer`` (the same bytes); best of each."""
    headers = {"session": token, "Content-Type": "application/json"}
    opts: dict[str, Any] = {
        "method": case.method,
        "headers": headers,
        "body": case.body,
        "seconds": args.seconds,
        "connections": args.connections,
        "client": args.client,
    }
    with tempfile.TemporaryDirectory() as tmp:
        save_payload(Path(tmp), "route", case.method, case.path, case.answer, "application/json")
        with serve(bare_command(Path(tmp))) as bare:
            if answer(bare.url, token, case.method, case.path, case.body) != case.answer:
                raise RuntimeError(f"{case.label}: the bare app does not answer the simulator's bytes")
            load(bare.url + case.path, **{**opts, "seconds": 1.0})  # warm both before measuring
            load(sim.url + case.path, **{**opts, "seconds": 1.0})
            # alternate and keep each server's best round: other work on the machine only lowers figures
            rounds = [
                (measured_load(bare, case.path, **opts), measured_load(sim, case.path, **opts))
                for _ in range(args.rounds)
            ]
    if case.method == "GET" and answer(sim.url, token, case.method, case.path, b"") != case.answer:
        print(f"WARNING: {case.label}: the simulator's answer changed during the runs (state expired?)")
    return Compared(
        sim=max((s.load for _, s in rounds), key=lambda r: r.requests_s),
        bare=max((b.load for b, _ in rounds), key=lambda r: r.requests_s),
        sim_cpu_us=min(s.cpu_us for _, s in rounds),
        bare_cpu_us=min(b.cpu_us for b, _ in rounds),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="load per route and server (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per route (best kept)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--endpoints", type=int, default=1_000, help="simulator fleet size")
    parser.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto")
    parser.add_argument(
        "--sim-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more `tanium-sim serve` argument, e.g. --sim-arg=--no-journal (repeatable)",
    )
    parser.add_argument("--only", action="append", default=[], help="routes whose label contains this")
    parser.add_argument(
        "--console",
        action="store_true",
        help="measure the live console's cost instead: each route without and with a console client, "
        "on the same simulator",
    )
    parser.add_argument("--serve-bare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--console-client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare:
        run_bare(args.serve_bare)
        return 0
    if args.console_client:
        run_console_client(args.console_client)
        return 0

    token = "token-" + secrets.token_hex(16)
    admin = secrets.token_urlsafe(16)
    print(
        f"bench_api: {machine()}; {args.connections} connections,"
        f" {args.seconds:g} s per run, best of {args.rounds}"
        + (f"; simulator with {' '.join(args.sim_arg)}" if args.sim_arg else "")
        + ("; console off vs on, same simulator process" if args.console else "")
    )
    results: dict[str, Compared] = {}
    costs: dict[str, ConsoleCost] = {}
    extra = [*args.sim_arg, "--admin-token", admin]
    with serve(simulator_command(token, args.endpoints, *extra)) as sim:
        endpoints, task_path, target = prepare(sim.url, token)
        conns = f"{TR}/conns"

        def run(label: str, method: str, path: str, body: bytes = b"") -> None:
            if args.only and not any(part in label for part in args.only):
                return
            case = Case(label, method, path, body, answer(sim.url, token, method, path, body))
            if args.console:
                costs[label] = measure_console(sim, case, token, admin, args)
            else:
                results[label] = measure(sim, case, token, args)

        # In this order: each step only adds connections (POST last: every connect adds a record).
        run("GET /conns", "GET", conns)
        run("GET /tasks/{id}", "GET", task_path)
        connect_more(sim.url, token, endpoints)
        run(f"GET /conns, {len(endpoints)} listed", "GET", conns)
        run("POST /conns/connect", "POST", f"{TR}/conns/connect", json.dumps(target).encode())
    if costs:
        client = next(iter(costs.values())).on.client
        print(
            f"load generator: {client}"
            + ("" if client == "wrk" else " (install wrk for trustworthy figures)")
        )
        print_console(costs)
        return 0
    if not results:
        parser.error(f"no route matches --only {args.only}")
    client = next(iter(results.values())).sim.client
    print(f"load generator: {client}" + ("" if client == "wrk" else " (install wrk for trustworthy figures)"))
    print(
        f"{'route':22} {'simulator req/s':>16} {'bare req/s':>11} {'ratio':>6} {'sim p99 ms':>11} "
        f"{'bare p99 ms':>12} {'errors':>7}  target >= 0.80x"
    )
    for label, r in results.items():
        verdict = "met" if r.ratio >= 0.8 else "MISSED"
        print(
            f"{label:22} {r.sim.requests_s:16.0f} {r.bare.requests_s:11.0f} {r.ratio:6.2f} "
            f"{r.sim.p99_ms:11.2f} {r.bare.p99_ms:12.2f} {r.sim.errors + r.bare.errors:7d}  {verdict}"
        )
    print("server CPU per request (least of the rounds; steadier than req/s on a shared machine):")
    print(f"{'route':22} {'simulator µs':>16} {'bare µs':>11} {'ratio':>6}  (bare / simulator)")
    for label, r in results.items():
        print(f"{label:22} {r.sim_cpu_us:16.1f} {r.bare_cpu_us:11.1f} {r.cpu_ratio:6.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
