"""The load-test summary page: SLO verdicts, scenario and settings, route figures and plots in one HTML file.

``make loadtest`` writes it beside Locust's own report (``--html reports/loadtest.html`` gives
``reports/loadtest-summary.html``; ``--summary-html`` names another file). It is self-contained: inline CSS
and SVG charts (:mod:`loadtests.charts`), no JavaScript, so a headless browser screenshots it as is
(``make loadtest-screenshot``).

Locust's "Aggregated" row adds the locustfile's custom events (``WORKFLOW``, ``INGEST``, ``DIFF``,
``POLL``: units of work lasting many requests) to the HTTP requests; here the HTTP aggregate and the
throughput and latency plots count HTTP requests only, and units of work get their own table. The
timeline comes from Locust's ``request`` event, bucketed per second (workers send theirs to the master).

>>> timeline = Timeline()
>>> for ms in (10, 20, 30, 400):
...     timeline.record(1000.2, "GET", ms, failed=False)
>>> timeline.record(1000.5, "WORKFLOW", 5000, failed=False)  # a unit of work: not an HTTP request
>>> [(p.rps, p.p50_ms, p.p95_ms) for p in timeline.series(origin=1000.0)]
[(4.0, 20, 400)]
"""

from __future__ import annotations

import math
import platform
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from locust import __version__ as locust_version
from locust import events
from locust.runners import WorkerRunner
from locust.stats import RequestStats, StatsEntry

from loadtests import slo
from loadtests.charts import line_chart

MB = 1 << 20


def bucket_ms(ms: float) -> int:
    """Round a response time as Locust does (two significant digits past 100 ms), to keep buckets small.

    >>> bucket_ms(147), bucket_ms(3432), bucket_ms(58760)
    (150, 3400, 59000)
    """
    if ms < 100:
        return round(ms)
    digits: int = 10 ** (len(str(int(ms))) - 2)
    return int(round(ms / digits) * digits)


def percentile(times: Counter[int], p: float) -> int:
    """The ``p`` (0..1) percentile of bucketed response times (0 when there are none)."""
    total = sum(times.values())
    target, seen = p * total, 0
    for ms in sorted(times):
        seen += times[ms]
        if seen >= target:
            return ms
    return 0


@dataclass
class Bucket:
    """HTTP requests that ended within one second."""

    count: int = 0
    failures: int = 0
    times: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class TimelinePoint:
    """One window of the timeline: seconds since the origin (window start), rates and percentiles."""

    t: float
    rps: float
    failures_per_s: float
    p50_ms: int
    p95_ms: int


class Timeline:
    """HTTP requests per second of wall time; custom events (``slo.CUSTOM_TYPES``) are left out."""

    def __init__(self) -> None:
        self.buckets: dict[int, Bucket] = {}
        self.started_at: float | None = None  # when the load started (Locust's test_start)

    def record(self, when: float, request_type: str, response_time_ms: float | None, failed: bool) -> None:
        if request_type in slo.CUSTOM_TYPES:
            return
        bucket = self.buckets.setdefault(int(when), Bucket())
        bucket.count += 1
        bucket.failures += failed
        if response_time_ms is not None:
            bucket.times[bucket_ms(response_time_ms)] += 1

    def drain(self) -> list[list[Any]]:
        """The buckets as plain lists (what a worker sends to the master), emptied here."""
        wire = [[s, b.count, b.failures, list(b.times.items())] for s, b in sorted(self.buckets.items())]
        self.buckets.clear()
        return wire

    def merge(self, wire: Iterable[Sequence[Any]]) -> None:
        for second, count, failures, times in wire:
            bucket = self.buckets.setdefault(int(second), Bucket())
            bucket.count += int(count)
            bucket.failures += int(failures)
            bucket.times.update({int(ms): int(n) for ms, n in times})

    def series(self, origin: float | None = None, max_points: int = 120) -> list[TimelinePoint]:
        """Windows of whole seconds (wider on long runs, at most ``max_points``) from ``origin`` on."""
        if not self.buckets:
            return []
        last = max(self.buckets)
        start = min(self.buckets) if origin is None else int(origin)  # windows of whole seconds
        step = max(1, math.ceil((last - start + 1) / max_points))
        points = []
        for window in range(start, last + 1, step):
            merged = Bucket()
            for second in range(window, window + step):
                b = self.buckets.get(second)
                if b is not None:
                    merged.count += b.count
                    merged.failures += b.failures
                    merged.times.update(b.times)
            points.append(
                TimelinePoint(
                    t=float(window - start),
                    rps=merged.count / step,
                    failures_per_s=merged.failures / step,
                    p50_ms=percentile(merged.times, 0.5),
                    p95_ms=percentile(merged.times, 0.95),
                )
            )
        return points


TIMELINE = Timeline()  # this process's; the master's also holds what its workers sent


# --------------------------------------------------------------------------- simulator memory


@dataclass(frozen=True)
class RssSummary:
    """Simulator RSS through a run; growth is measured from a sample taken once the warm-up is over.

    The warm-up is the trace generation before the load (``--working-set``) plus the first
    ``warmup_s`` of load (connections, caches and allocator arenas fill up then).
    """

    start_mb: float
    load_start_mb: float
    baseline_s: float | None  # seconds since the load started; None: no sample after the warm-up
    baseline_mb: float | None
    peak_mb: float
    end_mb: float
    span_s: float  # from the baseline sample to the last one

    @property
    def growth_pct(self) -> float | None:
        if self.baseline_mb is None:
            return None
        return (self.end_mb - self.baseline_mb) / self.baseline_mb * 100

    def line(self) -> str:
        """One line, in time order: start, load start, after warm-up, peak, end; then the growth."""
        warm = (
            "after warm-up: no sample (the run ended within the warm-up)"
            if self.baseline_s is None
            else f"after warm-up ({self.baseline_s:.0f} s into the load) {self.baseline_mb:.1f} MB"
        )
        growth = (
            "growth after warm-up not measured"
            if self.growth_pct is None
            else f"growth after warm-up {self.growth_pct:+.1f}% over {self.span_s:.0f} s"
        )
        return (
            f"simulator RSS: start {self.start_mb:.1f} MB, at load start {self.load_start_mb:.1f} MB, {warm},"
            f" peak {self.peak_mb:.1f} MB, end {self.end_mb:.1f} MB; {growth}"
        )


def rss_summary(
    samples: Sequence[tuple[float, int]], load_start_s: float, warmup_s: float
) -> RssSummary | None:
    """Summarize (seconds since the simulator started, RSS bytes) samples; None with fewer than two.

    The baseline is the first sample at least ``warmup_s`` into the load (at most half the load, so a
    short run still has one), never the last sample: growth is then measured over a real stretch.

    >>> samples = [(0, 60 * MB), (5, 200 * MB), (10, 300 * MB), (20, 310 * MB), (30, 316 * MB)]
    >>> s = rss_summary(samples, load_start_s=5, warmup_s=5)
    >>> s.baseline_s, s.baseline_mb, round(s.growth_pct, 1)
    (5.0, 300.0, 5.3)
    """
    if len(samples) < 2:
        return None
    end_t, end_b = samples[-1]
    at_load = next((b for t, b in samples if t >= load_start_s), end_b)
    warm = min(warmup_s, max(0.0, (end_t - load_start_s) / 2))
    baseline = next(((t, b) for t, b in samples[:-1] if t >= load_start_s + warm), None)
    return RssSummary(
        start_mb=samples[0][1] / MB,
        load_start_mb=at_load / MB,
        baseline_s=None if baseline is None else float(baseline[0] - load_start_s),
        baseline_mb=None if baseline is None else baseline[1] / MB,
        peak_mb=max(b for _, b in samples) / MB,
        end_mb=end_b / MB,
        span_s=0.0 if baseline is None else float(end_t - baseline[0]),
    )


# --------------------------------------------------------------------------- stats tables


def http_entries(stats: RequestStats) -> list[StatsEntry]:
    """Per-route entries of real HTTP requests, sorted by name then method."""
    entries = [e for (_, method), e in stats.entries.items() if method not in slo.CUSTOM_TYPES]
    return sorted(entries, key=lambda e: (e.name, e.method))


def work_entries(stats: RequestStats) -> list[StatsEntry]:
    """Entries of the custom events (workflows, ingestions, diffs): units of work, not requests."""
    entries = [e for (_, method), e in stats.entries.items() if method in slo.CUSTOM_TYPES]
    return sorted(entries, key=lambda e: (e.method, e.name))


def http_aggregate(stats: RequestStats) -> StatsEntry:
    """Locust's "Aggregated" row over HTTP requests only.

    >>> stats = RequestStats()
    >>> stats.log_request("GET", "/conns", 20, 100)
    >>> stats.log_request("WORKFLOW", "workflow", 9000, 0)
    >>> http_aggregate(stats).num_requests, stats.total.num_requests
    (1, 2)
    """
    total = StatsEntry(stats, "Aggregated (HTTP)", "", use_response_times_cache=False)
    for entry in http_entries(stats):
        total.extend(entry)
    return total


def _entry_row(e: StatsEntry, cls: str = "") -> str:
    cells = [
        escape(e.method or ""),
        escape(e.name),
        f"{e.num_requests:,}",
        f"{e.num_failures:,}",
        f"{e.median_response_time:,.0f}" if e.num_requests else "",
        f"{e.get_response_time_percentile(0.95):,.0f}" if e.num_requests else "",
        f"{e.max_response_time:,.0f}" if e.num_requests else "",
        f"{e.total_rps:,.2f}",
    ]
    attr = f' class="{cls}"' if cls else ""
    return f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


_ENTRY_HEAD = (
    "<tr><th>Type</th><th>Name</th><th>Count</th><th>Failures</th><th>Median ms</th><th>p95 ms</th>"
    "<th>Max ms</th><th>Per s</th></tr>"
)


# --------------------------------------------------------------------------- the page


def verdict_table(verdicts: Sequence[slo.Verdict], figures: dict[str, float]) -> str:
    rows = []
    for v in verdicts:
        o = v.objective
        status = "met" if v.met else "MISSED"
        shown = "no data" if v.value is None else f"{v.value:.4g}"
        rows.append(
            f'<tr class="{status.lower()}"><td class="status">{status}</td><td>{escape(o.key)}</td>'
            f"<td>{escape(o.description)}</td><td>{shown}</td>"
            f"<td>{'&le;' if o.upper_bound else '&ge;'}&nbsp;{v.limit:g}</td><td>{escape(o.unit)}</td>"
            f"<td>{escape(v.note)}</td></tr>"
        )
    for name, value in figures.items():
        rows.append(f'<tr class="figure"><td>figure</td><td>{escape(name)}</td><td></td><td>{value:.4g}</td>'
                    "<td></td><td></td><td></td></tr>")  # fmt: skip
    head = (
        "<tr><th>Status</th><th>Objective</th><th>What</th><th>Measured</th><th>Limit</th><th>Unit</th>"
        "<th>Note</th></tr>"
    )
    return f'<table id="slo-verdict">{head}{"".join(rows)}</table>'


def settings_rows(environment: Any) -> list[tuple[str, str]]:
    """What the run was: scenario, load, target and limits (never a token)."""
    o = environment.parsed_options
    runner = environment.runner
    counts = getattr(runner, "final_user_classes_count", None) or {}
    classes = ", ".join(f"{k} × {n}" for k, n in counts.items() if n) or ", ".join(
        c.__name__ for c in environment.user_classes
    )
    started = getattr(o, "start_simulator", False)

    def opt(name: str) -> str:
        return str(getattr(o, name, ""))

    run_time = getattr(o, "run_time", None)
    rows = [
        ("scenario", opt("sim_scenario") if started else "(the server at --host)"),
        ("target", str(environment.host or opt("host"))),
        ("users / spawn rate", f"{opt('num_users')} / {opt('spawn_rate')} per s"),
        ("run time", f"{run_time} s" if run_time else "until stopped"),
        ("user classes", classes),
        ("working set", opt("working_set") if getattr(o, "working_set", 0) else "the whole fleet"),
        ("poll interval / workflow timeout", f"{opt('poll_interval_s')} s / {opt('workflow_timeout_s')} s"),
    ]
    if started:
        serve_args = " ".join(getattr(o, "sim_arg", [])) or "none"
        rows.append(
            (
                "simulator",
                f"{opt('sim_endpoints')} endpoints, seed {opt('sim_seed')}, serve args: {serve_args}",
            )
        )
    limits = ", ".join(f"{x.key} {getattr(o, x.key, x.default):g}" for x in slo.OBJECTIVES)
    rows.append(("SLO limits", limits))
    rows.append(("Locust / Python", f"{locust_version} / {platform.python_version()}"))
    return rows


def render_summary(
    *,
    verdicts: Sequence[slo.Verdict],
    figures: dict[str, float],
    settings: Sequence[tuple[str, str]],
    stats: RequestStats,
    timeline: Sequence[TimelinePoint],
    rss: Sequence[tuple[float, float]] = (),
    memory: RssSummary | None = None,
    generated_at: float = 0.0,
) -> str:
    """The whole page. ``rss``: (seconds since the load started, MB) samples of the simulator."""
    passed = all(v.met for v in verdicts)
    when = datetime.fromtimestamp(generated_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    settings_html = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in settings)
    http = "".join(_entry_row(e) for e in http_entries(stats)) + _entry_row(http_aggregate(stats), "total")
    work = "".join(_entry_row(e) for e in work_entries(stats)) or '<tr><td colspan="8">none</td></tr>'
    throughput = line_chart(
        "HTTP throughput",
        {
            "requests/s": [(p.t, p.rps) for p in timeline],
            "failed/s": [(p.t, p.failures_per_s) for p in timeline],
        },
        y_unit="requests per second",
    )
    latency = line_chart(
        "HTTP response time",
        {"p50": [(p.t, p.p50_ms) for p in timeline], "p95": [(p.t, p.p95_ms) for p in timeline]},
        y_unit="ms",
    )
    markers = [(0.0, "load starts")]
    if memory is not None and memory.baseline_s is not None:
        markers.append((memory.baseline_s, "growth measured from here"))
    memory_chart = line_chart(
        "Simulator RSS", {"RSS": list(rss)}, y_unit="MB", markers=markers if rss else ()
    )
    memory_line = escape(memory.line()) if memory is not None else "no simulator started by this run"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Load test summary</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; max-width: 1000px; }}
h1 .verdict {{ padding: 2px 10px; border-radius: 4px; color: #fff; font-size: 0.8em; }}
.passed {{ background: #2e7d32; }} .failed {{ background: #c62828; }}
table {{ border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
td {{ font-variant-numeric: tabular-nums; }}
tr.met td.status {{ color: #2e7d32; font-weight: bold; }} tr.missed td.status {{ color: #c62828; font-weight: bold; }}
tr.total td {{ font-weight: bold; background: #f4f4f4; }}
.note {{ color: #555; font-size: 13px; }}
</style></head><body>
<h1>Load test summary <span class="verdict {"passed" if passed else "failed"}">{"PASSED" if passed else "FAILED"}</span></h1>
<p class="note">Written {when}. The exit code of the run is this verdict.</p>
<h2>SLO verdict</h2>
{verdict_table(verdicts, figures)}
<h2>Scenario and settings</h2>
<table id="settings">{settings_html}</table>
<h2>HTTP requests</h2>
<p class="note">The aggregate counts HTTP requests only; workflows, ingestions and diffs are in the next table.</p>
<table id="http">{_ENTRY_HEAD}{http}</table>
<h2>Units of work</h2>
<table id="work">{_ENTRY_HEAD}{work}</table>
<h2>Over time</h2>
{throughput}
{latency}
{memory_chart}
<p class="note" id="memory">{memory_line}</p>
</body></html>
"""  # noqa: E501


def summary_path(options: Any) -> Path | None:
    """Where the summary goes: ``--summary-html``, else beside ``--html`` (or the ``--csv`` prefix)."""
    explicit = getattr(options, "summary_html", "")
    if explicit:
        return Path(explicit)
    html = getattr(options, "html_file", None)
    if html:
        path = Path(html)
        return path.with_name(path.name.removesuffix(".html") + "-summary.html")
    prefix = getattr(options, "csv_prefix", None)
    return Path(f"{prefix}-summary.html") if prefix else None


def write_summary(
    environment: Any, rss: Sequence[tuple[float, float]] = (), memory: RssSummary | None = None
) -> Path | None:
    """Write the summary of a finished run (master or local process only); returns its path."""
    if isinstance(environment.runner, WorkerRunner) or environment.runner is None:
        return None
    path = summary_path(environment.parsed_options)
    if path is None:
        return None
    page = render_summary(
        verdicts=slo.run_verdicts(environment),
        figures=slo.custom_metrics(environment.stats),
        settings=settings_rows(environment),
        stats=environment.stats,
        timeline=TIMELINE.series(TIMELINE.started_at),
        rss=rss,
        memory=memory,
        generated_at=time.time(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- Locust hooks


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--summary-html",
        default="",
        include_in_web_ui=False,
        help="write the summary page here (default: beside --html, NAME-summary.html)",
    )


@events.request.add_listener
def _on_request(request_type: str, response_time: float | None, exception: Any = None, **_: Any) -> None:
    TIMELINE.record(time.time(), request_type, response_time, failed=exception is not None)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        TIMELINE.started_at = time.time()


@events.report_to_master.add_listener
def _send_timeline(client_id: str, data: dict[str, Any]) -> None:
    data["timeline"] = TIMELINE.drain()


@events.worker_report.add_listener
def _receive_timeline(client_id: str, data: dict[str, Any]) -> None:
    TIMELINE.merge(data.get("timeline") or [])


__all__ = [
    "TIMELINE",
    "RssSummary",
    "Timeline",
    "http_aggregate",
    "render_summary",
    "rss_summary",
    "summary_path",
    "write_summary",
]
