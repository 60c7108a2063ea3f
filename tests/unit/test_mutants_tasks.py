"""Tests that kill mutmut's survivors in simulator/state/tasks.py (docs/testing.md).

A download task's status over time or over polls (with intermediate steps), the vendor object at
each outcome, and the retention that forgets the oldest-finished tasks in batches.
"""

from __future__ import annotations

import math

from simulator.state.store import MemoryStore
from simulator.state.tasks import (
    EVIDENCE_DIR,
    TABLE,
    TMP_DIR,
    TaskRecord,
    TaskRetention,
    finished_to_forget,
)


def _task(
    id: int = 5,
    *,
    created: float = 100.0,
    duration: float = 2.0,
    outcome: str = "COMPLETED",
    error: str | None = None,
    evidence: str | None = "uuid-1",
    total: int = 3000,
    polls_needed: int = 0,
    polls: int = 0,
    done_at: float | None = None,
    intermediate: tuple[str, ...] = (),
) -> TaskRecord:
    return TaskRecord(
        id, "conn-1", "42", "web-a-01", "/opt/x.gz", created, duration, outcome, error, evidence, total,
        "hash-1", polls_needed, polls, done_at, intermediate,
    )  # fmt: skip


def test_a_timed_task_is_started_until_its_duration_has_passed() -> None:
    task = _task()
    assert task.ends_at == 102.0
    assert task.status_at(100.0) == "STARTED"
    assert task.status_at(101.999) == "STARTED"
    assert task.status_at(102.0) == "COMPLETED"
    assert _task(outcome="ERROR").status_at(102.0) == "ERROR"


def test_intermediate_statuses_follow_the_elapsed_share() -> None:
    task = _task(duration=3.0, intermediate=("QUEUED", "RUNNING"))
    assert task.status_at(100.0) == "STARTED"
    assert task.status_at(100.999) == "STARTED"
    assert task.status_at(101.0) == "QUEUED"
    assert task.status_at(102.0) == "RUNNING"
    assert task.status_at(102.999) == "RUNNING"
    assert task.status_at(103.0) == "COMPLETED"
    assert task.status_at(99.0) == "STARTED"  # before its creation: the first step
    zero = _task(duration=0.0, intermediate=("QUEUED",))
    assert zero.status_at(100.0) == "COMPLETED"
    assert zero.status_at(99.0) == "QUEUED"  # no duration: all the way through


def test_a_poll_driven_task_advances_by_polls() -> None:
    task = _task(polls_needed=3, intermediate=("QUEUED", "RUNNING"))
    assert task.ends_at == math.inf
    assert task.status_at(1e12) == "STARTED"
    one = task.polled(200.0)
    assert (one.polls, one.done_at) == (1, None)
    assert one.status_at(200.0) == "QUEUED"
    two = one.polled(201.0)
    assert (two.polls, two.done_at) == (2, None)
    assert two.status_at(201.0) == "RUNNING"
    three = two.polled(202.0)
    assert (three.polls, three.done_at) == (3, 202.0)
    assert three.ends_at == 202.0
    assert three.status_at(201.9) == "RUNNING"
    assert three.status_at(202.0) == "COMPLETED"
    assert three.polled(300.0) is three  # done: more polls change nothing
    timed = _task()
    assert timed.polled(101.0) is timed


def test_a_single_poll_task_finishes_on_its_first_poll() -> None:
    task = _task(polls_needed=1).polled(150.0)
    assert (task.polls, task.done_at, task.status_at(150.0)) == (1, 150.0, "COMPLETED")


def test_task_info_and_metadata() -> None:
    task = _task()
    assert task.metadata() == {"connection": "conn-1", "paths": ["/opt/x.gz"], "compress": "true"}
    assert task.task_info() == {
        "id": 5,
        "status": "STARTED",
        "metadata": {"connection": "conn-1", "paths": ["/opt/x.gz"], "compress": "true"},
        "startTime": "1970-01-01T00:01:40.000Z",
    }


def test_a_running_task() -> None:
    assert _task().to_api(101.0) == {
        "id": 5,
        "type": "fileDownload",
        "status": "STARTED",
        "metadata": {"connection": "conn-1", "paths": ["/opt/x.gz"], "compress": "true"},
        "results": {"completed": [], "failed": [], "fileResults": []},
        "error": None,
        "startTime": "1970-01-01T00:01:40.000Z",
        "endTime": None,
        "createdAt": "1970-01-01T00:01:40.000Z",
        "updatedAt": "1970-01-01T00:01:40.000Z",
    }


def test_a_completed_task_names_its_evidence() -> None:
    body = _task(duration=2.5).to_api(200.0)
    assert body["status"] == "COMPLETED"
    assert body["results"] == {
        "completed": ["/opt/x.gz"],
        "failed": [],
        "fileResults": [
            {
                "response": {
                    "source": "/opt/x.gz",
                    "target": f"{TMP_DIR}/uuid-1",
                    "totalBytes": 3000,
                    "transferHash": "hash-1",
                    "totalTimeMs": 2500,
                    "avgBytesPerSecond": 1200.0,
                },
                "uuid": "uuid-1",
                "finalPath": f"{EVIDENCE_DIR}/uuid-1.zip",
            }
        ],
    }
    assert TMP_DIR == "/opt/Tanium/TaniumModuleServer/services/threat-response-files/tmp"
    assert EVIDENCE_DIR == "/opt/Tanium/TaniumModuleServer/services/threat-response-files/evidence/files"
    assert body["error"] is None
    assert body["endTime"] == body["updatedAt"] == "1970-01-01T00:01:42.500Z"
    assert body["startTime"] == body["createdAt"] == "1970-01-01T00:01:40.000Z"


def test_transfer_time_is_at_least_a_millisecond_and_the_rate_is_rounded() -> None:
    instant = _task(duration=0.0, total=10).to_api(100.0)["results"]["fileResults"][0]["response"]
    assert (instant["totalTimeMs"], instant["avgBytesPerSecond"]) == (1, 10000.0)
    odd = _task(duration=3.0, total=1000).to_api(200.0)["results"]["fileResults"][0]["response"]
    assert (odd["totalTimeMs"], odd["avgBytesPerSecond"]) == (3000, 333.33)
    polled = _task(polls_needed=1, total=500).polled(100.25).to_api(100.25)
    assert polled["results"]["fileResults"][0]["response"]["totalTimeMs"] == 250


def test_failed_outcomes_list_the_path_as_failed() -> None:
    error = _task(outcome="ERROR", error="disk full").to_api(200.0)
    assert error["status"] == "ERROR"
    assert error["results"] == {"completed": [], "failed": ["/opt/x.gz"], "fileResults": []}
    assert error["error"] == "disk full"
    assert error["endTime"] == "1970-01-01T00:01:42.000Z"
    incomplete = _task(outcome="INCOMPLETE", error="ignored").to_api(200.0)
    assert incomplete["results"] == {"completed": [], "failed": ["/opt/x.gz"], "fileResults": []}
    assert incomplete["error"] is None
    no_evidence = _task(evidence=None).to_api(200.0)
    assert no_evidence["results"] == {"completed": [], "failed": ["/opt/x.gz"], "fileResults": []}
    assert _task(outcome="ERROR", error="x").to_api(101.0)["error"] is None  # not yet


def test_finished_to_forget_keeps_the_most_recently_finished() -> None:
    tasks = [_task(i, created=float(i), duration=1.0) for i in range(4)]
    assert [t.id for t in finished_to_forget(tasks, now=3.5, keep=1)] == [0, 1]
    assert [t.id for t in finished_to_forget(tasks, now=10.0, keep=1)] == [0, 1, 2]
    assert finished_to_forget(tasks, now=10.0, keep=4) == []
    assert [t.id for t in finished_to_forget(tasks, now=10.0, keep=3)] == [0]
    assert finished_to_forget(tasks, now=3.5, keep=3) == []
    # Ordered by when they finished, then id; not by creation.
    mixed = [
        _task(1, created=0.0, duration=9.0),
        _task(2, created=5.0, duration=1.0),
        _task(0, created=5.0, duration=1.0),
    ]
    assert [t.id for t in finished_to_forget(mixed, now=20.0, keep=1)] == [0, 2]
    assert [t.id for t in finished_to_forget(mixed, now=20.0, keep=0)] == [0, 2, 1]


def _fill(store: MemoryStore, count: int, *, start: int = 0, finished: bool = True) -> None:
    for i in range(start, start + count):
        duration = 1.0 if finished else 1e9
        store.put(TABLE, str(i), _task(i, created=float(i), duration=duration))


def test_retention_thresholds() -> None:
    assert TaskRetention(0).check_at == 64
    assert TaskRetention(100).check_at == 164
    assert TaskRetention(1000).check_at == 1100
    retention = TaskRetention(1000)
    assert retention._threshold(2000) == 2250
    assert retention._threshold(500) == 1100
    assert (retention.keep, retention.pruned) == (1000, 0)


def test_retention_off_keeps_everything() -> None:
    store = MemoryStore()
    _fill(store, 200)
    assert TaskRetention(0).after_create(store, 1e6) == 0
    assert TaskRetention(-1).after_create(store, 1e6) == 0
    assert store.count(TABLE) == 200


def test_a_pass_runs_once_the_table_reaches_the_threshold() -> None:
    store = MemoryStore()
    retention = TaskRetention(10)
    _fill(store, 73)
    assert retention.after_create(store, 1e6) == 0  # 73 < 74
    assert store.count(TABLE) == 73
    _fill(store, 1, start=73)
    assert retention.after_create(store, 1e6) == 64
    assert store.count(TABLE) == 10
    assert sorted(int(t.id) for t in store.values(TABLE)) == list(range(64, 74))
    assert retention.pruned == 64
    assert retention.check_at == 10 + 64
    _fill(store, 64, start=74)
    assert retention.after_create(store, 1e6) == 64
    assert retention.pruned == 128
    retention.reset()
    assert (retention.pruned, retention.check_at) == (0, 74)


def test_running_tasks_are_never_forgotten() -> None:
    store = MemoryStore()
    retention = TaskRetention(1)
    _fill(store, 70, finished=False)
    assert retention.after_create(store, 100.0) == 0
    assert store.count(TABLE) == 70
    assert retention.pruned == 0
    assert retention.check_at == 70 + 64  # the next pass waits for another slack


def test_the_slack_grows_with_the_table() -> None:
    store = MemoryStore()
    retention = TaskRetention(1)
    _fill(store, 1000, finished=False)
    _fill(store, 10, start=1000)
    assert retention.after_create(store, 1e6) == 9
    assert retention.check_at == 1001 + 1001 // 8


def test_a_sub_second_task_shows_its_steps_in_proportion() -> None:
    task = _task(duration=0.5, intermediate=("QUEUED", "RUNNING"))
    assert [task.status_at(100.0 + t) for t in (0.1, 0.2, 0.4, 0.5)] == [
        "STARTED",
        "QUEUED",
        "RUNNING",
        "COMPLETED",
    ]


def test_thresholds_are_whole_numbers_of_tasks() -> None:
    assert TaskRetention(1005).check_at == 1105  # a tenth of 1005 is 100 tasks, not 100.5
    store = MemoryStore()
    _fill(store, 1105)
    assert TaskRetention(1005).after_create(store, 1e6) == 100


def test_reset_of_an_unbounded_retention() -> None:
    retention = TaskRetention(0)
    retention.check_at = 5
    retention.reset()
    assert retention.check_at == 64
