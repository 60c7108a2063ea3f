"""Benchmark: complete evidence workflows per second at fleet sizes 10, 10,000 and 1,000,000.

Why: the fleet is computed, not stored, and every lookup is meant to be O(1), so a million endpoints must
cost what ten do. Each run drives the full workflow (connect, list connections, request the trace, poll
the task, close and delete the connection, download the evidence zip, delete it) through the whole ASGI
stack in-process (httpx ``ASGITransport``) with the ``baseline`` scenario when the checkout has it. Time
is virtual: a manual clock jumps over the connect and task delays (and any scenario latency), so the
figure is simulator CPU per workflow, not sleeping. Every fleet size collects from the same number of
endpoints (spread over the fleet, traces generated before timing), so trace generation, a cost per new
endpoint and not per fleet size, stays out of the ratio; ``bench_generation.py`` measures it.
Target: the 1,000,000-endpoint figure at least 0.9x the 10-endpoint one. Figures are printed::

    .venv/bin/python loadtests/bench_workflow.py --workflows 300
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.bench_api import machine  # noqa: E402
from simulator.app import create_app  # noqa: E402
from simulator.clock import ManualClock  # noqa: E402
from simulator.settings import Settings  # noqa: E402

TR = "/plugin/products/threat-response/api/v1"
TOKEN = "token-0123456789abcdef0123456789abcdef"


def build(endpoints: int, scenario: str) -> tuple[Any, ManualClock, str]:
    """The app on a manual clock, with the scenario when this checkout's create_app takes one."""
    clock = ManualClock()
    kwargs: dict[str, Any] = {"clock": clock}
    params = inspect.signature(create_app).parameters
    used = "none (this checkout has no scenarios)"
    if "scenario" in params and (ROOT / "scenarios" / f"{scenario}.yaml").exists():
        kwargs["scenario"], used = scenario, scenario
    if "sleep" in params:

        async def virtual_sleep(seconds: float) -> None:
            clock.advance(max(0.0, seconds))  # injected latency passes in virtual time

        kwargs["sleep"] = virtual_sleep
    settings = Settings(endpoints=endpoints, seed=0, token=TOKEN)
    if "journal" in {f for f in Settings.__dataclass_fields__}:
        settings = settings.with_changes(journal=False)
    return create_app(settings, **kwargs), clock, used


async def one_workflow(c: httpx.AsyncClient, clock: ManualClock, endpoint: Any, path: str, life: Any) -> int:
    r = await c.post(f"{TR}/conns/connect", json={"target": {"clientId": endpoint.client_id}})
    r.raise_for_status()
    cid = None
    for _ in range(100):
        conns = (await c.get(f"{TR}/conns")).json()
        live = [x for x in conns if x["clientId"] == endpoint.client_id and x["status"] == "connected"]
        if live:
            cid = live[-1]["id"]
            break
        clock.advance(life.connect_delay_s)
    if cid is None:
        raise RuntimeError(f"endpoint {endpoint.client_id} never connected")
    task_id = (await c.post(f"{TR}/conns/{cid}/file", json={"path": path})).json()["taskInfo"]["id"]
    for _ in range(100):
        task = (await c.get(f"{TR}/tasks/{task_id}")).json()["data"]
        if task["status"] != "STARTED":
            break
        clock.advance(life.task_duration_s)
    if task["status"] != "COMPLETED":
        raise RuntimeError(f"task ended {task['status']}")
    uuid = task["results"]["fileResults"][0]["uuid"]
    (await c.delete(f"{TR}/conns/close/{cid}")).raise_for_status()
    (await c.delete(f"{TR}/conns/delete/{cid}")).raise_for_status()
    data = (await c.get(f"{TR}/filedownload/data/{uuid}")).content
    (await c.request("DELETE", f"{TR}/filedownload", json={"ids": [uuid]})).raise_for_status()
    return len(data)


async def measure(endpoints: int, workflows: int, sample: int, scenario: str) -> tuple[float, str]:
    app, clock, used = build(endpoints, scenario)
    backend = app.state.backend
    life = backend.settings.lifecycle
    picks = [
        backend.fleet.endpoint(i * endpoints // min(sample, endpoints)) for i in range(min(sample, endpoints))
    ]
    picks = [ep for ep in picks if ep.online and ep.has_trace] or picks
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers={"session": TOKEN}) as c:
        for ep in picks:  # generate and cache every trace and zip before timing
            await one_workflow(c, clock, ep, backend.files.trace_path(ep), life)
        started = time.perf_counter()
        for i in range(workflows):
            ep = picks[i % len(picks)]
            await one_workflow(c, clock, ep, backend.files.trace_path(ep), life)
        elapsed = time.perf_counter() - started
    return workflows / elapsed, used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=300, help="timed workflows per fleet size")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per fleet size (best kept)")
    parser.add_argument("--sample", type=int, default=10, help="distinct endpoints collected from")
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--sizes", default="10,10000,1000000", help="comma-separated fleet sizes")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"bench_workflow: {machine()}; {args.workflows} workflows x best of {args.rounds}, in-process")
    results: dict[int, float] = {}
    used = ""
    for _ in range(args.rounds):  # interleave sizes so a noisy moment does not hit one size only
        for size in sizes:
            rate, used = asyncio.run(measure(size, args.workflows, args.sample, args.scenario))
            results[size] = max(results.get(size, 0.0), rate)
    print(f"scenario: {used}; {args.sample} endpoints collected from at every size")
    base = results[sizes[0]]
    print(f"{'fleet size':>12} {'workflows/s':>12} {'ratio vs ' + str(sizes[0]):>14}")
    for size in sizes:
        print(f"{size:12,} {results[size]:12.1f} {results[size] / base:14.2f}")
    last = results[sizes[-1]] / base
    print(f"target: {sizes[-1]:,}-endpoint figure >= 0.90x the {sizes[0]}-endpoint one: "
          f"{'met' if last >= 0.9 else 'MISSED'} ({last:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
