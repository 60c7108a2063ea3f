"""The fault matrix as one self-contained HTML page: a heatmap of scenario × seed, coloured by verdict.

Each cell is a ``<details>`` element: opening it lists the run's problems (:attr:`RunResult.problems`)
and its endpoints with their outcome, so the page needs no script at all. Styles are in the page, and
nothing is loaded from anywhere: the file can be mailed, archived as a CI artifact or opened offline.

>>> write_html(result, Path("reports/qa.html"))  # doctest: +SKIP
"""

from __future__ import annotations

from html import escape
from itertools import groupby
from pathlib import Path

from simulator.qa.expectations import SUCCESS
from simulator.qa.runner import MatrixResult, RunResult

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.summary { color: #6b7383; margin: 0 0 16px; }
table.heatmap { border-collapse: separate; border-spacing: 4px; }
table.heatmap th { font-weight: 600; text-align: left; padding: 2px 8px; font-size: 13px; }
table.heatmap td { vertical-align: top; min-width: 120px; border-radius: 6px; padding: 0; }
.pass { background: #c6f0d4; } .fail { background: #f8c4c4; } .error { background: #d9b3f0; }
.unexercised { background: #fbe3a6; } .missing { background: #eef0f3; }
details { padding: 6px 8px; }
summary { cursor: pointer; font-weight: 600; list-style: none; }
summary small { font-weight: normal; color: #3d4454; display: block; }
details[open] { background: #fff; border: 1px solid #c8ced8; border-radius: 6px; min-width: 360px; }
ul { margin: 6px 0; padding-left: 18px; }
table.endpoints { border-collapse: collapse; font-size: 12px; margin-top: 4px; }
table.endpoints td, table.endpoints th { border-bottom: 1px solid #e2e5ea; padding: 2px 6px; }
.bad { color: #c53030; font-weight: 600; } .ok { color: #1f8a4c; }
.legend span { display: inline-block; padding: 2px 8px; border-radius: 4px; margin-right: 6px; }
"""

VERDICTS = {
    "pass": "passed",
    "fail": "expectations did not hold",
    "unexercised": "no fault rule fired",
    "error": "the run did not complete",
}


def verdict(run: RunResult) -> str:
    """The cell's class: ``pass``, ``fail``, ``unexercised`` (its rules never fired) or ``error``."""
    if run.error:
        return "error"
    if run.ok:
        return "pass"
    if run.not_exercised and not run.unexpected:
        return "unexercised"
    return "fail"


def _outcome_class(outcome: str, allowed: bool) -> str:
    return "ok" if outcome == SUCCESS else "" if allowed else "bad"


def _cell(run: RunResult) -> str:
    kind = verdict(run)
    outcomes = ", ".join(f"{n} {o}" for o, n in sorted(run.outcomes.items())) or "no endpoints"
    problems = "".join(f"<li>{escape(p)}</li>" for p in run.problems) or "<li class='ok'>none</li>"
    rows = "".join(
        f"<tr><td>{escape(e.client_id)}</td><td>{escape(e.klass)}</td>"
        f"<td class='{_outcome_class(e.outcome, e.allowed)}'>{escape(e.outcome)}</td>"
        f"<td>{'allowed' if e.allowed else '<span class=bad>not allowed</span>'}</td>"
        f"<td>{escape(e.message)}</td></tr>"
        for e in run.endpoints
    )
    fired = ", ".join(f"{escape(rule)} {n}" for rule, n in run.faults_fired.items()) or "-"
    return (
        f"<td class='{kind}' data-scenario='{escape(run.scenario)}' data-seed='{run.seed}'>"
        f"<details><summary>{escape(VERDICTS[kind])}<small>{escape(outcomes)}</small></summary>"
        f"<b>Problems</b><ul>{problems}</ul>"
        f"<b>Faults fired</b>: {fired} · {run.requests} requests, {run.retries} retries, "
        f"{run.duration_s:.1f} s ({escape(run.transport)})"
        "<table class='endpoints'><tr><th>clientId</th><th>class</th><th>outcome</th><th>verdict</th>"
        f"<th>message</th></tr>{rows}</table></details></td>"
    )


def render_html(result: MatrixResult) -> str:
    """The page: one row per scenario, one column per seed."""
    seeds = sorted({run.seed for run in result.runs} | set(result.seeds))
    body = []
    for scenario, runs in groupby(result.runs, key=lambda r: r.scenario):
        by_seed = {run.seed: run for run in runs}
        cells = "".join(
            _cell(by_seed[seed]) if seed in by_seed else "<td class='missing'></td>" for seed in seeds
        )
        body.append(f"<tr><th>{escape(scenario)}</th>{cells}</tr>")
    totals = result.totals()
    summary = (
        f"client {escape(result.variant)} · {len(seeds)} seed(s) × {result.endpoints} endpoint(s) · "
        f"{totals['runs']} runs, {totals['failed_runs']} failed · {totals['succeeded']} of "
        f"{totals['endpoints']} endpoints collected · {result.duration_s:.1f} s · "
        + ("<span class='ok'>PASS</span>" if result.ok else "<span class='bad'>FAIL</span>")
    )
    legend = "".join(f"<span class='{kind}'>{escape(text)}</span>" for kind, text in VERDICTS.items())
    head = "".join(f"<th>seed {seed}</th>" for seed in seeds)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>tanium-sim QA fault matrix</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>QA fault matrix</h1><p class='summary'>{summary}</p>"
        f"<p class='legend'>{legend}</p>"
        f"<table class='heatmap'><tr><th>scenario</th>{head}</tr>{''.join(body)}</table>"
        "<p class='summary'>Open a cell for the run's problems and every endpoint's outcome.</p>"
        "</body></html>\n"
    )


def write_html(result: MatrixResult, path: Path) -> None:
    """Write the matrix as a self-contained HTML heatmap (``tanium-sim qa --html FILE``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result), encoding="utf-8")


__all__ = ["VERDICTS", "render_html", "verdict", "write_html"]
