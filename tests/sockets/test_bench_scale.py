"""``loadtests/bench_scale.py``: one short real run (memory store, Redis store, bare app; one worker).

It starts its own ``redis-server``, simulators and bare apps on 127.0.0.1 and checks that every figure,
the core count and the ratio lines are printed, never the figures' values (this machine's speed is not
the test's business). A worker count this machine cannot host must say so instead of measuring.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_server import MISSING, find_binary

pytestmark = [pytest.mark.sockets, pytest.mark.slow, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[2]


def test_a_tiny_run_prints_every_figure_and_ratio() -> None:
    if find_binary() is None:
        pytest.skip(f"Redis tier: {MISSING}")
    options = ["--seconds", "0.5", "--rounds", "1", "--workers", "1,256", "--concurrency", "2"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "bench_scale.py"), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert "usable cores (CPUs " in out
    assert "redis: redis " in out or "redis: valkey " in out
    rows = {line.split()[1]: line.split() for line in out.splitlines() if line.startswith("      1 ")}
    assert set(rows) == {"memory", "redis", "bare"}
    for name, row in rows.items():
        rates = [float(v) for v in row[2:6]]  # GET /tasks/{id}, GET /conns, workflows/s, their req/s
        assert all(rate > 0 for rate in rates), (name, row)
        assert row[6] == "0", f"{name}: {row[6]} errors"
    assert "redis 1 worker / memory 1 worker: GET /tasks/{id} " in out
    assert "(target >= 0.60: " in out
    assert "redis 256 workers / (256 x redis 1 worker): not measurable here (needs 512 free cores" in out
    assert "token-" not in out + result.stderr  # the session token never reaches the output
