"""``tanium-sim run``: the main job end to end (what ``make run`` does).

Starts a simulator in-process on 127.0.0.1 (a free port), collects every endpoint's trace through the
reference client exactly as ``tanium-sim collect --all`` would, checks the server was left clean (no open
connection, no evidence), prints the fleet's inventory and findings, and shuts the simulator down.
"""

from __future__ import annotations

import argparse

from simulator.cli.types import DEFAULT_SEED, positive_int

MAX_ENDPOINTS = 100_000  # in one process, in memory; `serve` scales further


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="start a simulator, collect every endpoint's trace with the reference client, summarize",
        description="The main job end to end: start a simulator on a free local port, `collect --all` "
        "through the reference client, check the server was left clean, print the fleet's inventory, shut "
        "down. Exit 0: everything collected and clean; 1: failures; 2: usage errors.",
    )
    p.add_argument(
        "--endpoints", type=positive_int, default=25, help=f"fleet size, 1 to {MAX_ENDPOINTS} (default 25)"
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"world seed: same seed, same fleet and traces, as `serve --seed` (default {DEFAULT_SEED})",
    )
    p.add_argument(
        "--out", default="out", help="folder for the collected traces, created if needed (default out)"
    )
    p.add_argument(
        "--concurrency", type=positive_int, default=8, help="endpoints collected at once (default 8)"
    )
    p.add_argument("--json", action="store_true", help="print the fleet summary as JSON instead of tables")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import json
    import time
    from pathlib import Path

    from client import CollectOptions, InventorySummary, collect_many, write_summary
    from simulator.cli.collect import ProgressBar
    from simulator.cli.types import UsageError, ensure_folder, output_console
    from simulator.server import BackgroundServer
    from simulator.settings import Settings

    if args.endpoints > MAX_ENDPOINTS:
        raise UsageError(
            f"--endpoints must be between 1 and {MAX_ENDPOINTS} for `run` (use `serve` for larger fleets)"
        )
    out_dir = ensure_folder(Path(args.out), "--out")
    console = output_console(stderr=True)
    settings = Settings(port=0, seed=args.seed, endpoints=args.endpoints)
    started = time.monotonic()
    with BackgroundServer(settings) as server:
        console.print(f"simulator on {server.url}: {settings.endpoints} endpoints, seed {settings.seed}")
        options = CollectOptions(
            url=server.url,
            token=settings.token,
            username=None,
            password=None,
            domain=None,
            client_ids=(),
            all=True,
            out=out_dir,
            concurrency=args.concurrency,
            deadline_s=120.0,
            request_timeout_s=30.0,
            trace_path=None,
            poll_interval_s=0.1,  # a local simulator answers at once; no reason to wait seconds
        )
        collecting = collect_many(options, progress=ProgressBar())
        try:
            outcomes, fatal = asyncio.run(collecting)
        finally:
            collecting.close()  # a Ctrl-C before the loop took it: no "never awaited" warning on exit
        summary_path = write_summary(options, outcomes, started, fatal)
        state = server.app.state.backend.state_counts()
    if fatal:
        console.print(f"[red]run failed:[/red] {fatal}")
        return 1
    ok = [o for o in outcomes if o.status == "ok"]
    fleet = InventorySummary.merged(
        InventorySummary(
            record_count=o.inventory["record_count"],
            by_type=dict(o.inventory["by_type"]),
            findings=dict(o.inventory["findings"]),
        )
        for o in ok
        if o.inventory
    )
    left_open = state["connections"]["connected"] + state["connections"]["waiting"]
    left_evidence = state["evidence"] + state["evidence_pending"]
    if args.json:
        print(
            json.dumps(
                {
                    "collected": len(ok),
                    "endpoints": len(outcomes),
                    "bytes": sum(o.bytes or 0 for o in ok),
                    "left_open_connections": left_open,
                    "left_evidence": left_evidence,
                    "inventory": fleet.to_dict(),
                },
                indent=2,
            )
        )
    else:
        out = output_console()
        out.print(fleet)
        out.print(
            f"collected {len(ok)} of {len(outcomes)} endpoints "
            f"({sum(o.bytes or 0 for o in ok) / 1e6:.1f} MB of traces) into {options.out}/ "
            f"in {time.monotonic() - started:.1f} s; summary: {summary_path}"
        )
        out.print(
            f"server left clean: {left_open} open connections, {left_evidence} evidence items"
            if not (left_open or left_evidence)
            else f"[red]server NOT clean: {left_open} open connections, {left_evidence} evidence items[/red]"
        )
    return 0 if len(ok) == len(outcomes) and not (left_open or left_evidence) else 1
