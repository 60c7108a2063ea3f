"""The QA fault matrix in-process: expectations, checks, reports, and that broken clients are caught."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from client._workflow import CollectResult, collect_trace
from simulator.cli import main
from simulator.qa.expectations import ERROR_REASONS, ExpectationError, Expectations, endpoint_class
from simulator.qa.report import junit_xml
from simulator.qa.runner import MatrixOptions, MatrixResult, needs_sockets, retry_after_violations, run_matrix
from simulator.qa.variants import REFERENCE, VARIANTS, ClientVariant
from simulator.scenarios import Scenario, available

pytestmark = pytest.mark.anyio
FAST = MatrixOptions(endpoints=3, seeds=(1,))


def scenarios(*names: str) -> list[Scenario]:
    return [Scenario.load(name) for name in names]


# --------------------------------------------------------------------------- expectations


@pytest.mark.parametrize("name", available())
def test_every_scenario_declares_expectations_the_matrix_understands(name: str) -> None:
    expectations = Expectations.of(Scenario.load(name))
    assert expectations.allowed("default")  # never empty


def test_expectations_per_endpoint_class_fall_back_to_default() -> None:
    expectations = Expectations.parse({"default": "success", "offline": "connection_timeout"})
    assert endpoint_class({"online": False, "has_trace": True}) == "offline"
    assert endpoint_class({"online": True, "has_trace": False}) == "missing_trace"
    assert endpoint_class({"online": True, "has_trace": True}) == "default"
    assert expectations.allowed("offline") == {"connection_timeout"}
    assert expectations.allowed("missing_trace") == {"success"}
    assert {"connection_timeout", "integrity", "rate_limited", "server_error"} <= set(ERROR_REASONS)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sometimes": "success"}, "unknown endpoint class 'sometimes'"),
        ({"default": "sucess"}, "unknown outcome 'sucess'"),
        ({"default": []}, "expected an outcome"),
    ],
)
def test_bad_expectations_name_the_problem(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ExpectationError, match=message):
        Expectations.parse(raw)


def test_offline_endpoints_demands_success_from_online_ones() -> None:
    expectations = Expectations.of(Scenario.load("offline-endpoints"))
    assert expectations.allowed("default") == {"success"}
    assert expectations.allowed("offline") == {"connection_timeout"}
    assert Expectations.of(Scenario.load("flaky-5xx")).allowed("default") == {"success"}


def test_wire_fault_scenarios_run_on_sockets() -> None:
    assert needs_sockets(Scenario.load("hangs")) and needs_sockets(Scenario.load("connection-resets"))
    assert not needs_sockets(Scenario.load("flaky-5xx"))


# --------------------------------------------------------------------------- the reference client passes


async def test_reference_client_passes_a_representative_subset() -> None:
    names = ("flaky-5xx", "offline-endpoints", "rate-limited", "session-expiry")
    result = await run_matrix(scenarios(*names), MatrixOptions(endpoints=4, exercise_endpoints=0, seeds=(4,)))
    assert result.ok, [p for run in result.runs for p in run.problems]
    totals = result.totals()
    assert totals["leaked_connections"] == totals["leaked_evidence"] == totals["corrupt_traces"] == 0
    assert totals["untyped_failures"] == 0 and totals["endpoints"] == 4 * len(names)
    outcomes = {run.scenario: run.outcomes for run in result.runs}
    assert outcomes["flaky-5xx"]["success"] == 4  # recovered, not merely failed cleanly
    offline = [e for run in result.runs for e in run.endpoints if e.klass == "offline"]
    assert len(offline) == 1 and offline[0].outcome == "connection_timeout"  # seed 4: endpoint 2 is offline
    assert outcomes["offline-endpoints"]["success"] == 3
    assert sum(run.retries for run in result.runs if run.scenario in ("flaky-5xx", "rate-limited")) > 0


# --------------------------------------------------------------------------- broken clients are caught


async def test_a_client_that_skips_cleanup_on_error_fails_the_matrix() -> None:
    result = await run_matrix(
        scenarios("task-errors"), MatrixOptions(endpoints=4, seeds=(1,), variant=VARIANTS["no-cleanup"])
    )
    assert not result.ok
    run = result.runs[0]
    assert run.outcomes["task_failed"] >= 1 and run.leaked_connections == run.outcomes["task_failed"]
    assert any("left connected or waiting" in p for p in run.problems)


async def test_a_client_that_ignores_retry_after_fails_the_matrix() -> None:
    result = await run_matrix(
        scenarios("rate-limited"),
        MatrixOptions(endpoints=3, seeds=(1,), variant=VARIANTS["ignores-retry-after"]),
    )
    run = result.runs[0]
    assert run.outcomes["success"] == 3  # it even "works"...
    assert run.retry_after_violations > 0 and not result.ok  # ...but hammers a server that asked it to wait
    assert any("before the Retry-After" in p for p in run.problems)


async def test_a_client_that_does_not_retry_fails_flaky_5xx() -> None:
    result = await run_matrix(
        scenarios("flaky-5xx"), MatrixOptions(endpoints=6, seeds=(1,), variant=VARIANTS["no-retry"])
    )
    run = result.runs[0]
    assert run.unexpected and all(e.outcome == "server_error" for e in run.unexpected)
    assert not result.ok  # (a 503 on its own cleanup calls may even leave a connection open)


# Each broken variant and the scenarios that must catch it with the matrix at its defaults (what
# `tanium-sim qa --client VARIANT` runs): before runs were extended until their faults fired, no-retry
# passed connection-resets whenever no reset happened to fire. (corrupt-evidence and
# truncated-downloads allow a clean typed failure, so a client that never fetches again passes them.)
CAUGHT_BY = [
    ("no-retry", "flaky-5xx"),
    ("no-retry", "connection-resets"),
    ("no-cleanup", "task-errors"),
    ("ignores-retry-after", "rate-limited"),
    ("blind-post", "duplicate-post"),
    ("stale-session", "session-expiry"),
]


def test_every_broken_variant_has_a_scenario_that_catches_it() -> None:
    assert {variant for variant, _ in CAUGHT_BY} == set(VARIANTS) - {"reference"}


@pytest.mark.parametrize(("variant", "scenario"), CAUGHT_BY)
async def test_each_broken_variant_is_caught_at_the_defaults(variant: str, scenario: str) -> None:
    result = await run_matrix(scenarios(scenario), MatrixOptions(variant=VARIANTS[variant]))
    assert not result.ok, f"{variant} passed {scenario} at the defaults"
    assert all(not run.not_exercised for run in result.runs)  # caught by what it did, not by a silent run


async def test_a_run_whose_faults_never_fired_is_not_exercised_and_fails() -> None:
    rule = "{name: never, match: {operation: get_task}, probability: 0.0, fault: {type: status, status: 500}}"
    never = Scenario.from_text(f"faults: [{rule}]", name="never-fires")
    result = await run_matrix([never], MatrixOptions(endpoints=2, exercise_endpoints=4, seeds=(1,)))
    (run,) = result.runs
    assert run.faults_fired == {"never": 0} and run.not_exercised and not result.ok
    assert len(run.endpoints) == 4  # it kept collecting, up to the cap, looking for a fault
    assert any(
        p.startswith("not exercised: none of its fault rules (never) fired on 4") for p in run.problems
    )


async def test_a_run_collects_past_its_endpoints_until_every_rule_fired() -> None:
    rule = (
        "{name: late, match: {operation: get_task}, after: 6, times: 1, fault: {type: status, status: 503}}"
    )
    late = Scenario.from_text(f"faults: [{rule}]", name="fires-late")
    (run,) = (await run_matrix([late], MatrixOptions(endpoints=1, seeds=(1,)))).runs
    assert run.faults_fired == {"late": 1} and run.ok
    assert 1 < len(run.endpoints) < MatrixOptions().exercise_endpoints  # stopped once it fired


async def _silently_corrupting(client: object, client_id: str, **kwargs: object) -> CollectResult:
    result = await collect_trace(client, client_id, **kwargs)  # type: ignore[arg-type]
    result.trace_path.write_bytes(b"\x1f\x8b not the trace")  # a client that mangles what it keeps
    return result


async def test_a_silently_corrupted_trace_is_never_accepted() -> None:
    mangler = ClientVariant("mangler", "keeps a damaged copy", REFERENCE.make_policy, _silently_corrupting)
    result = await run_matrix(scenarios("baseline"), MatrixOptions(endpoints=2, seeds=(1,), variant=mangler))
    run = result.runs[0]
    assert run.corrupt == 2 and not result.ok
    assert (
        "the trace on disk" in run.endpoints[0].message
        and "does not match the manifest" in run.endpoints[0].message
    )


def test_retry_after_violations_are_counted_per_429(tmp_path: Path) -> None:
    scenario = Scenario.load("rate-limited")
    rule = scenario.faults[0].name
    entries = [
        {"method": "GET", "path": "/t/1", "status": 429, "fault": rule, "at": 10.0},
        {"method": "GET", "path": "/c", "status": 200, "fault": None, "at": 10.5},
        {"method": "GET", "path": "/t/1", "status": 200, "fault": None, "at": 12.0},  # waited the 2 s: fine
        {"method": "GET", "path": "/t/1", "status": 429, "fault": rule, "at": 20.0},
        {"method": "GET", "path": "/t/1", "status": 200, "fault": None, "at": 20.5},  # too soon
    ]
    assert retry_after_violations(scenario, entries) == 1


# --------------------------------------------------------------------------- the command and its reports


def test_qa_command_writes_junit_and_json_and_exits_1_for_a_broken_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, report = tmp_path / "qa.xml", tmp_path / "qa.json"
    argv = [
        "qa",
        "--scenario",
        "baseline",
        "task-errors",
        "--seeds",
        "1",
        "--endpoints",
        "3",
        "--client",
        "no-cleanup",
    ]
    heatmap = tmp_path / "qa.html"
    code = main([*argv, "--junit", str(junit), "--json", str(report), "--html", str(heatmap)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL task-errors seed 1" in out and "expectations failed" in out
    suites = {s.get("name"): s for s in ET.parse(junit).getroot()}
    assert set(suites) == {"baseline", "task-errors"}
    assert suites["task-errors"].get("failures") == "1" and suites["baseline"].get("failures") == "0"
    data = json.loads(report.read_text())
    assert data["ok"] is False and data["totals"]["leaked_connections"] >= 1
    page = heatmap.read_text()
    assert "task-errors" in page and "left connected or waiting" in page  # the failing cell's problems


def test_qa_command_passes_for_the_reference_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["qa", "--scenario", "baseline", "poll-driven-tasks", "--seeds", "1", "--endpoints", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "every expectation held" in out and "baseline" in out and "poll-driven-tasks" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["qa", "--scenario", "no-such-scenario"], "no scenario by that name"),
        (["qa", "--scenario", "{bad_expect}"], "unknown outcome 'maybe'"),
        (["qa", "--junit", "{folder}"], "is a folder"),
    ],
)
def test_qa_usage_errors_are_one_sentence(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("# A scenario with a typo in its expectations.\nexpect: {default: maybe}\n")
    argv = [a.format(bad_expect=bad, folder=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_junit_of_an_empty_matrix_is_well_formed() -> None:
    root = junit_xml(MatrixResult("reference", 3, (1,)))
    assert root.tag == "testsuites" and root.get("tests") == "0"
    assert not MatrixResult("reference", 3, (1,)).ok  # nothing ran: nothing was shown to hold
