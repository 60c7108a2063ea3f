"""Fault rules: matching, probability / after / times / every_n / window, per-rule streams; helpers."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from simulator.faults.http import corrupt, error_answer, spoil, truncation_point
from simulator.faults.rules import Fault, FaultRule, RequestInfo, RuleSet
from simulator.faults.spec import SpecError
from simulator.journal import Journal
from simulator.metrics import Metrics

TR = "/plugin/products/threat-response/api/v1"
TASK = RequestInfo("get_task", "GET", f"{TR}/tasks/5", client_id="123", headers={"x-team": "blue"})
CONNS = RequestInfo("list_connections", "GET", f"{TR}/conns", client_id=None)


def rules(*raw: dict[str, Any], seed: int = 1) -> RuleSet:
    return RuleSet.parse(list(raw), seed=seed)


def fires(ruleset: RuleSet, req: RequestInfo, n: int, elapsed: float = 0.0) -> list[bool]:
    return [ruleset.decide(req, elapsed) is not None for _ in range(n)]


RESET = {"type": "reset"}


@pytest.mark.parametrize(
    ("match", "hit"),
    [
        ({"operation": "get_task"}, True),
        ({"operation": ["connect", "get_task"]}, True),
        ({"operation": "connect"}, False),
        ({"method": "get"}, True),
        ({"method": "POST"}, False),
        ({"path": "*/tasks/*"}, True),
        ({"path": "*/conns"}, False),
        ({"path_regex": r"/tasks/\d+$"}, True),
        ({"client_id": "123"}, True),
        ({"client_id": 123}, True),
        ({"client_id": ["9", "8"]}, False),
        ({"header": {"X-Team": "bl*"}}, True),
        ({"header": {"x-team": "red"}}, False),
        ({"header": {"x-other": "*"}}, False),
        ({"operation": "get_task", "client_id": "123", "method": "GET"}, True),
    ],
)
def test_match_fields(match: dict[str, Any], hit: bool) -> None:
    assert fires(rules({"name": "r", "match": match, "fault": RESET}), TASK, 1) == [hit]


def test_first_firing_rule_wins_and_later_rules_do_not_count_the_request() -> None:
    rs = rules(
        {"name": "first", "match": {"operation": "get_task"}, "times": 2, "fault": {"type": "hang"}},
        {"name": "second", "match": {"operation": "get_task"}, "fault": RESET},
    )
    names = [f.rule if f else None for f in (rs.decide(TASK, 0) for _ in range(4))]
    assert names == ["first", "first", "second", "second"]
    assert [s.matched for s in rs.states] == [4, 2]


def test_after_times_and_every_n() -> None:
    rs = rules({"name": "r", "after": 2, "every_n": 3, "times": 2, "fault": RESET})
    # requests 1-2 let through; then fire on positions 3, 6 (every 3rd after the first 2) until 2 fired
    assert fires(rs, TASK, 12) == [False, False, False, False, True, False, False, True] + [False] * 4
    assert rs.states[0].to_dict()["fired"] == 2


def test_window_is_relative_to_the_scenario_start() -> None:
    rs = rules({"name": "r", "window_s": [10, 20], "fault": RESET})
    assert [rs.decide(TASK, t) is not None for t in (0, 9.99, 10, 15, 19.99, 20, 100)] == [
        False,
        False,
        True,
        True,
        True,
        False,
        False,
    ]


def test_probability_fires_about_that_often_and_reproducibly() -> None:
    a = fires(rules({"name": "p", "probability": 0.2, "fault": RESET}, seed=5), TASK, 5000)
    b = fires(rules({"name": "p", "probability": 0.2, "fault": RESET}, seed=5), TASK, 5000)
    c = fires(rules({"name": "p", "probability": 0.2, "fault": RESET}, seed=6), TASK, 5000)
    assert a == b and a != c
    assert sum(a) / len(a) == pytest.approx(0.2, abs=0.02)
    assert not any(fires(rules({"name": "p", "probability": 0, "fault": RESET}), TASK, 100))


def test_adding_a_rule_does_not_shift_another_rules_stream() -> None:
    flaky = {"name": "flaky", "match": {"operation": "get_task"}, "probability": 0.5, "fault": RESET}
    other = {"name": "other", "match": {"operation": "connect"}, "probability": 0.5, "fault": RESET}
    alone = fires(rules(flaky), TASK, 200)
    assert fires(rules(other, flaky), TASK, 200) == alone
    # ... and a rule's stream depends on its name, not its position
    renamed = dict(flaky, name="flaky-2")
    assert fires(rules(renamed), TASK, 200) != alone


def test_live_add_and_remove() -> None:
    rs = rules()
    rs.add(FaultRule.parse({"name": "x", "fault": RESET}, ()))
    with pytest.raises(SpecError, match="already exists"):
        rs.add(FaultRule.parse({"name": "x", "fault": RESET}, ()))
    rs.add(FaultRule.parse({"name": "y", "fault": {"type": "hang"}}, ()), position=0)
    assert rs.names() == ["y", "x"]
    assert rs.remove("y") and not rs.remove("y")
    assert rs.decide(CONNS, 0) is not None


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"name": "r", "fault": {"type": "status", "status": 200}}, ("fault", "status")),
        ({"name": "r", "fault": {"type": "status", "status": 503, "colour": 1}}, ("fault", "colour")),
        ({"name": "r", "probability": -0.1, "fault": RESET}, ("probability",)),
        ({"name": "r", "every_n": 0, "fault": RESET}, ("every_n",)),
        ({"name": "r", "times": 1.5, "fault": RESET}, ("times",)),
        ({"name": "r", "window_s": [5, 1], "fault": RESET}, ("window_s",)),
        ({"name": "r", "match": {"path_regex": "("}, "fault": RESET}, ("match", "path_regex")),
        ({"name": "r"}, ("fault",)),
        ({"fault": RESET}, ("name",)),
        (
            {"name": "r", "fault": {"type": "delay", "latency": {"model": "fixed", "ms": -1}}},
            ("fault", "latency", "ms"),
        ),
    ],
)
def test_invalid_rules_name_the_field(raw: dict[str, Any], path: tuple[str, ...]) -> None:
    with pytest.raises(SpecError) as info:
        FaultRule.parse(raw, (), ["get_task", "connect"])
    assert info.value.path == path


def test_error_answers_use_the_vendor_envelope() -> None:
    start, body = error_answer(Fault("status", status=503, retry_after_s=2.5))
    headers = dict(start["headers"])
    assert start["status"] == 503 and headers[b"retry-after"] == b"3"
    assert orjson.loads(body)["text"].startswith("503 Service Unavailable")
    for kind, status in (("session_invalid", 401), ("session_expired", 403)):
        start, body = error_answer(Fault(kind))
        assert start["status"] == status and orjson.loads(body)["text"].startswith(str(status))
    assert b"retry-after" not in dict(error_answer(Fault("status", status=500))[0]["headers"])


def test_spoilers() -> None:
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json")],
    }
    body = orjson.dumps({"data": [1, 2, 3], "text": "x" * 20})
    s, b = spoil(Fault("malformed_json"), start, body, random.Random(1))
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b)
    assert dict(s["headers"])[b"content-length"] == str(len(b)).encode()
    s, b = spoil(Fault("empty", status=200), start, body, random.Random(1))
    assert b == b"" and dict(s["headers"])[b"content-length"] == b"0"
    s, b = spoil(Fault("content_type", content_type="text/html"), start, body, random.Random(1))
    assert dict(s["headers"])[b"content-type"] == b"text/html" and b == body
    for tiny in (b"{}", b"[]", b""):
        _, b = spoil(Fault("malformed_json"), start, tiny, random.Random(1))
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(b)


def test_corruption_is_deterministic_and_changes_the_bytes() -> None:
    data = bytes(range(256)) * 64
    a, b = corrupt(data, 8, random.Random(3)), corrupt(data, 8, random.Random(3))
    assert a == b != data and len(a) == len(data)
    assert 1 <= sum(x != y for x, y in zip(a, data, strict=True)) <= 8


def test_truncation_point_never_sends_everything() -> None:
    assert truncation_point(Fault("truncate", at_byte=100), 1000) == 100
    assert truncation_point(Fault("truncate", fraction=0.25), 1000) == 250
    assert truncation_point(Fault("truncate", at_byte=5000), 1000) == 999
    assert truncation_point(Fault("truncate", fraction=1.0), 1000) == 999


def test_journal_is_a_bounded_ring_with_filters_and_an_off_switch() -> None:
    journal = Journal(capacity=3)
    for i, status in enumerate([200, 503, 200, 404, 503]):
        journal.record(
            method="GET",
            path=f"/p{i}",
            operation="get_task" if i % 2 else "connect",
            status=status,
            fault="r" if status == 503 else None,
        )
    assert (journal.total, journal.dropped) == (5, 2)
    assert [e.path for e in journal.query()] == ["/p2", "/p3", "/p4"]
    assert [e.path for e in journal.query(status=503)] == ["/p4"]
    assert [e.path for e in journal.query(operation="get_task")] == ["/p3"]
    assert [e.path for e in journal.query(faulted=False, limit=1)] == ["/p3"]
    assert [e.path for e in journal.query(since=4)] == ["/p4"]
    off = Journal(enabled=False)
    off.record(method="GET", path="/", operation="x", status=200)
    assert off.query() == [] and off.total == 0


def test_metrics_registries_are_per_app() -> None:
    a, b = Metrics(), Metrics()
    a.observe("connect", "200", sent=10, delay_s=0.0)
    a.fault_fired("r", "reset")
    text = a.render().decode()
    assert 'tanium_sim_requests_total{operation="connect",status="200"} 1.0' in text
    assert 'tanium_sim_faults_total{rule="r",type="reset"} 1.0' in text
    assert "tanium_sim_requests_in_flight 0.0" in text
    assert 'tanium_sim_response_bytes_total{operation="connect"} 10.0' in text
    assert 'operation="connect"' not in b.render().decode()
