"""`make loadtest-distributed` end to end: Redis, `serve --workers 2 --store`, Locust in 2 processes.

Eight seconds of load with two users; the reports go to a temporary folder. Checks the exit code (the
SLO verdict), that every workflow route was driven through the workers, that no token reaches any output,
and the reports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.redis_server import MISSING, find_binary

pytestmark = [pytest.mark.sockets, pytest.mark.slow, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]


def test_make_loadtest_distributed_passes_and_writes_the_reports(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    if find_binary() is None:
        pytest.skip(f"Redis tier: {MISSING}")
    prefix = tmp_path / "ltd"
    env = {k: v for k, v in os.environ.items() if k not in ("LOCUST_SKIP_MONKEY_PATCH", "REDIS_URL")}
    result = subprocess.run(
        # -o: treat the venv as up to date, so the test never reinstalls the project
        [
            "make",
            "-s",
            "-o",
            ".venv/.installed-stamp",
            "loadtest-distributed",
            "SIM_WORKERS=2",
            "LOCUST_PROCESSES=2",
            # Each user must finish a workflow (~1 s alone, ~3 s while the rest of `make test` keeps the
            # machine busy): with 4 s none finished once, and the p95 SLO had no data.
            "LOADTEST_TIME=8s",
            "LOADTEST_USERS=2",
            "LOADTEST_ARGS=--slo-p95-workflow-s 30 EvidenceWorkflowUser",
            f"DISTRIBUTED_REPORTS={prefix}",
        ],
        cwd=ROOT,
        env={**env, "MAKEFLAGS": ""},
        capture_output=True,
        text=True,
        timeout=240,
    )
    verdict = "\n".join(line for line in result.stderr.splitlines() if " slo_" in line or "figure " in line)
    assert result.returncode == 0, f"{verdict}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    assert "distributed: simulator http://127.0.0.1:" in result.stdout
    assert "2 workers on Redis (started here" in result.stdout
    assert "met    slo_p95_workflow_s" in result.stderr
    stats = Path(f"{prefix}_stats.csv").read_text()
    for name in ("/conns/connect", "/conns", "/tasks/{id}", "/filedownload/data/{uuid}", "workflow"):
        assert f",{name}," in stats
    log = Path(f"{prefix}_simulator.log").read_text()
    for output in (result.stdout, result.stderr, log):
        assert "token-" not in output
    assert Path(f"{prefix}.html").stat().st_size > 0
