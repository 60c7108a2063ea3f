"""The pieces of ``loadtests/bench_scale.py`` and ``loadtests/distributed.py`` that need no server."""

from __future__ import annotations

import argparse

import pytest

from loadtests.bench_scale import Figures, Plan, default_workers, parse_workers, ratio_line, ratios
from loadtests.distributed import seconds


def test_each_worker_count_needs_as_many_load_cores_as_server_cores() -> None:
    plan = Plan((0, 1, 2, 3, 4, 5, 6, 7))
    assert (plan.server(2), plan.loaders(2), plan.redis) == ((0, 1), (2, 3), (7,))
    assert plan.measurable(4) and not plan.measurable(8)
    assert plan.not_measurable(8) == "not measurable here (needs 16 free cores, this machine has 8)"
    two = Plan((0, 1))
    assert (two.server(1), two.loaders(1), two.measurable(2)) == ((0,), (1,), False)
    shared = Plan((0, 1), oversubscribe=True)
    assert (
        shared.measurable(2) and not shared.fits(2) and (shared.server(2), shared.loaders(2)) == ((0,), (1,))
    )
    assert Plan((3,)).measurable(1) and Plan((3,)).loaders(1) == (3,)


def test_worker_counts_always_include_one_and_stay_bounded() -> None:
    assert default_workers(8) == [1, 2, 4, 8]
    assert parse_workers("4,2", 8) == [1, 2, 4]
    assert parse_workers("", 2) == [1, 2]
    with pytest.raises(SystemExit, match="keep it bounded"):
        parse_workers("0,2", 8)
    with pytest.raises(SystemExit, match="comma-separated"):
        parse_workers("two", 8)


def test_ratios_and_verdicts() -> None:
    one, four = Figures(tasks=1000, conns=500, workflows=100), Figures(tasks=3000, conns=1500, workflows=290)
    scaled = ratios(four, one, 4)
    assert scaled == {"tasks": 0.75, "conns": 0.75, "workflows": pytest.approx(0.725)}
    assert ratio_line("x", scaled, 0.7).endswith("(target >= 0.70: met)")
    assert ratio_line("x", scaled, 0.74).endswith("(target >= 0.74: MISSED)")


@pytest.mark.parametrize(("text", "expected"), [("90", 90), ("45s", 45), ("2m", 120), ("1h30m", 5400)])
def test_locust_run_times(text: str, expected: int) -> None:
    assert seconds(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "0s", "25h"])
def test_run_times_are_bounded(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        seconds(text)
