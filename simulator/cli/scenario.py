"""``tanium-sim scenario list | validate FILE...``: the scenario library and a checker for scenario files.

``validate`` prints one line per file: ``ok <file>`` or the error naming the file, the line, the field
and what was expected (exit 2 when any file is invalid, like every usage error).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "scenario",
        help="list the named scenarios, or validate scenario files",
        description="The scenario library (latency, lifecycles, failure injection; `serve --scenario NAME`) "
        "and a checker for your own scenario files.",
    )
    actions = p.add_subparsers(dest="scenario_command", metavar="ACTION", required=True)
    ls = actions.add_parser(
        "list",
        help="the scenarios in scenarios/, each with what it simulates",
        description="List the named scenarios, one line each with what it simulates.",
    )
    ls.add_argument(
        "--dir", default=None, help="folder of scenario files (default: the project's scenarios/)"
    )
    ls.set_defaults(func=_list)
    check = actions.add_parser(
        "validate",
        help="check scenario files (YAML or JSON) without running them",
        description="Check scenario files without running them: `ok FILE` per valid file, else the error "
        "naming the file, line, field and what was expected (exit 2 when any file is invalid).",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="scenario file(s), or names from scenarios/")
    check.set_defaults(func=_validate)


def _list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simulator.cli.types import UsageError
    from simulator.scenarios import SCENARIO_DIR, Scenario, ScenarioError, available

    directory = Path(args.dir) if args.dir else SCENARIO_DIR
    names = available(directory)
    if not names:
        raise UsageError(f"no scenario files (*.yaml, *.yml, *.json) in {directory}")
    width = max(len(n) for n in names)
    for name in names:
        try:
            description = Scenario.load(name, directory=directory).description or "(no description)"
        except ScenarioError as exc:
            description = f"INVALID: {exc}"
        print(f"{name:<{width}}  {description}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    import sys

    from simulator.scenarios import Scenario, ScenarioError

    failed = 0
    for item in args.files:
        try:
            scenario = Scenario.load(item)
        except ScenarioError as exc:
            failed += 1
            print(f"tanium-sim: {exc}", file=sys.stderr)
            continue
        print(f"ok {scenario.source} ({scenario.name}: {len(scenario.faults)} fault rules)")
    return 2 if failed else 0
