"""The QA heatmap: one self-contained page, a cell per scenario × seed coloured by verdict, each opening
the run's problems and its endpoints' outcomes."""

from __future__ import annotations

import re
from pathlib import Path

from simulator.qa.html import render_html, verdict, write_html
from simulator.qa.runner import EndpointResult, MatrixResult, RunResult


def _matrix() -> MatrixResult:
    ok = RunResult("baseline", 1, "in-process", [EndpointResult("101", "default", "success", True)])
    bad = RunResult(
        "flaky-5xx",
        1,
        "in-process",
        [EndpointResult("202", "default", "server_error", False, "503 <b>after 3 retries</b>")],
        leaked_connections=1,
        faults_fired={"unavailable": 2},
    )
    idle = RunResult("rate-limited", 1, "in-process", [EndpointResult("303", "default", "success", True)])
    idle.faults_fired = {"throttle": 0}
    broken = RunResult("hangs", 2, "sockets", error="server did not start")
    return MatrixResult("reference", 1, (1, 2), [ok, bad, idle, broken])


def test_each_cell_has_its_verdict_and_opens_its_problems_and_endpoints(tmp_path: Path) -> None:
    result = _matrix()
    assert [verdict(run) for run in result.runs] == ["pass", "fail", "unexercised", "error"]
    path = tmp_path / "qa" / "matrix.html"
    write_html(result, path)
    page = path.read_text()
    assert page == render_html(result)
    cells = re.findall(r"<td class='(\w+)' data-scenario='([\w-]+)' data-seed='(\d)'>", page)
    assert cells == [
        ("pass", "baseline", "1"),
        ("fail", "flaky-5xx", "1"),
        ("unexercised", "rate-limited", "1"),
        ("error", "hangs", "2"),
    ]
    assert page.count("<td class='missing'>") == 4  # the seeds a scenario did not run
    bad = page[page.index("data-scenario='flaky-5xx'") :].split("</details>", 1)[0]
    assert "<details>" in bad and "1 connection(s) left connected or waiting" in bad
    assert "endpoint 202 (default) ended server_error, not allowed here" in bad
    assert "503 &lt;b&gt;after 3 retries&lt;/b&gt;" in bad and "<b>after" not in bad  # escaped
    assert "unavailable 2" in bad


def test_the_page_loads_nothing_from_anywhere() -> None:
    page = render_html(_matrix())
    assert not re.search(r"<script|<link|src=|@import|url\(|https?://", page)
