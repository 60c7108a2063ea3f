"""`make loadtest` end to end: eight seconds of Locust against a simulator it starts, exit code = SLO verdict.

Both runs are short (4 s of load, two users, two warmed endpoints) and write their reports to a temporary
folder. The failing run serves the ``task-errors`` scenario, whose failed tasks put the workflow failure
ratio far above its objective, so its exit code must be non-zero; the passing run uses ``baseline``, and
``make loadtest-screenshot`` then photographs its summary page with headless Chromium.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sockets, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")


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
            "LOADTEST_TIME=8s",  # workflows must finish on a busy machine: see test_loadtest_distributed
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


@pytest.fixture(scope="module")
def passing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("loadtest")
    return folder, make_loadtest(folder, "--slo-p95-workflow-s", "30", "EvidenceWorkflowUser")


def test_met_slos_make_it_pass_and_write_the_reports(
    passing_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp_path, result = passing_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert "met    slo_p95_workflow_s" in result.stderr
    stats = (tmp_path / "lt_stats.csv").read_text()
    for name in ("/conns/connect", "/conns", "/tasks/{id}", "/filedownload/data/{uuid}", "workflow"):
        assert f",{name}," in stats
    for output in (result.stdout, result.stderr, (tmp_path / "lt_simulator.log").read_text()):
        assert "token-" not in output  # tokens never reach a log
    assert (tmp_path / "lt_simulator_rss.csv").read_text().startswith("seconds,rss_bytes")


def test_the_summary_page_has_the_verdict_and_a_screenshot_of_it_can_be_taken(
    passing_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    folder, result = passing_run
    summary = folder / "lt-summary.html"  # beside --html lt.html
    page = summary.read_text()
    assert re.search(
        r'<table id="slo-verdict">.*<td class="status">met</td><td>slo_p95_workflow_s</td>', page
    )
    assert "Aggregated (HTTP)" in page and page.count("<svg") == 3 and "<script" not in page
    assert "growth after warm-up" in result.stderr  # the RSS line names its post-warm-up baseline
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: `apt-get install chromium` to check the summary screenshot")
    png = folder / "summary.png"
    shot = subprocess.run(
        ["make", "-s", "loadtest-screenshot", f"LOADTEST_SUMMARY={summary}", f"LOADTEST_SCREENSHOT={png}",
         "SCREENSHOT_SIZE=1024,1600"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shot.returncode == 0, shot.stdout + shot.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1024, 1600)
    assert len(data) > 10_000  # a blank page of that size compresses to a few KB
