"""``tanium-sim scenario list | validate FILE... | schema``: the library, a checker, the format's schema.

``validate`` prints ``ok <file>`` per valid file and, on stderr, one line per problem of an invalid one
(``FILE:LINE: path.to.field: what is wrong (allowed: ...)``), every problem of every file, then a count;
exit 1 when any file has a problem, 2 when a FILE does not exist. ``schema`` prints the JSON Schema of
the format (``scenarios/scenario.schema.json`` is its committed copy), generated from the loader's own
field tables.
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
        description="Check scenario files without running them: `ok FILE` per valid file; for an invalid "
        "one, every problem on its own line (FILE:LINE: path.to.field: what is wrong (allowed: ...)); then "
        "a count. Exit 1 when any file has a problem, 2 when a FILE does not exist. A .json file is read "
        "as JSON (a syntax error has its line and column).",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help="scenario file(s), or names from scenarios/")
    check.set_defaults(func=_validate)
    schema = actions.add_parser(
        "schema",
        help="print the JSON Schema of the scenario format (for editors and CI)",
        description="Print the JSON Schema (draft 2020-12) of the scenario format, generated from the field "
        "tables the loader checks scenarios against. scenarios/scenario.schema.json is its committed copy; "
        "a scenario file opening with `# yaml-language-server: $schema=./scenario.schema.json` gets "
        "completion and checks in editors that run the YAML language server. See docs/scenarios.md.",
    )
    schema.add_argument(
        "--out", metavar="FILE", default=None, help="write the schema to FILE (default: stdout)"
    )
    schema.set_defaults(func=_schema)


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

    from simulator.cli.types import UsageError
    from simulator.scenarios import Scenario, ScenarioError, resolve

    paths = []
    for item in args.files:  # every FILE must exist before any is checked: a typo is a usage error
        try:
            paths.append(resolve(item))
        except ScenarioError as exc:
            raise UsageError(str(exc)) from None
    problems = bad_files = 0
    for path in paths:
        try:
            scenario = Scenario.load(path)
        except ScenarioError as exc:
            bad_files += 1
            problems += len(exc.errors)
            for line in exc.lines():
                print(line, file=sys.stderr)
            continue
        print(f"ok {scenario.source} ({scenario.name}: {len(scenario.faults)} fault rules)")
    files = f"{len(paths)} file{'s' if len(paths) != 1 else ''}"
    if problems:
        print(
            f"{problems} problem{'s' if problems != 1 else ''} in {bad_files} of {files}; "
            "docs/scenarios.md describes every field"
        )
        return 1
    print(f"{files} checked: all valid")
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from simulator.cli.types import UsageError
    from simulator.scenarios import scenario_schema

    text = json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        print(text, end="")
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.out} ({exc.strerror or exc})") from None
    print(f"wrote {args.out}")
    return 0
