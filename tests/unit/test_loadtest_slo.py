"""The load-test pieces that need no server: SLO verdicts from Locust stats, load shapes, typed reasons."""

from __future__ import annotations

import os

import pytest

# Importing locust monkey-patches the whole process for gevent unless told not to: these tests need
# only its stats classes, and the rest of the suite must keep real threads and sockets.
_SET_HERE = "LOCUST_SKIP_MONKEY_PATCH" not in os.environ
os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")
pytest.importorskip("locust")

from locust.stats import RequestStats  # noqa: E402

from loadtests import slo  # noqa: E402
from loadtests.locustfile import status_reason, trace_path, working_set_indices  # noqa: E402
from loadtests.shapes import SHAPES, users_at  # noqa: E402

if _SET_HERE:  # read once, at import: child processes (make loadtest) must patch as usual
    del os.environ["LOCUST_SKIP_MONKEY_PATCH"]


def stats_with(
    workflow_ms: list[int], failures: int = 0, ingest: tuple[int, int] | None = None
) -> RequestStats:
    stats = RequestStats()
    for ms in workflow_ms:
        stats.log_request("WORKFLOW", "workflow", ms, 1000)
    for _ in range(failures):
        stats.log_request("WORKFLOW", "workflow failed", 10, 0)
        stats.log_error("WORKFLOW", "workflow failed", "task_failed at wait_task")
    if ingest is not None:
        megabytes, ms = ingest
        stats.log_request("INGEST", "bytes", ms, megabytes * 1_000_000)
    return stats


def verdicts(stats: RequestStats, ran: set[str], **limits: float) -> dict[str, slo.Verdict]:
    return {v.objective.key: v for v in slo.evaluate(stats, limits, ran)}


def test_p95_workflow_time_is_measured_on_completed_workflows() -> None:
    result = verdicts(stats_with([800] * 97 + [9000] * 3), {"EvidenceWorkflowUser"}, slo_p95_workflow_s=1.0)
    assert result["slo_p95_workflow_s"].value == pytest.approx(0.8)
    assert result["slo_p95_workflow_s"].met
    missed = verdicts(stats_with([800] * 90 + [9000] * 10), {"EvidenceWorkflowUser"}, slo_p95_workflow_s=1.0)
    assert not missed["slo_p95_workflow_s"].met
    assert "MISSED" in missed["slo_p95_workflow_s"].line()


def test_failure_ratio_counts_failed_workflows() -> None:
    result = verdicts(stats_with([500] * 98, failures=2), {"EvidenceWorkflowUser"}, slo_failure_ratio=0.01)
    assert result["slo_failure_ratio"].value == pytest.approx(0.02)
    assert not result["slo_failure_ratio"].met


def test_ingestion_rate_is_bytes_over_time_spent_ingesting() -> None:
    result = verdicts(stats_with([], ingest=(30, 2000)), {"IngestionUser"}, slo_ingest_mb_s=10.0)
    assert result["slo_ingest_mb_s"].value == pytest.approx(15.0)
    assert result["slo_ingest_mb_s"].met
    assert slo.custom_metrics(stats_with([], ingest=(30, 2000)))["ingest_mb_s_per_stream"] == pytest.approx(
        15.0
    )


def test_a_user_class_that_ran_without_data_misses_its_slo_and_one_that_did_not_run_is_skipped() -> None:
    ran = verdicts(RequestStats(), {"EvidenceWorkflowUser"})
    assert not ran["slo_p95_workflow_s"].met
    assert ran["slo_ingest_mb_s"].met  # IngestionUser was not part of the run
    assert "not measured" in ran["slo_ingest_mb_s"].note


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_shape_ends_and_never_asks_for_more_than_the_peak(name: str) -> None:
    stages = SHAPES[name]
    ticks = [users_at(stages, 40, t) for t in range(0, int(stages[-1].end_s) + 1)]
    assert ticks[-1] is None
    counts = [tick[0] for tick in ticks if tick is not None]
    assert max(counts) <= 40
    assert min(counts) >= 1


def test_typed_reasons_and_endpoint_choice() -> None:
    assert [status_reason(s) for s in (0, 400, 404, 429, 500)] == [
        "transport",
        "bad_request",
        "not_found",
        "rate_limited",
        "server_error",
    ]
    assert trace_path("Windows").startswith("C:\\") and trace_path("Linux").startswith("/opt/")
    assert working_set_indices(10, 0) == list(range(10))
    assert working_set_indices(1_000_000, 2) == [0, 500_000]
