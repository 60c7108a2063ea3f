"""The ``tanium-sim`` command line: one sub-command module per job, registered here.

Each module exposes ``register(subparsers)`` and sets ``func`` (returning an exit code) on its parser.
Heavy imports happen inside the handlers so ``tanium-sim --help`` stays instant.
Exit codes: 0 success, 1 the job ran and found failures, 2 usage errors (bad arguments, bad files).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class UsageError(Exception):
    """A user mistake: printed as one sentence, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    from simulator import __version__
    from simulator.cli import run, serve

    parser = argparse.ArgumentParser(
        prog="tanium-sim",
        description="An offline, faithful simulator of Tanium Threat Response, and its reference client.",
    )
    parser.add_argument("--version", action="version", version=f"tanium-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run.register(sub)
    serve.register(sub)

    trace = sub.add_parser("trace", help="generate, inspect, validate, diff and apply CST traces")
    trace_sub = trace.add_subparsers(dest="trace_command", metavar="ACTION", required=True)
    _register_optional("simulator.traces.cli", trace_sub)  # trace generate
    _register_optional("client._trace_cli", trace_sub)  # trace inspect | validate
    _register_optional("client._cli", sub)  # collect
    _register_optional("simulator.cli.scenario", sub)  # scenario list | validate
    _register_optional("simulator.cli.qa", sub)  # qa (the fault matrix)
    _register_optional("simulator.cli.tls", sub)  # tls export-ca | truststore
    _register_optional("simulator.cli.runbook", sub)  # runbook (stop/uninstall the scanner)
    return parser


def _register_optional(module: str, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return
    mod.register(sub)


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
