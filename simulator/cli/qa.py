"""``tanium-sim qa``: the fault matrix. Every chosen scenario × seed, the reference client, the verdict.

    tanium-sim qa                                   # every scenario, 2 seeds, 3 endpoints (make qa)
    tanium-sim qa --scenario flaky-5xx hangs --seeds 10 --endpoints 20 --junit reports/qa.xml
    tanium-sim qa --client no-cleanup --scenario task-errors     # a broken client: must FAIL
    tanium-sim qa --url http://127.0.0.1:8080 --admin-token $ADMIN   # a 'serve --clock manual' server

Prints a table (scenario × outcome counts × leaks × time) and the problems of failed runs; writes
JUnit XML (``--junit``) and JSON (``--json``). Exit 0 only when every expectation held, 1 otherwise,
2 for usage errors (an unknown or invalid scenario, bad numbers).
"""

from __future__ import annotations

import argparse
import os

from simulator.cli.types import matrix_count, positive_float

DEFAULT_SEEDS = 2
DEFAULT_ENDPOINTS = 3
# simulator.qa.variants.VARIANTS, named here so that --help does not import the client and the simulator
# (tests/unit/test_layering.py checks the two agree).
CLIENT_VARIANTS = (
    "blind-post",
    "ignores-retry-after",
    "no-cleanup",
    "no-retry",
    "reference",
    "stale-session",
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "qa",
        help="the QA fault matrix: every scenario × seed, the reference client, leaks and expectations",
        description="Run the reference client against every scenario and seed on a fresh simulator; check "
        "each endpoint's outcome against the scenario's expectations, and that nothing was left behind.",
    )
    p.add_argument(
        "--scenario",
        dest="scenarios",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="scenario names (from scenarios/) or files (default: every scenario in scenarios/)",
    )
    p.add_argument(
        "--seeds",
        type=matrix_count,
        default=None,
        help=f"seeds per scenario (default {DEFAULT_SEEDS}; a --url server has one: its own)",
    )
    p.add_argument(
        "--first-seed", type=int, default=None, help="the first seed; the others follow it (default 1)"
    )
    p.add_argument(
        "--endpoints",
        type=matrix_count,
        default=DEFAULT_ENDPOINTS,
        help=f"endpoints collected per run (default {DEFAULT_ENDPOINTS})",
    )
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML here (one test case per scenario × seed)")
    p.add_argument("--json", metavar="FILE", help="write every run's results as JSON here")
    p.add_argument(
        "--html",
        metavar="FILE",
        help="write the matrix as an HTML heatmap here (scenario × seed, failures per cell)",
    )
    p.add_argument(
        "--client",
        choices=CLIENT_VARIANTS,
        default="reference",
        help="the client variant; the others are deliberately broken, to see the matrix catch them",
    )
    p.add_argument(
        "--request-timeout",
        type=positive_float,
        default=2.0,
        help="real seconds per HTTP request: what a hang costs (default 2)",
    )
    p.add_argument(
        "--store",
        default="memory",
        metavar="URL",
        help="run every world on this Redis (redis://HOST:PORT/DB), each under its own key prefix, "
        "deleted afterwards (default: memory)",
    )
    remote = p.add_argument_group(
        "a running simulator",
        "Drive a server you started instead of in-process worlds: 'tanium-sim serve --clock manual' (any "
        "--workers, --store). The runs use its seed and fleet, switch its scenario and reset it; its "
        "scenario is put back at the end.",
    )
    remote.add_argument("--url", metavar="URL", help="the server's base URL, e.g. http://127.0.0.1:8080")
    remote.add_argument(
        "--admin-token",
        default=os.environ.get("TANIUM_SIM_ADMIN_TOKEN", ""),
        metavar="TOKEN",
        help="the server's admin token, as 'serve' printed it ($TANIUM_SIM_ADMIN_TOKEN)",
    )
    remote.add_argument(
        "--username",
        default=os.environ.get("TANIUM_SIM_USERNAME", "admin"),
        help="the server's login user (default admin, $TANIUM_SIM_USERNAME)",
    )
    remote.add_argument(
        "--password",
        default=os.environ.get("TANIUM_SIM_PASSWORD", "tanium"),
        help="the server's login password (default tanium, $TANIUM_SIM_PASSWORD)",
    )
    remote.add_argument("--ca-bundle", metavar="PEM", help="trust this CA for an https:// --url")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    from pathlib import Path

    from rich.console import Console

    from simulator.cli.types import UsageError
    from simulator.qa.expectations import ExpectationError, Expectations
    from simulator.qa.report import print_report, write_json, write_junit
    from simulator.qa.runner import MatrixOptions, RemoteError, RunResult, run_matrix
    from simulator.qa.variants import VARIANTS
    from simulator.scenarios import Scenario, ScenarioError, available

    names = args.scenarios or available()
    if not names:
        raise UsageError("no scenario to run: scenarios/ is empty; pass --scenario FILE")
    scenarios = []
    for name in dict.fromkeys(names):
        try:
            scenario = Scenario.load(name)
            Expectations.of(scenario)
        except (ScenarioError, ExpectationError) as exc:
            raise UsageError(str(exc)) from None
        scenarios.append(scenario)
    for flag in ("junit", "json", "html"):
        target = getattr(args, flag)
        if target and Path(target).is_dir():
            raise UsageError(f"--{flag} {target} is a folder: name a file")
    remote = None
    if args.url:
        from simulator.qa.runner import Remote

        if args.store != "memory":
            raise UsageError(
                "--store is the in-process worlds' store; a --url server has its own: drop --store"
            )
        if not args.admin_token:
            raise UsageError(
                "--url needs the server's admin token: pass --admin-token or set TANIUM_SIM_ADMIN_TOKEN"
            )
        if not args.url.startswith(("http://", "https://")):
            raise UsageError(f"--url {args.url} is not an http:// or https:// URL")
        remote = Remote(
            args.url.rstrip("/"), args.admin_token, args.username, args.password, args.ca_bundle or True
        )
    options = MatrixOptions(
        endpoints=args.endpoints,
        seeds=tuple(range(first_seed := args.first_seed or 1, first_seed + (args.seeds or DEFAULT_SEEDS))),
        variant=VARIANTS[args.client],
        request_timeout_s=args.request_timeout,
        store_url=args.store,
        remote=remote,
    )
    if args.store != "memory":
        from simulator.state.store import open_store

        try:
            probe = open_store(args.store)
            probe.check()  # type: ignore[attr-defined]
        except (ValueError, ConnectionError) as exc:
            raise UsageError(f"{exc}; start Redis or fix --store") from None
        probe.close()  # type: ignore[attr-defined]
    progress = Console(stderr=True)

    def on_run(run: RunResult) -> None:
        verdict = "[green]pass[/green]" if run.ok else "[red]FAIL[/red]"
        progress.print(
            f"{verdict} {run.scenario} seed {run.seed} ({run.transport}, {run.duration_s:.1f} s)",
            highlight=False,
        )

    try:
        result = asyncio.run(run_matrix(scenarios, options, on_run))
    except RemoteError as exc:
        raise UsageError(str(exc)) from None
    print_report(result, Console(file=sys.stdout, width=160))
    if args.junit:
        write_junit(result, Path(args.junit))
    if args.json:
        write_json(result, Path(args.json))
    if args.html:
        from simulator.qa.html import write_html

        write_html(result, Path(args.html))
    return 0 if result.ok else 1
