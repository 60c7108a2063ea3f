"""The ``tanium-sim`` command line: one sub-command module per job, registered here.

Every sub-command lives in this package: ``run``, ``serve``, ``trace`` (generate, diff, apply, inspect,
validate), ``collect``, ``scenario``, ``qa``, ``tls``, ``runbook``, ``record`` and ``conform``, with the
argparse types they share in :mod:`simulator.cli.types`. The reference client is a library the
handlers call through its public names (``from client import ...``); it knows nothing of this package.

Each module exposes ``register(subparsers)`` and sets ``func`` (returning an exit code) on its parser.
Heavy imports (the client, httpx, rich, the simulator itself) happen inside the handlers so
``tanium-sim --help`` stays instant (tests/unit/test_layering.py checks what building the parser imports).
Exit codes: 0 success, 1 the job ran and found failures, 2 usage errors (bad arguments, bad files).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simulator.cli.types import UsageError


def build_parser() -> argparse.ArgumentParser:
    from simulator import __version__
    from simulator.cli import collect, qa, run, runbook, scenario, serve, tls, trace

    parser = argparse.ArgumentParser(
        prog="tanium-sim",
        description="An offline, faithful simulator of Tanium Threat Response, and its reference client.",
    )
    parser.add_argument("--version", action="version", version=f"tanium-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run.register(sub)
    serve.register(sub)
    trace.register(sub)  # trace generate | diff | apply | inspect | validate
    collect.register(sub)
    scenario.register(sub)  # scenario list | validate
    qa.register(sub)  # qa (the fault matrix)
    tls.register(sub)  # tls export-ca | truststore
    runbook.register(sub)  # runbook (stop/uninstall the scanner)
    __import__("simulator.cli.record", fromlist=["register"]).register(sub)  # record (the recording proxy)
    __import__("simulator.cli.conform", fromlist=["register"]).register(sub)  # conform SESSION.har
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"tanium-sim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
