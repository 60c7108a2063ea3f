"""Questions and their results: counters that grow as endpoints answer, rows grouped with a Count column.

A question stores only what was asked and when. Each online endpoint answers once, at
``asked_at + answer_delay_s + jitter`` (seeded per question and endpoint), with the values its sensors
give at that instant through the endpoint cache (:class:`~simulator.platform.sensors.SensorEvaluator`).
Reading ``result_info``/``result_data`` computes the set at ``now``: nothing runs in the background.
Offline endpoints never answer; with no from-clause they show as one ``[current results unavailable]``
row, like endpoints that have not answered yet (with a from-clause nobody knows whether they match).

>>> engine.results(record, clock.now()).info()["mr_tested"]  # doctest: +SKIP
12
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simulator.clock import iso_ms
from simulator.platform.query import Filter, Group, QuerySpec
from simulator.platform.sensors import NO_RESULTS, UNAVAILABLE, SensorEvaluator
from simulator.platform.timing import PlatformTiming
from simulator.state.fleet import Endpoint, Fleet, stable_fraction, stable_hash

TABLE = "platform_questions"
TEXT, NUMERIC = 1, 3
COUNT_COLUMN = {"hash": 0, "name": "Count", "type": NUMERIC}


@dataclass(frozen=True)
class QuestionRecord:
    """One asked question, as stored."""

    id: int
    spec: QuerySpec
    asked_at: float
    expire_seconds: int = 600
    context_group: dict[str, Any] | None = None

    @property
    def expiration(self) -> float:
        return self.asked_at + self.expire_seconds

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "query_text": self.spec.text(),
            "selects": [s.to_api() for s in self.spec.selects],
            "expire_seconds": self.expire_seconds,
            "expiration": iso_ms(self.expiration),
            "force_computer_id_flag": False,
            "hidden_flag": False,
            "is_expired": False,
            "management_rights_group": {"id": 0},
            "saved_question": {"id": 0},
            "skip_lock_flag": False,
            "user": {"id": 1, "name": "admin"},
            "context_group": self.context_group or {"id": 0},
        }
        if self.spec.group is not None:
            body["group"] = self.spec.group.to_api()
        return body


def tanium_now(seconds: float) -> str:
    """The ``now`` field of result data: ``2026/11/21 00:00:00 GMT-0000``."""
    return iso_ms(seconds)[:19].replace("-", "/").replace("T", " ") + " GMT-0000"


@dataclass(frozen=True)
class QuestionResults:
    """A question's result set at one instant."""

    record: QuestionRecord
    now: float
    estimated_total: int
    tested: int
    passed: int
    no_results: int
    rows: list[tuple[tuple[str, ...], int, str]]  # (values, count, first computer id)

    def info(self) -> dict[str, Any]:
        return {
            "id": self.record.id,
            "question_id": self.record.id,
            "age": 0,
            "estimated_total": self.estimated_total,
            "mr_tested": self.tested,
            "mr_passed": self.passed,
            "tested": self.tested,
            "passed": self.passed,
            "row_count": len(self.rows),
            "no_results_count": self.no_results,
            "error_count": 0,
            "report_count": self.tested,
            "saved_question_id": 0,
            "expire_seconds": self.record.expire_seconds,
            "expiration": math.floor(self.record.expiration),  # an integer: epoch seconds (INFERRED unit)
            "issue_seconds": 0,
            "select_count": len(self.record.spec.selects),
        }

    def result_set(self, row_start: int = 0, row_count: int | None = None) -> dict[str, Any]:
        body = self.info()
        if self.tested == 0 and not self.rows:
            return body  # early polls: counters only, no columns or rows yet
        columns = [
            {
                "hash": s.ref.hash,
                "name": s.ref.display_name,
                "type": NUMERIC if s.ref.sensor.value_type == "Numeric" else TEXT,
            }
            for s in self.record.spec.selects
        ]
        body["columns"] = [*columns, COUNT_COLUMN]
        stop = None if row_count is None else row_start + row_count
        body["rows"] = [
            {
                "id": stable_hash("row", *values) & 0xFFFFFFFF,
                "cid": cid,
                "data": [[{"text": v}] for v in values] + [[{"text": str(count)}]],
            }
            for values, count, cid in self.rows[row_start:stop]
        ]
        return body


class QuestionEngine:
    """Computes result sets from question records, the fleet and the sensors."""

    def __init__(self, seed: int, fleet: Fleet, sensors: SensorEvaluator, timing: PlatformTiming) -> None:
        self.seed = seed
        self.fleet = fleet
        self.sensors = sensors
        self.timing = timing

    def answer_at(self, record: QuestionRecord, endpoint: Endpoint) -> float:
        jitter = stable_fraction(self.seed, "answer", record.id, endpoint.index) * self.timing.answer_jitter_s
        return record.asked_at + self.timing.answer_delay_s + jitter

    def _answers(self, record: QuestionRecord, now: float) -> Iterator[tuple[Endpoint, float | None]]:
        for endpoint in self.fleet:
            if not endpoint.online:
                yield endpoint, None
                continue
            at = self.answer_at(record, endpoint)
            yield endpoint, (at if at <= now else None)

    def _passes(self, group: Group, endpoint: Endpoint, at: float) -> bool:
        """The from-clause, evaluated on the endpoint with the answers it gives at ``at``."""

        def test(f: Filter) -> bool:
            return f.matches(self.sensors.answer(f.ref, endpoint, at, f.max_age_seconds))

        return group.evaluate(test)

    def results(self, record: QuestionRecord, now: float) -> QuestionResults:
        spec = record.spec
        groups: dict[tuple[str, ...], list[Any]] = {}
        total = tested = passed = no_results = waiting = 0
        first_waiting = ""
        for endpoint, at in self._answers(record, now):
            total += endpoint.online
            if at is None:
                waiting += 1
                first_waiting = first_waiting or endpoint.client_id
                continue
            tested += 1
            if spec.group is not None and not self._passes(spec.group, endpoint, at):
                continue
            passed += 1
            values = []
            for select in spec.selects:
                value = self.sensors.answer(select.ref, endpoint, at, select.max_age_seconds)
                if select.condition is not None and not select.condition.matches(value):
                    value = NO_RESULTS
                values.append(value)
            no_results += NO_RESULTS in values
            key = tuple(values)
            if key in groups:
                groups[key][0] += 1
            else:
                groups[key] = [1, endpoint.client_id]
        rows = [(values, count, cid) for values, (count, cid) in groups.items()]
        if spec.group is None and waiting and tested:
            rows.append(((UNAVAILABLE,) * len(spec.selects), waiting, first_waiting))
        return QuestionResults(record, now, total, tested, passed, no_results, rows)


__all__ = ["COUNT_COLUMN", "TABLE", "QuestionEngine", "QuestionRecord", "QuestionResults", "tanium_now"]
