"""Service-level objectives for load tests, declared in one place, deciding Locust's exit code.

A load test that misses an objective must fail the CI job that ran it, so at the end of the run (Locust's
``quitting`` event, on the master or the single local process) every objective is measured from the
aggregated stats, a verdict table is printed, and ``environment.process_exit_code`` becomes 1 when any
objective is missed (0 otherwise). Limits are overridable per run, from the command line or the
environment (``--slo-p95-workflow-s 5`` or ``LOCUST_SLO_P95_WORKFLOW_S=5``).

The measures come from the custom events the locustfile fires:

* ``WORKFLOW workflow``: one per completed evidence workflow, its total time as the response time;
* ``INGEST bytes`` / ``INGEST records``: one per ingested trace, the time spent downloading and reading it
  as the response time and the bytes (or records) as the response length.

>>> [objective.option for objective in OBJECTIVES]
['--slo-p95-workflow-s', '--slo-failure-ratio', '--slo-ingest-mb-s']
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from locust import events
from locust.runners import WorkerRunner
from locust.stats import RequestStats

log = logging.getLogger("loadtests.slo")

WORKFLOW = ("workflow", "WORKFLOW")  # (name, request type) of completed workflows
INGEST_BYTES = ("bytes", "INGEST")
INGEST_RECORDS = ("records", "INGEST")
CUSTOM_TYPES = ("WORKFLOW", "INGEST", "POLL", "DIFF")  # custom events: units of work, not HTTP requests


def _p95_workflow_s(stats: RequestStats) -> float | None:
    entry = stats.entries.get(WORKFLOW)
    if entry is None or entry.num_requests == 0:
        return None
    return float(entry.get_response_time_percentile(0.95)) / 1000


def _failure_ratio(stats: RequestStats) -> float | None:
    """The worst of: failed workflows, failed ingestions, failed HTTP requests (each over its own kind).

    A failed task fails a workflow without failing any request, so requests alone would hide it.
    """
    ok: dict[str, int] = {}
    failed: dict[str, int] = {}
    for (name, method), entry in stats.entries.items():
        if (name, method) == INGEST_RECORDS:
            continue  # the same ingestions as INGEST_BYTES
        kind = method if method in CUSTOM_TYPES else "requests"
        ok[kind] = ok.get(kind, 0) + entry.num_requests
        failed[kind] = failed.get(kind, 0) + entry.num_failures
    ratios = [failed[k] / n for k, n in ok.items() if n]
    return max(ratios) if ratios else None


def _ingest_mb_s(stats: RequestStats) -> float | None:
    entry = stats.entries.get(INGEST_BYTES)
    if entry is None or entry.num_requests == 0 or entry.total_response_time <= 0:
        return None
    return rate_per_s(entry.total_content_length, entry.total_response_time) / 1e6


def rate_per_s(amount: float, total_ms: float) -> float:
    """Amount per second of time spent on it (Locust response times are milliseconds).

    >>> rate_per_s(10_000_000, 2_000)
    5000000.0
    """
    return amount / (total_ms / 1000) if total_ms > 0 else 0.0


@dataclass(frozen=True)
class Objective:
    """One SLO: a measure from the stats, a limit, and which user class has to produce the data.

    ``needs`` names the user class whose data the measure uses: when that class ran but produced no
    data (no workflow ever completed), the objective is missed; when it did not run, it is skipped.
    """

    key: str  # argparse dest, e.g. slo_p95_workflow_s
    description: str
    unit: str
    default: float
    upper_bound: bool  # True: the measure must stay <= limit; False: >= limit
    measure: Callable[[RequestStats], float | None]
    needs: str | None = None

    @property
    def option(self) -> str:
        return "--" + self.key.replace("_", "-")


OBJECTIVES: tuple[Objective, ...] = (
    Objective(
        "slo_p95_workflow_s",
        "95th percentile of the complete evidence workflow time",
        "s",
        5.0,
        True,
        _p95_workflow_s,
        needs="EvidenceWorkflowUser",
    ),
    Objective(
        "slo_failure_ratio",
        "worst failure ratio of workflows, ingestions and HTTP requests",
        "",
        0.01,
        True,
        _failure_ratio,
    ),
    Objective(
        "slo_ingest_mb_s",
        "download + read rate of one ingestion stream (MB of zip per second)",
        "MB/s",
        2.0,
        False,
        _ingest_mb_s,
        needs="IngestionUser",
    ),
)


@dataclass(frozen=True)
class Verdict:
    """How one objective fared."""

    objective: Objective
    limit: float
    value: float | None
    met: bool
    note: str = ""

    def line(self) -> str:
        o = self.objective
        sign = "<=" if o.upper_bound else ">="
        shown = "no data" if self.value is None else f"{self.value:.4g}"
        status = "met" if self.met else "MISSED"
        return f"{status:6} {o.key:22} {shown:>10} {sign} {self.limit:<8g} {o.unit:5} {self.note}".rstrip()


def evaluate(stats: RequestStats, limits: dict[str, float], ran: set[str] | None = None) -> list[Verdict]:
    """Measure every objective. ``ran`` is the set of user class names in the run (None: all of them).

    >>> [v.met for v in evaluate(RequestStats(), {"slo_ingest_mb_s": 1.0}, ran=set())]
    [True, True, True]
    """
    verdicts = []
    for objective in OBJECTIVES:
        limit = float(limits.get(objective.key, objective.default))
        value = objective.measure(stats)
        if value is None:
            needed = objective.needs is not None and (ran is None or objective.needs in ran)
            note = f"{objective.needs} ran but produced no data" if needed else "not measured in this run"
            verdicts.append(Verdict(objective, limit, None, not needed, note))
            continue
        met = value <= limit if objective.upper_bound else value >= limit
        verdicts.append(Verdict(objective, limit, value, met))
    return verdicts


def custom_metrics(stats: RequestStats) -> dict[str, float]:
    """The derived figures the reports do not show directly (ingestion MB/s and records/s).

    >>> custom_metrics(RequestStats())
    {}
    """
    figures: dict[str, float] = {}
    entry = stats.entries.get(INGEST_BYTES)
    if entry is not None and entry.num_requests:
        figures["ingest_mb_s_per_stream"] = (
            rate_per_s(entry.total_content_length, entry.total_response_time) / 1e6
        )
        span = (entry.last_request_timestamp or 0) - stats.total.start_time
        if span > 0:
            figures["ingest_mb_s_total"] = entry.total_content_length / span / 1e6
    records = stats.entries.get(INGEST_RECORDS)
    if records is not None and records.num_requests:
        figures["ingest_records_s_per_stream"] = rate_per_s(
            records.total_content_length, records.total_response_time
        )
    workflow = stats.entries.get(WORKFLOW)
    if workflow is not None and workflow.num_requests:
        figures["workflows_per_s"] = workflow.total_rps
        figures["workflow_p50_s"] = float(workflow.get_response_time_percentile(0.5)) / 1000
    return figures


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    for objective in OBJECTIVES:
        parser.add_argument(
            objective.option,
            dest=objective.key,
            type=float,
            default=objective.default,
            env_var="LOCUST_" + objective.key.upper(),
            help=f"{objective.description} ({'max' if objective.upper_bound else 'min'}, "
            f"{objective.unit or 'ratio'}; default {objective.default:g})",
        )


def run_verdicts(environment: Any) -> list[Verdict]:
    """The verdicts of a finished run: its stats, the limits of its options, the user classes that ran.

    The quitting listener below prints them and sets the exit code; ``loadtests/report.py`` tabulates them.
    """
    options = environment.parsed_options
    limits = {o.key: getattr(options, o.key, o.default) for o in OBJECTIVES}
    ran = {cls.__name__ for cls in environment.user_classes}
    if environment.runner is not None and environment.runner.final_user_classes_count:
        ran = {name for name, n in environment.runner.final_user_classes_count.items() if n > 0}
    return evaluate(environment.stats, limits, ran)


@events.quitting.add_listener
def _verdict(environment: Any, **_kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.runner is None:
        return  # the master holds the aggregated stats and decides
    verdicts = run_verdicts(environment)
    lines = [v.line() for v in verdicts]
    for name, value in custom_metrics(environment.stats).items():
        lines.append(f"{'figure':6} {name:22} {value:>10.4g}")
    log.info("SLO verdict:\n%s", "\n".join(lines))
    missed = [v.objective.key for v in verdicts if not v.met]
    if missed:
        log.error("SLO missed: %s", ", ".join(missed))
        environment.process_exit_code = 1
    elif environment.process_exit_code is None:
        environment.process_exit_code = 0
