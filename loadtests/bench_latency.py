"""Benchmark: do injected delays stay non-blocking? Throughput at a fixed 100 ms delay, 1,000 connections.

With every request delayed by ``d`` seconds and ``c`` connections each sending one request at a time,
no server can exceed ``c / d`` requests per second; a server whose delays hold a thread or a lock falls
far below it (WireMock's thread pool: ~170 req/s at 50 ms). This script starts ``tanium-sim serve`` on
127.0.0.1 with a scenario holding only the delay and the journal off, drives it with light raw-asyncio
keep-alive HTTP/1.1 clients in separate processes (so the client is not the bottleneck), and prints:

- the zero-delay throughput at the same concurrency (the CPU ceiling of this machine, same run),
- the throughput with the delay, the bound ``c / d``, and the ratio (target >= 0.8).

Bounded: 127.0.0.1 only, a fixed number of connections, well under a minute in total.

    .venv/bin/python loadtests/bench_latency.py                    # 1,000 connections, 100 ms
    .venv/bin/python loadtests/bench_latency.py --connections 200 --delay-ms 50 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "token-0bench0"
PATH = "/plugin/products/threat-response/api/v1/conns"
HOST = "127.0.0.1"


# --------------------------------------------------------------------------- client process
async def _connection(port: int, start_at: float, stop_at: float, counted: list[int]) -> None:
    request = f"GET {PATH} HTTP/1.1\r\nHost: {HOST}\r\nsession: {TOKEN}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while True:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)content-length:\s*(\d+)", head)
            length = int(match.group(1)) if match else 0
            if length:
                await reader.readexactly(length)
            now = time.time()
            if now >= stop_at:
                break
            if now >= start_at:
                counted[0] += 1
    finally:
        writer.close()


async def _client(port: int, connections: int, start_at: float, stop_at: float) -> int:
    counted = [0]
    await asyncio.gather(*(_connection(port, start_at, stop_at, counted) for _ in range(connections)))
    return counted[0]


def client_main(port: int, connections: int, start_at: float, stop_at: float) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps({"responses": asyncio.run(_client(port, connections, start_at, stop_at))}), flush=True)


# --------------------------------------------------------------------------- orchestration
def start_server(delay_ms: float, workdir: Path) -> tuple[subprocess.Popen[str], int]:
    scenario = workdir / f"bench-{int(delay_ms)}ms.yaml"
    scenario.write_text(
        "# Benchmark: a fixed delay on every call and nothing else.\n"
        f"latency:\n  default: {{model: fixed, ms: {delay_ms}}}\n"
    )
    cmd = [sys.executable, "-m", "simulator", "serve", "--port", "0", "--endpoints", "10", "--token", TOKEN]
    cmd += ["--scenario", str(scenario), "--no-journal"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"serving http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, int(match.group(1))


def measure(delay_ms: float, connections: int, processes: int, seconds: float, warmup: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        server, port = start_server(delay_ms, Path(tmp))
        try:
            start_at = time.time() + warmup
            stop_at = start_at + seconds
            share = [
                connections // processes + (1 if i < connections % processes else 0) for i in range(processes)
            ]
            clients = [
                subprocess.Popen(
                    [sys.executable, __file__, "--client", str(port), str(n), repr(start_at), repr(stop_at)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for n in share
            ]
            total = 0
            for proc in clients:
                out, _ = proc.communicate(timeout=seconds + warmup + 60)
                total += json.loads(out.strip().splitlines()[-1])["responses"]
            return total / seconds
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000, help="concurrent keep-alive connections")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="fixed injected delay per request")
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement window per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds to connect and warm up first")
    parser.add_argument(
        "--processes", type=int, default=max(1, min(4, (os.cpu_count() or 2))), help="client processes"
    )
    args = parser.parse_args()
    if not 1 <= args.connections <= 5000 or not 1 <= args.seconds <= 30 or args.delay_ms <= 0:
        parser.error("keep it bounded: 1-5000 connections, 1-30 s, a positive delay")

    print(f"tanium-sim latency benchmark: {args.connections} connections, {args.processes} client processes, "
          f"{args.seconds:g} s windows, 127.0.0.1, cpus={os.cpu_count()}")  # fmt: skip
    ceiling = measure(0.001, args.connections, args.processes, args.seconds, args.warmup)
    print(f"  no delay (CPU ceiling, same run):     {ceiling:10,.0f} req/s")
    delayed = measure(args.delay_ms, args.connections, args.processes, args.seconds, args.warmup)
    bound = args.connections / (args.delay_ms / 1000)
    print(f"  fixed {args.delay_ms:g} ms delay:                 {delayed:10,.0f} req/s")
    print(f"  bound concurrency / delay:            {bound:10,.0f} req/s")
    print(f"  ratio to the bound:                   {delayed / bound:10.2f}x   (target >= 0.80)")
    print(f"  ratio to the bound capped by the CPU ceiling: {delayed / min(bound, ceiling):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
