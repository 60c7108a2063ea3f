"""The ``tanium-sim`` command line: one sub-command module per job, registered here.

Every sub-command lives in this package: ``run``, ``serve``, ``trace`` (generate, diff, apply, inspect,
validate), ``collect``, ``scenario``, ``qa``, ``tls``, ``runbook``, ``record`` and ``conform``, with the
argparse types they share in :mod:`simulator.cli.types`. The reference client is a library the
handlers call through its public names (``from client import ...``); it knows nothing of this package.

Each module exposes ``register(subparsers)`` and sets ``func`` (returning an exit code) on its parser.
Heavy imports (the client, httpx, rich, the simulator itself) happen inside the handlers so
``tanium-sim --help`` stays instant (tests/unit/test_layering.py checks what building the parser imports).
Every ``--help`` ends with examples, from :data:`EXAMPLES` (tests/unit/test_cli_help.py checks that each
sub-command has some). Exit codes: 0 success, 1 the job ran and failed (or found failures), 2 usage
errors (bad arguments, bad files); either way one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence

from simulator.cli.types import Parser, UsageError

# The examples closing each sub-command's --help, by command path; a module's own epilog wins.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "run": ("tanium-sim run", "tanium-sim run --endpoints 100 --seed 7 --out out --json"),
    "serve": (
        "tanium-sim serve --port 8080 --endpoints 100 --seed 7",
        "tanium-sim serve --tls --scenario flaky-5xx",
    ),
    "trace": ("tanium-sim trace generate --seed 7 --profile medium --out trace.cst.gz",),
    "trace generate": (
        "tanium-sim trace generate --seed 7 --profile medium --endpoint 3 --out trace.cst.gz",
        "tanium-sim trace generate --seed 1 --profile stress --records 200000 --out big.cst.gz",
    ),
    "trace diff": ("tanium-sim trace diff scan1.cst.gz scan2.cst.gz --out scan2.diff.cst.gz",),
    "trace apply": ("tanium-sim trace apply scan1.cst.gz scan2.diff.cst.gz --out scan2.rebuilt.cst.gz",),
    "trace inspect": (
        "tanium-sim trace inspect trace.cst.gz",
        "tanium-sim trace inspect evidence.zip --json",
    ),
    "trace validate": ("tanium-sim trace validate trace.cst.gz --max-errors 5",),
    "collect": (
        "tanium-sim collect --url http://127.0.0.1:8080 --token token-... --all --out out",
        "TANIUM_URL=https://tanium.lab TANIUM_TOKEN=... tanium-sim collect --client-id 101 102 "
        "--ca-bundle tanium-sim-ca.pem",
    ),
    "scenario": ("tanium-sim scenario list", "tanium-sim scenario validate my-scenario.yaml"),
    "scenario list": ("tanium-sim scenario list", "tanium-sim scenario list --dir my-scenarios/"),
    "scenario validate": ("tanium-sim scenario validate flaky-5xx my-scenario.yaml my-scenario.json",),
    "scenario schema": (
        "tanium-sim scenario schema --out scenarios/scenario.schema.json",
        "tanium-sim scenario schema > scenario.schema.json",
    ),
    "qa": ("tanium-sim qa", "tanium-sim qa --scenario rate-limited hangs --seeds 3 --junit qa.xml"),
    "tls": ("tanium-sim tls export-ca tanium-sim-ca.pem",),
    "tls export-ca": ("tanium-sim tls export-ca tanium-sim-ca.pem", "tanium-sim tls export-ca - > ca.pem"),
    "tls truststore": (
        "tanium-sim tls truststore --out tanium-sim.jks",
        "tanium-sim tls truststore --out tanium-sim.p12 --storepass s3cret-pass --state-dir ~/sim --create",
    ),
    "runbook": ("tanium-sim runbook status --url http://127.0.0.1:8080 --token token-...",),
    "runbook status": ("TANIUM_URL=http://127.0.0.1:8080 TANIUM_TOKEN=token-... tanium-sim runbook status",),
    "runbook stop": (
        "tanium-sim runbook stop --url http://127.0.0.1:8080 --token token-... --computer-name web-garcia-01",
        "tanium-sim runbook stop --url https://tanium.lab --username admin --password ... --all "
        "--ca-bundle corp-ca.pem",
    ),
    "runbook uninstall": (
        "tanium-sim runbook uninstall --url http://127.0.0.1:8080 --token token-... --all",
    ),
    "record": (
        "tanium-sim record --upstream https://tanium.example.com --out session.har --ca-bundle corp-ca.pem",
    ),
    "conform": (
        "tanium-sim conform session.har",
        "tanium-sim conform session.har --against https://tanium.lab",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    from simulator import __version__
    from simulator.cli import collect, qa, run, runbook, scenario, serve, tls, trace

    parser: argparse.ArgumentParser = Parser(
        prog="tanium-sim",
        description="An offline, faithful simulator of Tanium Threat Response, and its reference client.",
        epilog="examples:\n  tanium-sim run\n  tanium-sim serve --help",
    )
    parser.add_argument("--version", action="version", version=f"tanium-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run.register(sub)
    serve.register(sub)
    trace.register(sub)  # trace generate | diff | apply | inspect | validate
    collect.register(sub)
    scenario.register(sub)  # scenario list | validate | schema
    qa.register(sub)  # qa (the fault matrix)
    tls.register(sub)  # tls export-ca | truststore
    runbook.register(sub)  # runbook status | stop | uninstall
    __import__("simulator.cli.record", fromlist=["register"]).register(sub)  # record (the recording proxy)
    __import__("simulator.cli.conform", fromlist=["register"]).register(sub)  # conform SESSION.har
    for path, sub_parser in subcommands(parser):
        if not sub_parser.epilog and path in EXAMPLES:
            sub_parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[path])
    return parser


def subcommands(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every sub-command's parser, depth first, with its path (``"trace generate"``).

    >>> [path for path, _ in subcommands(build_parser())][:3]
    ['run', 'serve', 'trace']
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                child_path = f"{path} {name}".strip()
                yield child_path, child
                yield from subcommands(child, child_path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"tanium-sim: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `tanium-sim ... | head`: the reader has what it wanted; stop as quietly as cat
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so flushing stdout at exit cannot complain again
        return 141  # 128 + SIGPIPE, what a shell reports for a writer cut off by its reader
    except OSError as exc:  # a file or folder the job needed went missing or is not writable
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tanium-sim: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["EXAMPLES", "build_parser", "main", "subcommands"]
