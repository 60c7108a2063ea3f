"""Scenario files: every one in scenarios/ loads; invalid ones are refused naming file, line and field."""

from __future__ import annotations

import random
import statistics
from dataclasses import fields, replace
from pathlib import Path

import pytest

from simulator.faults.latency import Distribution, DistributionError
from simulator.scenarios import (
    DEFAULT_SCENARIO,
    SCENARIO_DIR,
    Scenario,
    ScenarioError,
    available,
    expected_outcomes,
)
from simulator.settings import Settings
from simulator.traces.spec import ChurnRates

REQUIRED = {
    "baseline",
    "realistic",
    "slow-network",
    "flaky-5xx",
    "rate-limited",
    "session-expiry",
    "offline-endpoints",
    "slow-tasks",
    "task-errors",
    "missing-trace",
    "corrupt-evidence",
    "truncated-downloads",
    "connection-resets",
    "hangs",
    "large-fleet",
    "huge-traces",
}


def test_the_library_has_every_named_scenario() -> None:
    assert set(available()) >= REQUIRED
    assert DEFAULT_SCENARIO == "baseline"


@pytest.mark.parametrize("name", available())
def test_every_scenario_file_loads_and_opens_with_its_purpose(name: str) -> None:
    scenario = Scenario.load(name)
    assert scenario.name == name
    text = (SCENARIO_DIR / Path(scenario.source).name).read_text()
    assert text.startswith("# "), "a scenario opens with a comment sentence"
    assert "for checking" in scenario.description or "for " in scenario.description
    assert expected_outcomes(scenario), scenario.expect
    settings = scenario.apply(Settings(seed=1, endpoints=5))
    assert settings.lifecycle is not None


BAD = [
    (
        "unknown fault",
        "faults:\n  - name: a\n    fault: {type: explode}\n",
        3,
        "faults[0].fault.type",
        "unknown fault",
    ),
    (
        "negative delay",
        "latency:\n  default: {model: fixed, ms: -5}\n",
        2,
        "latency.default.ms",
        "non-negative",
    ),
    (
        "probability > 1",
        "faults:\n  - name: a\n    probability: 1.5\n    fault: {type: reset}\n",
        3,
        "faults[0].probability",
        "<= 1",
    ),
    ("bad yaml", "faults:\n  - name: [a\n", 3, "", "not valid YAML"),
    ("unknown section", "seed: 1\nlatncy: {default: 5}\n", 2, "latncy", "unknown field"),
    (
        "unknown operation",
        "latency:\n  operations:\n    get_taks: 5\n",
        3,
        "latency.operations.get_taks",
        "unknown operation",
    ),
    (
        "truncate without size",
        "faults:\n  - name: t\n    fault:\n      type: truncate\n",
        3,
        "faults[0].fault",
        "exactly one of at_byte or fraction",
    ),
    (
        "duplicate rule",
        "faults:\n  - {name: a, fault: {type: reset}}\n  - {name: a, fault: {type: hang}}\n",
        3,
        "faults[1].name",
        "duplicate",
    ),
    ("fraction > 1", "lifecycle:\n  offline_fraction: 2\n", 2, "lifecycle.offline_fraction", "<= 1"),
    (
        "bad outcome",
        "lifecycle:\n  task_outcomes: {DONE: 1}\n",
        2,
        "lifecycle.task_outcomes.DONE",
        "COMPLETED",
    ),
    ("negative scan interval", "scans:\n  interval_s: -60\n", 2, "scans.interval_s", ">= 0"),
    ("scan interval text", "scans:\n  interval_s: daily\n", 2, "scans.interval_s", "expected a number"),
    ("sub-minute scan interval", "scans:\n  interval_s: 0.5\n", 2, "scans.interval_s", "at least 60 seconds"),
    (
        "churn rate > 1",
        "scans:\n  interval_s: 60\n  churn:\n    move_file: 1.5\n",
        4,
        "scans.churn.move_file",
        "<= 1",
    ),
    ("churn rate < 0", "scans:\n  churn: {remove_key: -0.1}\n", 2, "scans.churn.remove_key", ">= 0"),
    ("new artifacts > 10", "scans:\n  churn: {new_artifacts: 11}\n", 2, "scans.churn.new_artifacts", "<= 10"),
    (
        "unknown churn rate",
        "scans:\n  churn:\n    renew: 0.1\n",
        3,
        "scans.churn.renew",
        "expected one of renew_in_place, new_artifacts",
    ),
    ("unknown scans key", "scans:\n  every_s: 60\n", 2, "scans.every_s", "expected one of interval_s, churn"),
    ("churn not a mapping", "scans:\n  churn: 0.1\n", 2, "scans.churn", "mapping of churn rate"),
]


@pytest.mark.parametrize(("case", "text", "line", "field", "expected"), BAD, ids=[b[0] for b in BAD])
def test_invalid_scenarios_name_file_line_field_and_expectation(
    case: str, text: str, line: int, field: str, expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        Scenario.load(path)
    err = info.value
    assert err.source == str(path) and err.line == line and err.field == field, str(err)
    assert expected in str(err) and str(path) in str(err)


def test_json_scenarios_load_and_their_errors_have_lines(tmp_path: Path) -> None:
    good = tmp_path / "s.json"
    good.write_text('{"seed": 4, "latency": {"default": {"model": "uniform", "min_ms": 1, "max_ms": 3}}}')
    assert Scenario.load(good).latency_default.median == pytest.approx(0.002)
    bad = tmp_path / "b.json"
    bad.write_text(
        '{\n  "faults": [\n    {"name": "x", "probability": 7, "fault": {"type": "reset"}}\n  ]\n}'
    )
    with pytest.raises(ScenarioError, match=r"b\.json:3: faults\[0\]\.probability"):
        Scenario.load(bad)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ScenarioError, match=r"known: .*baseline"):
        Scenario.load("no-such-scenario")


def test_apply_sets_lifecycle_fleet_seed_and_session_lifetime() -> None:
    scenario = Scenario.from_text(
        "seed: 9\nlifecycle:\n  task_polls: 3\n  intermediate_statuses: [RUNNING]\n"
        "  task_outcomes: {COMPLETED: 1, ERROR: 1}\n  session_lifetime_s: 30\n"
        "  connect_delay: {model: uniform, min_s: 1, max_s: 2}\n"
        "fleet: {endpoints: 7, linux_fraction: 0.5, profile_mix: {small: 1}}\n"
    )
    s = scenario.apply(Settings(seed=1, endpoints=3))
    assert (s.seed, s.endpoints, s.session_lifetime_s) == (9, 7, 30.0)
    assert s.lifecycle.task_polls == 3 and s.lifecycle.intermediate_statuses == ("RUNNING",)
    assert dict(s.lifecycle.outcome_weights) == {"COMPLETED": 1.0, "ERROR": 1.0}
    assert s.lifecycle.connect_delay == Distribution("uniform", min=1.0, max=2.0)
    assert s.fleet.linux_fraction == 0.5 and s.fleet.profile_mix == {"small": 1.0}


def test_apply_sets_the_scan_interval_and_the_churn_rates_named() -> None:
    scenario = Scenario.from_text("scans:\n  interval_s: 3600\n  churn: {move_file: 0.5, new_artifacts: 2}\n")
    s = scenario.apply(Settings(seed=1, endpoints=3))
    assert s.scan_interval_s == 3600.0
    assert s.churn == replace(ChurnRates(), move_file=0.5, new_artifacts=2.0)  # the others keep theirs
    quiet = Scenario.from_text("scans: {churn: none}").apply(Settings(scan_interval_s=60))
    assert quiet.churn == ChurnRates.none() and quiet.scan_interval_s == 60.0
    assert Scenario.from_text("seed: 1").apply(Settings(scan_interval_s=60)).scan_interval_s == 60.0
    assert (
        Scenario.from_text("scans: {interval_s: 0}").apply(Settings(scan_interval_s=60)).scan_interval_s == 0
    )


def test_settings_refuse_a_negative_task_retention_and_read_it_from_the_environment() -> None:
    assert Settings().task_retention == 10_000
    assert Settings.from_env({"TANIUM_SIM_TASK_RETENTION": "50"}).task_retention == 50
    with pytest.raises(ValueError, match="task_retention must be >= 0"):
        Settings(task_retention=-1)


MODELS = [
    {"model": "fixed", "ms": 100},
    {"model": "uniform", "min_ms": 50, "max_ms": 150},
    {"model": "normal", "mean_ms": 100, "stddev_ms": 20},
    {"model": "lognormal", "median_ms": 100, "sigma": 0.6},
]


@pytest.mark.parametrize("spec", MODELS, ids=[str(m["model"]) for m in MODELS])
def test_each_latency_model_median_is_within_10_percent(spec: dict[str, object]) -> None:
    dist = Distribution.parse(spec)
    rng = random.Random(42)
    observed = statistics.median(dist.sample(rng) for _ in range(20_000))
    assert observed == pytest.approx(dist.median, rel=0.10)
    assert dist.median == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"model": "gamma"}, "model"),
        ({"model": "uniform", "min_ms": 5, "max_ms": 1}, "max_ms"),
        ({"model": "lognormal", "sigma": 1}, "median_ms"),
        ({"model": "fixed", "seconds": 1}, "seconds"),
        ({"model": "normal", "mean_ms": 1, "stddev_ms": "x"}, "stddev_ms"),
    ],
)
def test_bad_distributions_name_their_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(DistributionError) as info:
        Distribution.parse(raw)
    assert info.value.field == field


def test_without_settings_undoes_apply_field_by_field() -> None:
    """Every Settings field a scenario can set can also be taken back (the pytest plugin relies on it)."""
    text = (
        "seed: 9\nfleet: {endpoints: 7, linux_fraction: 0.5}\n"
        "lifecycle: {offline_timeout_s: 3, session_lifetime_s: 30}\nscans: {interval_s: 600, churn: none}\n"
    )
    scenario = Scenario.from_text(text)
    base = Settings()
    applied = scenario.apply(base)
    changed = {f.name for f in fields(Settings) if getattr(applied, f.name) != getattr(base, f.name)}
    assert changed == {
        "seed",
        "endpoints",
        "fleet",
        "lifecycle",
        "session_lifetime_s",
        "scan_interval_s",
        "churn",
    }
    for name in changed:
        kept = scenario.without_settings({name}).apply(base)
        assert getattr(kept, name) == getattr(base, name), name
        assert all(getattr(kept, other) == getattr(applied, other) for other in changed - {name}), name
