"""Per-request cost of the simulator app in-process: the hot vendor routes, no sockets, no server.

Calls the ASGI app directly (no HTTP parsing, no event-loop I/O), so what it prints is the app's own
cost per request: the fault middleware, auth, the handler, the response. Beside it, in the same run:
a bare Starlette app answering the simulator's bytes for that route (what ``bench_api.py`` compares
against, here without the server), and a bare ASGI app (answer ``[]``), the floor of this harness. Use it to
see what a change costs before reaching for the socket benchmarks (``bench_api.py``, ``bench_latency.py``),
and ``--profile ROUTE`` for a cProfile of one route (top functions by own time).

    .venv/bin/python loadtests/profile_app.py                        # all routes, best of 3 x 20,000 calls
    .venv/bin/python loadtests/profile_app.py --profile get_task     # where a poll's time goes
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.settings import Settings

TR = "/plugin/products/threat-response/api/v1"
TOKEN = "token-0profile"
ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def _bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"[]"})


async def _answer(app: ASGI, method: str, path: str, body: bytes) -> bytes:
    """The body the simulator answers to one request."""
    chunks: list[bytes] = []
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(_scope(method, path), receive, send)
    return b"".join(chunks)


def _starlette_twin(method: str, path: str, answer: bytes) -> ASGI:
    """A bare Starlette app answering ``answer`` on the route, like bench_api.py's baseline server."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        await request.body()  # a POST reads its body, like the simulator does
        return Response(answer, media_type="application/json")

    return Starlette(routes=[Route(path, endpoint, methods=[method])])


def _scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"session", TOKEN.encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 443),
    }


async def _world(listed: int = 1, journal: bool = False) -> tuple[Any, dict[str, tuple[str, str, bytes]]]:
    """An app on a manual clock with ``listed`` connected connections and one finished task to poll."""
    clock = ManualClock()
    app = create_app(
        Settings(endpoints=1000, seed=1, token=TOKEN, journal=journal), clock=clock, scenario="baseline"
    )
    client_ids = [app.state.backend.fleet.endpoint(i).client_id for i in range(1000)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": TOKEN}) as c:
        for client_id in client_ids[:listed]:
            await c.post(f"{TR}/conns/connect", json={"target": {"clientId": client_id}})
        clock.advance(60)
        conn = (await c.get(f"{TR}/conns")).json()[0]
        backend = app.state.backend
        trace = backend.files.trace_path(backend.fleet.endpoint(0))
        accepted = (await c.post(f"{TR}/conns/{conn['id']}/file", json={"path": trace})).json()
        task_id = accepted["taskInfo"]["id"]
        clock.advance(600)
    body = b'{"target": {"clientId": "%s"}}' % client_ids[listed].encode()
    routes = {
        "list_connections": ("GET", f"{TR}/conns", b""),
        "get_task": ("GET", f"{TR}/tasks/{task_id}", b""),
        "connect": ("POST", f"{TR}/conns/connect", body),
    }
    return app, routes


async def _drive(app: ASGI, method: str, path: str, body: bytes, n: int) -> float:
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(message: dict[str, Any]) -> None:
        pass

    started = time.perf_counter()
    for _ in range(n):
        await app(_scope(method, path), receive, send)
    return (time.perf_counter() - started) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per round (default 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best one is kept (default 3)")
    parser.add_argument(
        "--journal",
        action="store_true",
        help="keep the request journal, as `tanium-sim serve` does unless --no-journal (default: off)",
    )
    parser.add_argument(
        "--profile",
        metavar="ROUTE",
        help="cProfile one route: list_connections, list_connections_10, get_task, connect",
    )
    args = parser.parse_args()
    if not 100 <= args.calls <= 1_000_000 or not 1 <= args.rounds <= 20:
        parser.error("keep it bounded: 100-1,000,000 calls, 1-20 rounds")
    app, routes = asyncio.run(_world(journal=args.journal))
    app10, routes10 = asyncio.run(_world(listed=10, journal=args.journal))
    # the common case: a listing of ten connections (its own app: the one-connection listing stays)
    apps = {name: app for name in routes} | {"list_connections_10": app10}
    routes = {
        "list_connections": routes["list_connections"],
        "list_connections_10": routes10["list_connections"],
        **routes,
    }
    if args.profile:
        if args.profile not in routes:
            parser.error(f"unknown route {args.profile!r}; choose one of {', '.join(routes)}")
        method, path, body = routes[args.profile]
        profiler = cProfile.Profile()
        profiler.runcall(asyncio.run, _drive(apps[args.profile], method, path, body, args.calls))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return 0
    floor = min(asyncio.run(_drive(_bare, "GET", "/", b"", args.calls)) for _ in range(args.rounds))
    journal = "journal on" if args.journal else "journal off"
    print(f"in-process cost per request, best of {args.rounds} x {args.calls:,} calls (µs), {journal}")
    print(f"{'route':<20}{'simulator':>10}{'starlette':>10}{'bare':>8}")
    for name, (method, path, body) in routes.items():
        twin = _starlette_twin(method, path, asyncio.run(_answer(apps[name], method, path, body)))
        sim_best = twin_best = float("inf")
        for _ in range(args.rounds):  # alternate the two, keep each one's best round
            twin_best = min(twin_best, asyncio.run(_drive(twin, method, path, body, args.calls)))
            sim_best = min(sim_best, asyncio.run(_drive(apps[name], method, path, body, args.calls)))
        print(f"{name:<20}{sim_best:>10.1f}{twin_best:>10.1f}{floor:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
