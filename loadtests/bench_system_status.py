"""Benchmark: ``GET /api/v2/system_status`` on a 1,000,000-endpoint fleet, and whether it blocks the rest.

Why: unpaged, the answer once listed the whole fleet on the event loop (14 s, 284 MB), and every other
request waited. Each case runs one ``system_status`` request in-process (httpx ``ASGITransport``) while a
probe loop sends ``GET /_sim/health`` back to back; the probes' worst latency during the request says
whether the loop stayed free (an idle baseline is measured first, in the same run). ``--whole-fleet``
also times the row builder over the whole fleet on the loop, the cost the unpaged answer used to have.
Figures are printed, never asserted::

    .venv/bin/python loadtests/bench_system_status.py
    .venv/bin/python loadtests/bench_system_status.py --endpoints 1000000 --whole-fleet
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.app import create_app  # noqa: E402
from simulator.settings import Settings  # noqa: E402

TOKEN = "token-0123456789abcdef0123456789abcdef"


async def probe(client: httpx.AsyncClient, stop: asyncio.Event, latencies: list[float]) -> None:
    """``GET /_sim/health`` back to back until ``stop``; each latency in seconds."""
    while not stop.is_set():
        started = time.perf_counter()
        r = await client.get("/_sim/health")
        latencies.append(time.perf_counter() - started)
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.001)  # leave the loop to the request under test between probes


async def measure(client: httpx.AsyncClient, options: dict[str, Any] | None) -> dict[str, Any]:
    """One system_status request with probes running beside it."""
    stop, latencies = asyncio.Event(), list[float]()
    prober = asyncio.create_task(probe(client, stop, latencies))
    await asyncio.sleep(0.01)  # the probe loop is running before the request starts
    latencies.clear()
    headers = {"tanium-options": json.dumps(options)} if options is not None else {}
    started = time.perf_counter()
    r = await client.get("/api/v2/system_status", headers=headers)
    elapsed = time.perf_counter() - started
    stop.set()
    await prober
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    return {
        "bytes": len(r.content),
        "rows": len(rows) - 1,
        "total": rows[-1]["filtered_row_count"],
        "seconds": elapsed,
        "probes": len(latencies),
        "probe_max_ms": max(latencies, default=elapsed) * 1000,
    }


async def run(endpoints: int, whole_fleet: bool) -> None:
    started = time.perf_counter()
    app = create_app(Settings(seed=1, endpoints=endpoints, token=TOKEN, admin_token="bench-admin"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": TOKEN}) as c:
        await c.get("/api/v2/system_status", headers={"tanium-options": '{"row_count": 1}'})  # warm up
        print(f"app with {endpoints:,} endpoints built in {time.perf_counter() - started:.1f} s")
        idle, stop = list[float](), asyncio.Event()
        prober = asyncio.create_task(probe(c, stop, idle))
        await asyncio.sleep(0.5)
        stop.set()
        await prober
        median_ms, max_ms = statistics.median(idle) * 1000, max(idle) * 1000
        print(f"idle /_sim/health: median {median_ms:.2f} ms, max {max_ms:.2f} ms")
        print(f"{'request':<48}{'rows':>9}{'MB':>9}{'seconds':>9}{'probes':>8}{'probe max ms':>14}")
        cases: list[tuple[str, dict[str, Any] | None]] = [
            ("unpaged (no tanium-options)", None),
            ('{"row_start": 500000, "row_count": 1000}', {"row_start": 500_000, "row_count": 1000}),
            (f'{{"row_count": {endpoints}}} (the whole fleet asked)', {"row_count": endpoints}),
        ]
        for label, options in cases:
            m = await measure(c, options)
            print(
                f"{label:<48}{m['rows']:>9,}{m['bytes'] / 1e6:>9.2f}{m['seconds']:>9.3f}"
                f"{m['probes']:>8}{m['probe_max_ms']:>14.1f}"
            )
        if whole_fleet:
            started = time.perf_counter()
            body = orjson.dumps({"data": app.state.backend.system_status(0, None)})
            print(
                f"whole fleet built on the loop (the old unpaged answer): {len(body) / 1e6:.1f} MB in "
                f"{time.perf_counter() - started:.1f} s, every other request blocked meanwhile"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=1_000_000)
    parser.add_argument("--whole-fleet", action="store_true", help="also time the old unpaged answer's rows")
    args = parser.parse_args(argv)
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    print(f"command: .venv/bin/python loadtests/bench_system_status.py {shown}".rstrip())
    asyncio.run(run(args.endpoints, args.whole_fleet))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
