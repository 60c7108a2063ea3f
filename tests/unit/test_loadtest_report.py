"""The load-test summary page without a server: HTTP-only aggregates, RSS growth after warm-up, the page."""

from __future__ import annotations

import os
import re

import pytest

# As in test_loadtest_slo.py: only Locust's stats classes are needed, never its gevent monkey-patching.
_SET_HERE = "LOCUST_SKIP_MONKEY_PATCH" not in os.environ
os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")
pytest.importorskip("locust")

from locust.stats import RequestStats  # noqa: E402

from loadtests import report, slo  # noqa: E402

if _SET_HERE:
    del os.environ["LOCUST_SKIP_MONKEY_PATCH"]

MB = report.MB


def busy_stats() -> RequestStats:
    stats = RequestStats()
    for ms in (10, 20, 30):
        stats.log_request("GET", "/conns", ms, 100)
    stats.log_request("WORKFLOW", "workflow", 9_000, 1_000_000)
    stats.log_request("INGEST", "bytes", 4_000, 5_000_000)
    stats.log_request("DIFF", "diff bytes", 800, 2_000)
    return stats


def test_http_figures_leave_the_units_of_work_out() -> None:
    stats = busy_stats()
    total = report.http_aggregate(stats)
    assert (total.num_requests, total.max_response_time) == (3, 30)
    assert stats.total.num_requests == 6  # Locust's own "Aggregated" mixes them in

    timeline = report.Timeline()
    for request_type, ms in (("GET", 10), ("POST", 30), ("WORKFLOW", 9_000), ("INGEST", 4_000)):
        timeline.record(2_000.5, request_type, ms, failed=False)
    timeline.record(2_001.5, "DIFF", 800, failed=True)
    (point,) = timeline.series(origin=2_000.0)
    assert (point.rps, point.failures_per_s, point.p95_ms) == (2.0, 0.0, 30)


def test_a_worker_timeline_merges_into_the_master_one() -> None:
    worker, master = report.Timeline(), report.Timeline()
    worker.record(10.2, "GET", 40, failed=True)
    master.record(10.7, "GET", 20, failed=False)
    master.merge(worker.drain())
    assert worker.buckets == {}
    (point,) = master.series()
    assert (point.rps, point.failures_per_s, point.p50_ms) == (2.0, 1.0, 20)


def test_rss_growth_is_measured_from_a_sample_taken_after_the_warm_up() -> None:
    # Traces generated before the load (65 -> 400 MB), caches filling in the first seconds of load,
    # then a steady state: growth measured from the very first samples would read +700 %.
    samples = [(0.0, 65 * MB), (2.0, 66 * MB), (4.0, 400 * MB), (6.0, 500 * MB), (8.0, 540 * MB)]
    samples += [(8.0 + 2 * i, (550 + i) * MB) for i in range(1, 20)]
    memory = report.rss_summary(samples, load_start_s=5.0, warmup_s=10.0)
    assert memory is not None
    assert memory.baseline_s is not None and memory.baseline_s >= 10.0
    assert memory.growth_pct is not None and 0 < memory.growth_pct < 5
    assert (memory.start_mb, memory.load_start_mb, memory.end_mb) == (65, 500, 569)
    assert "growth after warm-up +" in memory.line()


def test_a_run_shorter_than_the_warm_up_still_measures_its_second_half() -> None:
    samples = [(float(t), (100 + t) * MB) for t in range(11)]
    memory = report.rss_summary(samples, load_start_s=2.0, warmup_s=60.0)
    assert memory is not None and memory.baseline_s == 4.0  # half of the 8 s of load
    assert report.rss_summary(samples[:1], load_start_s=0.0, warmup_s=1.0) is None


def test_the_page_holds_the_verdict_table_settings_and_plots_and_nothing_to_fetch() -> None:
    stats = busy_stats()
    verdicts = slo.evaluate(stats, {"slo_p95_workflow_s": 5.0}, ran={"EvidenceWorkflowUser"})
    timeline = report.Timeline()
    for second in range(5):
        timeline.record(100.0 + second, "GET", 10 + second, failed=False)
    samples = [(float(t), (80 + t) * MB) for t in range(10)]
    page = report.render_summary(
        verdicts=verdicts,
        figures=slo.custom_metrics(stats),
        settings=[("scenario", "baseline"), ("users / spawn rate", "12 / 12 per s")],
        stats=stats,
        timeline=timeline.series(origin=100.0),
        rss=[(t - 3, b / MB) for t, b in samples],
        memory=report.rss_summary(samples, load_start_s=3.0, warmup_s=2.0),
    )
    table = re.search(r'<table id="slo-verdict">(.*?)</table>', page, re.S)
    assert table is not None
    rows = re.findall(r'<tr class="(met|missed)"><td class="status">(\w+)</td><td>(\w+)</td>', table.group(1))
    assert ("missed", "MISSED", "slo_p95_workflow_s") in rows  # 9 s > 5 s
    assert ("met", "met", "slo_failure_ratio") in rows
    assert "FAILED" in page and "baseline" in page
    assert re.search(r"<td>Aggregated \(HTTP\)</td><td>3</td>", page)
    assert page.count("<svg") == 3 and "growth measured from here" in page
    assert "<script" not in page and 'src="' not in page and "<link" not in page


@pytest.mark.parametrize(
    ("html", "csv", "expected"),
    [
        ("reports/loadtest.html", "reports/loadtest", "reports/loadtest-summary.html"),
        (None, "x/lt", "x/lt-summary.html"),
    ],
)
def test_the_summary_sits_beside_locusts_report(html: str | None, csv: str, expected: str) -> None:
    class Options:
        summary_html = ""
        html_file = html
        csv_prefix = csv

    assert str(report.summary_path(Options())) == expected
