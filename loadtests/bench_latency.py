"""Benchmark: do injected delays stay non-blocking? Throughput at a fixed 100 ms delay, 1,000 connections.

With every request delayed by ``d`` seconds and ``c`` connections each sending one request at a time, no
server can exceed the bound ``c / d`` requests per second (issue #4's target: the simulator reaches at
least 0.8x of it). A server whose delays hold a thread or a lock falls far below it (WireMock's thread
pool: ~170 req/s at 50 ms); a server that is simply out of CPU falls below it too, so the bound alone
cannot tell the two apart. Hence a baseline measured in the same run: a bare ASGI app (sleep the delay
with ``asyncio.sleep``, answer ``[]``) served by the simulator's own uvicorn configuration
(``simulator.server.uvicorn_config``: uvloop and httptools when installed) and process tuning
(``simulator.server.tune_gc``). It is what this machine's server stack can do at all
with this delay.

Four servers run as child processes on 127.0.0.1 (pinned to CPU 0 when there are 2+ CPUs): the
simulator (``serve --no-journal`` with a scenario holding only ``latency: default: {model: fixed}``) and
the bare app, each with the delay and with no delay (the CPU ceiling). They are measured in alternating
rounds (simulator, bare, simulator, bare, ...) with ``GET /conns`` and the best round of each is kept, so
other work on the machine lowers figures rather than skewing a ratio. The load generator is ``wrk`` when
installed (one thread pinned to CPU 1), else raw-asyncio keep-alive clients in child processes; the output
says which. Only 2xx responses count; non-2xx and socket errors are reported and flag the run. Figures are
printed, never asserted; the exit status is 0 unless a server or the load generator fails::

    .venv/bin/python loadtests/bench_latency.py                    # 1,000 connections, 100 ms, 5 s windows
    .venv/bin/python loadtests/bench_latency.py --connections 200 --delay-ms 50 --seconds 3 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests.bench_api import _ms, _pin, machine, serve, serve_baseline, simulator_command

HOST = "127.0.0.1"
PATH = "/plugin/products/threat-response/api/v1/conns"
TARGET = 0.80  # issue #4: throughput >= 0.8x the bound concurrency / delay
ERROR_KINDS = ("non2xx", "connect", "read", "write", "timeout")


# --- the baseline: a bare ASGI app on the simulator's uvicorn configuration --------------------------


def run_bare(delay_ms: float) -> None:
    """Answer any request with ``200 []`` after ``delay_ms``, served like ``tanium-sim serve``."""
    delay = delay_ms / 1000
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", b"2"), (b"content-type", b"application/json")],
    }
    body = {"type": "http.response.body", "body": b"[]"}

    async def app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        if delay:
            await asyncio.sleep(delay)
        await send(start)
        await send(body)

    serve_baseline(app)


# --- load generators ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured window: 2xx responses over its duration, and every error seen."""

    ok: int
    seconds: float
    p99_ms: float = math.nan
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def parse_wrk(out: str) -> Run:
    """wrk's summary -> a :class:`Run` (its "Non-2xx or 3xx" count is every status >= 400)."""
    done = re.search(r"(\d+) requests in ([\d.]+(?:us|ms|s|m))", out)
    if not done:
        raise RuntimeError("wrk printed no summary")
    errors = dict.fromkeys(ERROR_KINDS, 0)
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors["non2xx"] = int(found.group(1))
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors.update(zip(ERROR_KINDS[1:], map(int, found.groups()), strict=True))
    p99 = re.search(r"\n\s+99%\s+(\S+)", out)
    return Run(
        ok=int(done.group(1)) - errors["non2xx"],
        seconds=_ms(done.group(2)) / 1000,
        p99_ms=_ms(p99.group(1)) if p99 else math.nan,
        errors=errors,
    )


def wrk_timeout_s(delay_ms: float) -> int:
    """wrk's default timeout (2 s) plus the injected delay: a response later than this is an error."""
    return math.ceil(delay_ms / 1000) + 2


def wrk_run(url: str, headers: dict[str, str], connections: int, seconds: float, delay_ms: float) -> Run:
    """wrk for ``seconds`` (whole seconds: wrk takes no fractions), one thread pinned to CPU 1 if possible."""
    pin = _pin(1)
    threads = 1 if pin else min(2, connections)  # wrk wants -c >= -t
    timeout_s = wrk_timeout_s(delay_ms)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        for key, value in headers.items():
            script.write(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}\n")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    command += ["--timeout", f"{timeout_s}s", "--latency", "-s", script.name, url]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + timeout_s + 60,
            preexec_fn=pin,
        )
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.stderr.strip()[:200] or done.returncode})")
    return parse_wrk(done.stdout)


async def _connection(
    port: int, request: bytes, start_at: float, stop_at: float, tally: dict[str, int]
) -> None:
    try:
        reader, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        tally["connect"] += 1
        return
    try:
        while True:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if match and (length := int(match.group(1))):
                await reader.readexactly(length)
            now = time.time()
            if now >= stop_at:
                break
            if now >= start_at:
                tally["ok" if head.startswith(b"HTTP/1.1 2") else "non2xx"] += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        tally["read"] += 1
    finally:
        writer.close()


async def _client(port: int, token: str, connections: int, start_at: float, stop_at: float) -> dict[str, int]:
    request = f"GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nsession: {token}\r\n\r\n".encode()
    tally = dict.fromkeys(("ok", *ERROR_KINDS), 0)
    tasks = [
        asyncio.ensure_future(_connection(port, request, start_at, stop_at, tally))
        for _ in range(connections)
    ]
    # a server that stops answering must not hang the benchmark: what is still waiting then is a timeout
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, stop_at - time.time()) + 10)
    for task in pending:
        task.cancel()
        tally["timeout"] += 1
    return tally


def client_worker(port: int, token: str, connections: int, start_at: float, stop_at: float) -> None:
    """A child process of the asyncio load generator: prints its tally as one JSON line."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    print(json.dumps(asyncio.run(_client(port, token, connections, start_at, stop_at))), flush=True)


def asyncio_run(url: str, token: str, connections: int, seconds: float, warmup: float) -> Run:
    """Raw-asyncio keep-alive clients in child processes, pinned away from the servers' CPU if possible.

    The connections open and load the server for ``warmup`` seconds before the window starts counting.
    """
    cpus = os.cpu_count() or 1
    pinned = _pin(1) is not None
    processes = max(1, min(4, cpus - 1 if pinned else cpus, connections))
    port = int(url.rsplit(":", 1)[1])
    start_at = time.time() + warmup + 0.5  # + the child processes' start-up
    stop_at = start_at + seconds
    share = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    preexec = (lambda: os.sched_setaffinity(0, set(range(1, cpus)))) if pinned else None
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(port), token]
    clients = [
        subprocess.Popen(
            [*command, str(n), repr(start_at), repr(stop_at)],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=preexec,
        )
        for n in share
    ]
    tally = dict.fromkeys(("ok", *ERROR_KINDS), 0)
    try:
        for proc in clients:
            out, _ = proc.communicate(timeout=warmup + seconds + 60)
            if proc.returncode != 0 or not out.strip():
                raise RuntimeError(f"an asyncio client process failed (exit {proc.returncode})")
            for key, value in json.loads(out.strip().splitlines()[-1]).items():
                tally[key] += value
    finally:
        for proc in clients:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    ok = tally.pop("ok")
    return Run(ok=ok, seconds=seconds, errors=tally)


# --- the benchmark -----------------------------------------------------------------------------------


def verdict(sim: float, bare: float, bound: float, target: float = TARGET) -> str:
    """One line from the delayed figures: met, or which limit kept the simulator below the target."""
    if sim >= target * bound:
        return f"target met: the simulator reaches {sim / bound:.2f}x of the bound (>= {target:.2f})"
    if bare < target * bound:
        line = (
            f"target missed: the bare app itself reaches only {bare / bound:.2f}x of the bound here"
            " (CPU-bound machine)"
        )
        if sim < target * bare:
            line += f"; and simulator overhead: it reaches {sim / bare:.2f}x of the bare app"
        return line
    return f"target missed: simulator overhead (it reaches {sim / bare:.2f}x of the bare app)"


def start_servers(stack: contextlib.ExitStack, commands: dict[str, list[str]]) -> dict[str, str]:
    """Start every server at once (their imports take seconds each); ``stack`` stops them: name -> URL."""
    managers = {name: serve(command) for name, command in commands.items()}
    with ThreadPoolExecutor(len(managers)) as pool:
        started = {name: pool.submit(manager.__enter__) for name, manager in managers.items()}
    urls, failures = {}, []
    for name, future in started.items():
        try:
            urls[name] = future.result().url
        except Exception as exc:  # the others still get stopped below, then the first failure is raised
            failures.append(exc)
        else:
            stack.push(managers[name].__exit__)
    if failures:
        raise failures[0]
    return urls


def scenario_file(folder: Path, delay_ms: float) -> Path:
    path = folder / f"bench-latency-{delay_ms:g}ms.yaml"
    path.write_text(
        "# Benchmark: a fixed delay on every call and nothing else.\n"
        f"latency:\n  default: {{model: fixed, ms: {delay_ms:g}}}\n"
    )
    return path


def bounded(
    kind: Callable[[str], float], low: float, high: float, what: str, *, positive: bool = False
) -> Callable[[str], float]:
    """An argparse type: ``kind(text)`` within ``[low, high]`` (``> 0`` too when ``positive``)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            whole = "whole " if kind is int else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not a {whole}number of {what}") from None
        if not low <= value <= high or (positive and value <= 0):
            raise argparse.ArgumentTypeError(
                f"keep it bounded: {what} {'above' if positive else 'from'} {low:g} up to {high:g}"
            )
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Servers and clients stay on 127.0.0.1; the whole run takes about "
        "rounds x 4 x (seconds [+ warmup with the asyncio client]) plus start-up.",
    )
    p.add_argument(
        "--connections",
        type=bounded(int, 1, 5000, "connections"),
        default=1000,
        help="concurrent keep-alive connections, 1-5000 (default 1000)",
    )
    p.add_argument(
        "--delay-ms",
        type=bounded(float, 0, 10_000, "milliseconds", positive=True),
        default=100.0,
        help="fixed delay injected into every request, > 0 and <= 10000 ms (default 100)",
    )
    p.add_argument(
        "--seconds",
        type=bounded(float, 1, 30, "seconds"),
        default=5.0,
        help="measured window per run, 1-30 s; wrk rounds it to whole seconds (default 5)",
    )
    p.add_argument(
        "--warmup",
        type=bounded(float, 0, 30, "seconds"),
        default=2.0,
        help="unmeasured load first, 0-30 s: one run per server before the rounds with wrk, "
        "the start of every window with the asyncio client (default 2)",
    )
    p.add_argument(
        "--rounds",
        type=bounded(int, 1, 10, "rounds"),
        default=2,
        help="alternating rounds per server, 1-10; each server's best is kept (default 2)",
    )
    p.add_argument(
        "--client",
        choices=("auto", "wrk", "asyncio"),
        default="auto",
        help="load generator: wrk when installed (auto), or the slower raw-asyncio clients",
    )
    p.add_argument("--serve-bare", type=float, metavar="MS", help=argparse.SUPPRESS)
    p.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.serve_bare is not None:
        run_bare(args.serve_bare)
        return 0
    if args.worker:
        port, token, n, start_at, stop_at = args.worker
        client_worker(int(port), token, int(n), float(start_at), float(stop_at))
        return 0
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "asyncio"
    elif client == "wrk" and not shutil.which("wrk"):
        parser().error("wrk is not installed: install it (apt-get install wrk) or pass --client asyncio")
    try:
        return benchmark(args, client)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(
            f"bench_latency failed: {exc}; check that the simulator starts (tanium-sim serve).",
            file=sys.stderr,
        )
        return 1


def benchmark(args: argparse.Namespace, client: str) -> int:
    token = "token-" + secrets.token_hex(16)
    c, d = args.connections, args.delay_ms
    pinned = _pin(1) is not None
    print(
        f"bench_latency: {machine()}; {c} connections, {d:g} ms delay,"
        f" {args.seconds:g} s windows, best of {args.rounds}; load average {os.getloadavg()[0]:.1f} at start"
    )
    if client == "wrk":
        threads = 1 if pinned else min(2, c)
        where = (
            "1 thread pinned to CPU 1; servers pinned to CPU 0" if pinned else f"{threads} threads, unpinned"
        )
        print(f"load generator: wrk ({where})")
    else:
        where = "pinned away from CPU 0; servers pinned to CPU 0" if pinned else "unpinned"
        print(
            f"load generator: raw-asyncio client processes ({where}); slower than wrk, so every figure"
            " understates the servers (install wrk for trustworthy figures)"
        )

    def measure(url: str) -> Run:
        if client == "wrk":
            return wrk_run(url + PATH, {"session": token}, c, args.seconds, d)
        return asyncio_run(url, token, c, args.seconds, args.warmup)

    runs: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        commands = {}
        for name, delay in (("sim", d), ("bare", d), ("sim0", 0.0), ("bare0", 0.0)):
            if name.startswith("sim"):
                extra = ("--scenario", str(scenario_file(Path(tmp), delay)), "--no-journal")
                commands[name] = simulator_command(token, 10, *extra)
            else:
                commands[name] = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", repr(delay)]
            runs[name] = []
        servers = start_servers(stack, commands)
        if client == "wrk" and args.warmup > 0:
            for url in servers.values():
                wrk_run(url + PATH, {"session": token}, c, args.warmup, d)
        for _ in range(args.rounds):
            for name, url in servers.items():
                runs[name].append(measure(url))

    best = {name: max(rs, key=lambda r: r.rate) for name, rs in runs.items()}
    errors = {name: sum(r.error_count for r in rs) for name, rs in runs.items()}
    bound = c / (d / 1000)
    print(
        f"{'server':30} {f'{d:g} ms delay req/s':>18} {'p99 ms':>8} {'no delay req/s':>15} {'p99 ms':>8}"
        f" {'errors':>7}"
    )
    for label, key in (("simulator", "sim"), ("bare ASGI app, same uvicorn", "bare")):
        delayed, zero = best[key], best[key + "0"]
        print(
            f"{label:30} {delayed.rate:18,.0f} {_p99(delayed):>8} {zero.rate:15,.0f} {_p99(zero):>8}"
            f" {errors[key] + errors[key + '0']:7d}"
        )
    sim, bare = best["sim"].rate, best["bare"].rate
    print(f"bound concurrency / delay:    {bound:10,.0f} req/s")
    print(f"simulator / bound:            {sim / bound:10.2f}x   issue #4's target: >= {TARGET:.2f}")
    print(f"bare / bound:                 {bare / bound:10.2f}x   this machine's ceiling for any app here")
    print(
        f"simulator / bare:             {_ratio(sim, bare):10.2f}x   the simulator's own overhead with delays"
    )
    print(
        f"simulator / bare, no delay:   {_ratio(best['sim0'].rate, best['bare0'].rate):10.2f}x"
        "   the same without delays (CPU ceiling)"
    )
    if total := sum(errors.values()):
        kinds = {k: sum(r.errors.get(k, 0) for rs in runs.values() for r in rs) for k in ERROR_KINDS}
        detail = ", ".join(f"{k} {v}" for k, v in kinds.items() if v)
        if kinds["timeout"] and client == "wrk":
            detail += f"; a wrk timeout is a connection left unanswered for {wrk_timeout_s(d)} s"
        print(f"WARNING: {total} errors in the measured runs ({detail}): only 2xx responses are counted")
    print(f"verdict: {verdict(sim, bare, bound) if bare > 0 else 'no 2xx responses from the bare app'}")
    return 0


def _p99(run: Run) -> str:
    return "-" if math.isnan(run.p99_ms) else f"{run.p99_ms:.1f}"  # the asyncio client measures none


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


if __name__ == "__main__":
    raise SystemExit(main())
