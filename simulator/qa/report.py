"""The fault matrix's verdict, three ways: a rich table for people, JUnit XML for CI, JSON for scripts.

The table has one row per scenario (its seeds summed): outcome counts, leaks, corrupt traces, untyped
failures, Retry-After violations, retries, how often each fault rule fired (a scenario whose rules
never fired was not exercised, and fails), wall time and the verdict; the problems of failed runs
follow it, one line each. JUnit has one test case per scenario × seed, with a ``<failure>`` listing
the expectations that did not hold, so CI dashboards show which scenario and seed broke.

>>> print_report(result, Console())            # doctest: +SKIP
>>> write_junit(result, Path("reports/qa-junit.xml"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from itertools import groupby
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simulator.qa.expectations import SUCCESS
from simulator.qa.runner import MatrixResult, RunResult


def _by_scenario(result: MatrixResult) -> list[tuple[str, list[RunResult]]]:
    return [(name, list(runs)) for name, runs in groupby(result.runs, key=lambda r: r.scenario)]


def _outcome_text(outcomes: Counter[str]) -> str:
    failures = sorted((n, o) for o, n in outcomes.items() if o != SUCCESS)
    return ", ".join(f"{n} {o}" for n, o in sorted(failures, key=lambda x: (-x[0], x[1]))) or "-"


def fired_by_rule(runs: list[RunResult]) -> Counter[str]:
    """How often each of the scenario's fault rules fired, over its runs (every rule listed)."""
    fired: Counter[str] = Counter()
    for run in runs:
        for rule, count in run.faults_fired.items():
            fired[rule] += count
    return fired


def _fired_text(runs: list[RunResult]) -> str:
    fired = fired_by_rule(runs)
    if not fired and not any(run.faults_fired for run in runs):
        return "-"
    text = "\n".join(f"{rule} {count}" for rule, count in fired.items())
    return text + (" [red](not exercised)[/red]" if any(run.not_exercised for run in runs) else "")


def summary_table(result: MatrixResult) -> Table:
    """One row per scenario (seeds summed)."""
    table = Table(
        title=f"QA fault matrix: client {result.variant}, {len(result.seeds)} seed(s) × "
        f"{result.endpoints} endpoint(s)",
        title_justify="left",
    )
    for column, justify in (
        ("scenario", "left"),
        ("via", "left"),
        ("ok", "right"),
        ("failed, typed", "left"),
        ("unexpected", "right"),
        ("leaked conn/evid", "right"),
        ("corrupt", "right"),
        ("untyped", "right"),
        ("too soon", "right"),  # sent before a 429's or 503's Retry-After ended
        ("retries", "right"),
        ("faults fired", "left"),  # per rule, seeds summed; "-": the scenario injects no fault
        ("time", "right"),
        ("verdict", "left"),
    ):
        wrap = column not in ("scenario", "failed, typed", "faults fired")
        table.add_column(column, justify=justify, no_wrap=not wrap)  # type: ignore[arg-type]
    for name, runs in _by_scenario(result):
        outcomes: Counter[str] = Counter()
        for run in runs:
            outcomes.update(run.outcomes)
        endpoints = sum(len(run.endpoints) for run in runs)
        passed = all(run.ok for run in runs)
        leaks = f"{sum(run.leaked_connections for run in runs)}/{sum(run.leaked_evidence for run in runs)}"
        table.add_row(
            name,
            runs[0].transport,
            f"{outcomes[SUCCESS]}/{endpoints}",
            _outcome_text(outcomes),
            str(sum(len(run.unexpected) for run in runs)),
            leaks,
            str(sum(run.corrupt for run in runs)),
            str(sum(run.untyped for run in runs)),
            str(sum(run.retry_after_violations for run in runs)),
            str(sum(run.retries for run in runs)),
            _fired_text(runs),
            f"{sum(run.duration_s for run in runs):.1f} s",
            "[green]pass[/green]" if passed else "[red]FAIL[/red]",
        )
    return table


def print_report(result: MatrixResult, console: Console) -> None:
    """The table, each failed run's problems, and one closing sentence with the totals."""
    console.print(summary_table(result))
    for run in result.runs:
        for problem in run.problems:
            console.print(f"[red]FAIL[/red] {run.scenario} seed {run.seed}: {problem}", highlight=False)
    totals = result.totals()
    verdict = "[green]every expectation held[/green]" if result.ok else "[red]expectations failed[/red]"
    console.print(
        f"{verdict}: {totals['runs']} runs ({totals['failed_runs']} failed), "
        f"{totals['endpoints']} endpoints, "
        f"{totals['succeeded']} succeeded, {totals['failed_typed']} failed typed, "
        f"{totals['unexpected']} unexpected; leaked {totals['leaked_connections']} connections and "
        f"{totals['leaked_evidence']} evidence; {totals['corrupt_traces']} corrupt traces, "
        f"{totals['untyped_failures']} untyped failures, {totals['retry_after_violations']} Retry-After "
        f"violations; {totals['faults_fired']} faults fired, {totals['not_exercised']} runs not exercised; "
        f"{result.duration_s:.1f} s",
        highlight=False,
    )


def junit_xml(result: MatrixResult) -> ET.Element:
    """``<testsuites>`` with one suite per scenario and one case per seed."""
    root = ET.Element(
        "testsuites",
        name=f"tanium-sim qa ({result.variant})",
        tests=str(len(result.runs)),
        failures=str(sum(not run.ok for run in result.runs)),
        time=f"{result.duration_s:.3f}",
    )
    for name, runs in _by_scenario(result):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=name,
            tests=str(len(runs)),
            failures=str(sum(not run.ok for run in runs)),
            errors="0",
            time=f"{sum(run.duration_s for run in runs):.3f}",
        )
        for run in runs:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"qa.{name}",
                name=f"seed={run.seed}",
                time=f"{run.duration_s:.3f}",
            )
            if not run.ok:
                failure = ET.SubElement(case, "failure", message=run.problems[0], type="expectation")
                failure.text = "\n".join(run.problems)
            out = ET.SubElement(case, "system-out")
            out.text = (
                f"via {run.transport}; outcomes {dict(run.outcomes)}; leaked connections "
                f"{run.leaked_connections}, evidence {run.leaked_evidence} (where a POST was repeated: "
                f"{run.duplicate_connections}, {run.duplicate_evidence}); retries {run.retries}; "
                f"requests {run.requests}; faults fired {run.faults_fired or '-'}; "
                f"endpoints {len(run.endpoints)}"
            )
    return root


def write_junit(result: MatrixResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(junit_xml(result))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def write_json(result: MatrixResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")


__all__ = ["junit_xml", "print_report", "summary_table", "write_json", "write_junit"]
