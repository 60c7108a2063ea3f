"""`make loadtest` end to end: a few seconds of Locust against a simulator it starts, exit code = SLO verdict.

Both runs are short (4 s of load, two users, two warmed endpoints) and write their reports to a temporary
folder. The failing run serves the ``task-errors`` scenario, whose failed tasks put the workflow failure
ratio far above its objective, so its exit code must be non-zero; the passing run uses ``baseline``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sockets, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def make_loadtest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    prefix = tmp_path / "lt"
    extra = f"--working-set 2 --csv {prefix} --html {prefix}.html " + " ".join(args)
    return subprocess.run(
        # -o: treat the venv as up to date, so the test never reinstalls the project
        [
            "make",
            "-s",
            "-o",
            ".venv/.installed-stamp",
            "loadtest",
            "LOADTEST_TIME=4s",
            "LOADTEST_USERS=2",
            f"LOADTEST_ARGS={extra}",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"},  # Locust needs gevent
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_scenario_that_misses_an_slo_makes_make_loadtest_fail(tmp_path: Path) -> None:
    # task-errors: four tasks in ten end INCOMPLETE or ERROR, far above the 1% failure-ratio objective
    result = make_loadtest(tmp_path, "--sim-scenario", "task-errors", "EvidenceWorkflowUser")
    assert result.returncode != 0, result.stderr[-2000:]
    assert "SLO missed: slo_failure_ratio" in result.stderr
    assert "task_failed at wait_task" in (tmp_path / "lt_failures.csv").read_text()  # the typed reason
    assert (tmp_path / "lt.html").stat().st_size > 0


def test_met_slos_make_it_pass_and_write_the_reports(tmp_path: Path) -> None:
    result = make_loadtest(tmp_path, "--slo-p95-workflow-s", "30", "EvidenceWorkflowUser")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "met    slo_p95_workflow_s" in result.stderr
    stats = (tmp_path / "lt_stats.csv").read_text()
    for name in ("/conns/connect", "/conns", "/tasks/{id}", "/filedownload/data/{uuid}", "workflow"):
        assert f",{name}," in stats
    for output in (result.stdout, result.stderr, (tmp_path / "lt_simulator.log").read_text()):
        assert "token-" not in output  # tokens never reach a log
    assert (tmp_path / "lt_simulator_rss.csv").read_text().startswith("seconds,rss_bytes")
