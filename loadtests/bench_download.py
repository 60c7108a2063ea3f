"""Benchmark: evidence download MB/s from the simulator against the same bytes from a bare Starlette app.

Why: ingestion throughput tests must measure the integration, not the simulator. The simulator serves a
cached evidence zip; the baseline serves the very same bytes from memory with ``Response(bytes)`` on the
same uvicorn settings. Target: at least 0.9x of the baseline's MB/s. Servers and load generator are set
up as in ``bench_api.py`` (child processes on 127.0.0.1, wrk when installed). Figures are printed::

    .venv/bin/python loadtests/bench_download.py --seconds 5 --profile large
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests.bench_api import (
    TR,
    LoadResult,
    bare_command,
    load,
    machine,
    save_payload,
    serve,
    simulator_command,
)


def prepare_evidence(url: str, token: str, admin_token: str, profile: str) -> tuple[str, bytes]:
    """Collect one trace of the given size profile and leave its evidence on the server: (path, zip)."""
    admin = {"authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=url, headers={"session": token}, timeout=120) as c:
        endpoints = c.get("/plugin/products/dec/v1/endpoints?limit=200").json()["data"]
        for endpoint in endpoints:
            manifest = c.get(f"/_sim/endpoints/{endpoint['clientId']}/manifest", headers=admin).json()
            if manifest.get("profile") == profile and manifest.get("has_trace", True):
                break
        else:
            raise SystemExit(f"no {profile} endpoint among the first 200")
        c.post(f"{TR}/conns/connect", json={"target": {"clientId": endpoint["clientId"]}}).raise_for_status()
        cid = None
        for _ in range(600):
            live = [x for x in c.get(f"{TR}/conns").json() if x["status"] == "connected"]
            if live:
                cid = live[0]["id"]
                break
            time.sleep(0.05)  # the simulator's connect delay, in a child process on the real clock
        task_id = c.post(f"{TR}/conns/{cid}/file", json={"path": manifest["path"]}).json()["taskInfo"]["id"]
        for _ in range(600):
            task = c.get(f"{TR}/tasks/{task_id}").json()["data"]
            if task["status"] != "STARTED":
                break
            time.sleep(0.05)
        uuid = task["results"]["fileResults"][0]["uuid"]
        path = f"{TR}/filedownload/data/{uuid}"
        return path, c.get(path).content


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="load per round and server (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (best kept)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--profile", default="large", help="trace size profile to download (default large)")
    parser.add_argument("--client", choices=("auto", "wrk", "asyncio"), default="auto")
    args = parser.parse_args(argv)

    token, admin_token = "token-" + secrets.token_hex(16), secrets.token_urlsafe(24)
    headers = {"session": token}
    print(
        f"bench_download: {machine()}; {args.connections} connections,"
        f" {args.seconds:g} s, best of {args.rounds}"
    )
    command = simulator_command(token, 1_000, "--admin-token", admin_token)
    with tempfile.TemporaryDirectory() as tmp, serve(command) as sim:
        path, data = prepare_evidence(sim.url, token, admin_token, args.profile)
        save_payload(Path(tmp), "zip", "GET", path, data, "application/zip")
        with serve(bare_command(Path(tmp))) as bare:
            opts = {"headers": headers, "seconds": args.seconds, "connections": args.connections}
            load(bare.url + path, **{**opts, "seconds": 1.0}, client=args.client)  # warm both
            load(sim.url + path, **{**opts, "seconds": 1.0}, client=args.client)
            rounds = [
                (
                    load(bare.url + path, **opts, client=args.client),
                    load(sim.url + path, **opts, client=args.client),
                )
                for _ in range(args.rounds)
            ]
    best_bare: LoadResult = max((b for b, _ in rounds), key=lambda r: r.requests_s)
    best_sim: LoadResult = max((s for _, s in rounds), key=lambda r: r.requests_s)
    size_mb = len(data) / 1e6
    sim_mb, bare_mb = best_sim.requests_s * size_mb, best_bare.requests_s * size_mb
    ratio = sim_mb / bare_mb if bare_mb else float("nan")
    print(f"load generator: {best_sim.client}; evidence zip {len(data):,} bytes ({args.profile} profile)")
    print(f"{'server':10} {'MB/s':>9} {'downloads/s':>12} {'p99 ms':>8} {'errors':>7}")
    for name, r, mb in (("simulator", best_sim, sim_mb), ("bare", best_bare, bare_mb)):
        print(f"{name:10} {mb:9.1f} {r.requests_s:12.1f} {r.p99_ms:8.1f} {r.errors:7d}")
    print(f"ratio simulator/bare: {ratio:.2f} (target >= 0.90: {'met' if ratio >= 0.9 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
