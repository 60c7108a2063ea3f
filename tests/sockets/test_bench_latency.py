"""``loadtests/bench_latency.py``: its verdict, its wrk parsing, its CLI bounds, and one short real run.

The real run uses the raw-asyncio client (so it runs where wrk is absent), 20 connections and a 50 ms
delay for 1 s windows: it checks that every figure and ratio line is printed and the exit status is 0,
never the figures themselves (this machine's speed is not the test's business).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.bench_latency import main, parse_wrk, verdict

ROOT = Path(__file__).resolve().parents[2]

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:38223/plugin/products/threat-response/api/v1/conns
  1 threads and 1000 connections
  Latency Distribution
     50%  104.20ms
     99%    1.49s
  31204 requests in 5.02s, 4.60MB read
  Socket errors: connect 0, read 2, write 0, timeout 45
  Non-2xx or 3xx responses: 204
Requests/sec:   6215.94
"""


def test_wrk_summary_counts_only_2xx_and_every_error() -> None:
    run = parse_wrk(WRK_OUTPUT)
    assert run.ok == 31_000
    assert run.seconds == pytest.approx(5.02)
    assert run.rate == pytest.approx(31_000 / 5.02)
    assert run.p99_ms == pytest.approx(1490.0)
    assert run.errors == {"non2xx": 204, "connect": 0, "read": 2, "write": 0, "timeout": 45}
    assert run.error_count == 251


@pytest.mark.parametrize(
    ("sim", "bare", "expected"),
    [
        (8_500, 9_000, "target met: the simulator reaches 0.85x of the bound"),
        (3_900, 6_271, "target missed: the bare app itself reaches only 0.63x of the bound here (CPU-bound"),
        (5_800, 6_271, "(CPU-bound machine)"),
        (3_000, 9_500, "target missed: simulator overhead (it reaches 0.32x of the bare app)"),
    ],
)
def test_the_verdict_is_computed_from_the_figures(sim: float, bare: float, expected: str) -> None:
    assert expected in verdict(sim, bare, bound=10_000)


def test_a_cpu_bound_machine_does_not_hide_simulator_overhead() -> None:
    line = verdict(3_900, 6_271, bound=10_000)
    assert line.endswith("and simulator overhead: it reaches 0.62x of the bare app")
    assert "simulator overhead" not in verdict(5_800, 6_271, bound=10_000)


@pytest.mark.parametrize(
    "args",
    [
        ["--connections", "0"],
        ["--connections", "5001"],
        ["--delay-ms", "0"],
        ["--seconds", "31"],
        ["--seconds", "x"],
    ],
)
def test_unbounded_options_are_refused_in_one_sentence(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "keep it bounded" in err or "is not a" in err


@pytest.mark.sockets
@pytest.mark.slow
def test_a_short_run_prints_every_figure_and_ratio_and_exits_0() -> None:
    options = [
        "--connections",
        "20",
        "--delay-ms",
        "50",
        "--seconds",
        "1",
        "--warmup",
        "0.5",
        "--rounds",
        "1",
    ]
    result = subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "bench_latency.py"), *options, "--client", "asyncio"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "load generator: raw-asyncio client processes" in out
    for line in ("simulator ", "bare ASGI app, same uvicorn ", "simulator / bound:", "bare / bound:"):
        assert line in out
    assert "bound concurrency / delay:           400 req/s" in out  # 20 connections / 50 ms
    assert "simulator / bare:" in out
    assert "simulator / bare, no delay:" in out
    assert "verdict: target " in out
    assert "token-" not in out + result.stderr  # the session token never reaches the output
