"""Benchmark: is ``/_sim/health`` still answered, and how fast, while one process holds idle sockets?

Why: two clients holding 10,200 idle sockets each (connected, sending nothing) once left the simulator
unable to accept anything: uvicorn closes a connection for idleness only after a response, and every
socket held a file descriptor until ``accept`` failed. ``serve`` now closes such sockets after
``--keep-alive-timeout``, cuts request heads slower than ``--header-timeout`` and answers connections past
``--max-connections`` with a 503 (docs/serving.md). Baseline: the same health check with no idle socket,
on the same server. Figures are printed::

    .venv/bin/python loadtests/bench_idle.py --sockets 5000

Three servers in turn (child processes on 127.0.0.1): one that keeps idle sockets for two minutes (the
sockets stay held while health is timed), one with ``--max-connections`` half the sockets, and one with
the defaults (how long until the server has closed every idle socket).
"""

from __future__ import annotations

import argparse
import resource
import secrets
import selectors
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests.bench_api import machine, serve, simulator_command

HEALTH = b"GET /_sim/health HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n"
VENDOR = (
    b"GET /plugin/products/threat-response/api/v1/conns HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n"
)


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def ask(addr: tuple[str, int], request: bytes = HEALTH, timeout: float = 10.0) -> tuple[int, float]:
    """One request on a new connection: (status, seconds); status 0 when nothing came back in time."""
    started = time.perf_counter()
    try:
        with socket.create_connection(addr, timeout=timeout) as sock:
            sock.sendall(request)
            head = sock.recv(64)
    except OSError:
        return 0, time.perf_counter() - started
    status = int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, time.perf_counter() - started


def timed(addr: tuple[str, int], count: int) -> tuple[float, float, float, int]:
    """p50 ms, p99 ms, max ms and the number of 200s over ``count`` health checks."""
    results = [ask(addr) for _ in range(count)]
    ms = sorted(t * 1000 for _, t in results)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return statistics.median(ms), p99, ms[-1], sum(1 for s, _ in results if s == 200)


def open_idle(addr: tuple[str, int], count: int) -> tuple[list[socket.socket], float]:
    """``count`` connected sockets that never send a byte, and the seconds it took to open them."""
    started = time.perf_counter()
    sockets = [socket.create_connection(addr, timeout=10) for _ in range(count)]
    return sockets, time.perf_counter() - started


def wait_closed(sockets: list[socket.socket], limit_s: float) -> list[float]:
    """Seconds until the server closed each socket (EOF or reset), for those it closed within ``limit_s``."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, sock)
    started, closed = time.perf_counter(), list[float]()
    while len(closed) < len(sockets) and time.perf_counter() - started < limit_s:
        for key, _ in selector.select(timeout=0.5):
            conn: socket.socket = key.data
            try:
                data = conn.recv(1024)
            except OSError:
                data = b""
            if not data:
                selector.unregister(conn)
                closed.append(time.perf_counter() - started)
    selector.close()
    return closed


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sockets", type=int, default=5_000, help="idle sockets to hold (default 5000)")
    parser.add_argument("--checks", type=int, default=200, help="health checks per measurement (default 200)")
    args = parser.parse_args()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if args.sockets + 100 > soft:
        raise SystemExit(f"bench_idle: --sockets {args.sockets} needs ulimit -n above {args.sockets + 100}")
    token = "token-" + secrets.token_hex(8)
    n = args.sockets
    print(f"bench_idle: {machine()}; {n:,} idle sockets from one process, {args.checks} health checks each")

    # 1. Held sockets (keep-alive and header timeouts of two minutes): is health answered, how fast?
    held = simulator_command(token, 100, "--keep-alive-timeout", "120", "--header-timeout", "120")
    with serve(held) as server:
        addr = address(server.url)
        base = timed(addr, args.checks)
        idle, open_s = open_idle(addr, n)
        loaded = timed(addr, args.checks)
        close_all(idle)
    print(f"opened {n:,} idle sockets in {open_s:.2f} s")
    print(f"{'health check':<34}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'200s':>8}")
    print(f"{'no idle socket (baseline)':<34}{base[0]:>9.2f}{base[1]:>9.2f}{base[2]:>9.2f}{base[3]:>8}")
    print(
        f"{f'{n:,} idle sockets held':<34}{loaded[0]:>9.2f}{loaded[1]:>9.2f}{loaded[2]:>9.2f}{loaded[3]:>8}"
    )
    print(f"ratio p50 held / baseline: {loaded[0] / base[0]:.2f}x")

    # 2. --max-connections half the sockets: surplus sockets closed after 1 s, health still 200, API 503.
    limit = max(1, n // 2)
    capped = [*held, "--max-connections", str(limit)]
    with serve(capped) as server:
        addr = address(server.url)
        idle, _ = open_idle(addr, n)
        capped_health = timed(addr, args.checks)
        vendor_status, _ = ask(addr, VENDOR)
        closed = wait_closed(idle, 5.0)
        close_all(idle)
    print(
        f"--max-connections {limit:,} with {n:,} idle: health p50 {capped_health[0]:.2f} ms, "
        f"{capped_health[3]}/{args.checks} answered 200; an API call on a new connection: {vendor_status}; "
        f"surplus sockets closed by the server within 5 s: {len(closed):,} of {n - limit:,}"
    )

    # 3. Defaults: every idle socket closed after --keep-alive-timeout (5 s).
    with serve(simulator_command(token, 100)) as server:
        addr = address(server.url)
        idle, _ = open_idle(addr, n)
        closed = wait_closed(idle, 30.0)
        after = ask(addr)
        close_all(idle)
    last = f"{max(closed):.2f} s" if closed else "never"
    print(
        f"defaults (--keep-alive-timeout 5): {len(closed):,} of {n:,} idle sockets closed by the server, "
        f"the last after {last}; health afterwards: {after[0]} in {after[1] * 1000:.2f} ms"
    )
    ok = loaded[3] == args.checks and capped_health[3] == args.checks and len(closed) == n
    print(f"verdict: {'health answered throughout' if ok else 'health NOT always answered'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
