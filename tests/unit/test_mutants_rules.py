"""Tests that kill mutmut's survivors in simulator/faults/rules.py (docs/testing.md).

``GET /_sim/faults`` and the console show rules through ``to_dict``: every field a rule was declared
with must come back as declared (defaults left out), for every fault type, and parse again to the same
rule. (Disabled rules firing has tests of its own; here ``enabled: false`` only has to round-trip.)
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from simulator.faults.rules import FaultRule, RuleSet

FULL_MATCH = {
    "operation": ["list_connections"],
    "method": ["GET"],
    "path": "/x",
    "client_id": ["c1"],
    "header": {"x-a": "1"},
}
RULES: list[dict[str, Any]] = [
    {
        "name": "every-option",
        "match": FULL_MATCH,
        "fault": {"type": "status", "text": "busy", "status": 503, "retry_after_s": 2.0},
        "probability": 0.5,
        "after": 2,
        "times": 3,
        "every_n": 2,
        "window_s": [1.0, 5.0],
        "enabled": False,
    },
    {"name": "regex", "match": {"path_regex": "^/a.*"}, "fault": {"type": "empty", "status": 204}},
    {"name": "at-byte", "match": {}, "fault": {"type": "truncate", "at_byte": 10}},
    {"name": "fraction", "match": {}, "fault": {"type": "truncate", "fraction": 0.5}},
    {"name": "hang", "match": {}, "fault": {"type": "hang", "max_s": 12.5}},
    {"name": "dribble", "match": {}, "fault": {"type": "dribble", "chunk_bytes": 8, "interval_ms": 20.0}},
    {"name": "corrupt", "match": {}, "fault": {"type": "corrupt", "bytes": 4}},
    {"name": "ctype", "match": {}, "fault": {"type": "content_type", "content_type": "text/plain"}},
    {"name": "delay", "match": {}, "fault": {"type": "delay", "latency": {"model": "fixed", "ms": 50.0}}},
    {"name": "reset", "match": {}, "fault": {"type": "reset"}},
]


@pytest.mark.parametrize("raw", RULES, ids=[r["name"] for r in RULES])
def test_a_rule_shows_exactly_what_it_was_declared_with(raw: dict[str, Any]) -> None:
    rule = FaultRule.parse(raw, ())
    assert rule.to_dict() == raw
    assert FaultRule.parse(rule.to_dict(), ()) == rule


def test_defaults_are_left_out_of_the_shown_rule() -> None:
    shown = FaultRule.parse({"name": "r", "fault": {"type": "hang"}}, ()).to_dict()
    assert shown == {"name": "r", "match": {}, "fault": {"type": "hang", "max_s": 300.0}}


def test_a_rule_set_lists_its_rules_with_their_counters_in_order() -> None:
    rules = RuleSet.parse(RULES[1:4], seed=1)
    listed = rules.to_list()
    assert [r["name"] for r in listed] == ["regex", "at-byte", "fraction"]
    for shown, raw in zip(listed, RULES[1:4], strict=True):
        assert shown == {**raw, "matched": 0, "fired": 0}


def test_a_dribble_interval_is_shown_in_ms_to_the_microsecond() -> None:
    raw = {"name": "d", "fault": {"type": "dribble", "chunk_bytes": 8, "interval_ms": 12.3456}}
    shown = FaultRule.parse(raw, ()).to_dict()["fault"]
    assert shown == {"type": "dribble", "chunk_bytes": 8, "interval_ms": 12.346}
    assert isinstance(shown["interval_ms"], float)


class _SharedCounter:
    """A counter shared by processes (the Redis one in production): it holds the counts."""

    def consider(self, rule: FaultRule, rng: random.Random) -> bool:
        return True

    def counts(self) -> tuple[int, int]:
        return (5, 2)

    def forget(self) -> None:
        pass


def test_a_rule_with_a_shared_counter_shows_the_shared_counts() -> None:
    rules = RuleSet.parse(RULES[1:2], seed=1)
    rules.attach_counters(lambda name: _SharedCounter())
    assert rules.to_list() == [{**RULES[1], "matched": 5, "fired": 2}]


# --------------------------------------------------------------------------- parsing faults

from simulator.faults import rules as rules_module  # noqa: E402
from simulator.faults.latency import Distribution  # noqa: E402
from simulator.faults.rules import (  # noqa: E402
    FAULT_FIELDS,
    MATCH_FIELDS,
    RULE_FIELDS,
    SHORT_CIRCUIT,
    WIRE_FAULTS,
    Fault,
    Match,
    RequestInfo,
    RuleState,
    match_format,
    parse_distribution,
    rule_format,
    rule_rng,
    rules_format,
)
from simulator.faults.spec import SpecError  # noqa: E402


def fault(**body: Any) -> Fault:
    return Fault.parse(body, ("fault",))


def test_fault_sets() -> None:
    assert frozenset({"reset", "hang", "truncate", "dribble"}) == WIRE_FAULTS
    assert frozenset({"status", "session_invalid", "session_expired", "reset", "hang"}) == SHORT_CIRCUIT
    assert Fault("reset").is_wire and Fault("dribble").is_wire and not Fault("status").is_wire


def test_fault_defaults() -> None:
    f = Fault("x")
    assert (f.status, f.text, f.retry_after_s, f.at_byte, f.fraction) == (None, "", None, None, None)
    assert (f.max_s, f.chunk_bytes, f.interval_s, f.bytes) == (300.0, 64, 0.05, 16)
    assert f.content_type == "text/html; charset=utf-8" and f.latency is None


@pytest.mark.parametrize(("status", "retry"), [(429, 1.0), (503, 1.0), (500, None), (404, None)])
def test_status_retry_after_default(status: int, retry: float | None) -> None:
    f = fault(type="status", status=status)
    assert f.status == status and type(f.status) is int
    assert f.retry_after_s == retry
    assert f.text == ""


def test_status_fields_are_converted() -> None:
    f = fault(type="status", status=503, retry_after_s=3, text="slow")
    assert f.retry_after_s == 3.0 and type(f.retry_after_s) is float and f.text == "slow"
    assert fault(type="status", status=500, retry_after_s=0).retry_after_s == 0.0
    assert fault(type="session_invalid", text="gone").text == "gone"
    assert fault(type="session_invalid").text == ""


def test_each_kind_builds_its_fields() -> None:
    assert fault(type="empty").status == 200
    assert fault(type="empty", status=204).status == 204
    t = fault(type="truncate", at_byte=7)
    assert (t.at_byte, t.fraction) == (7, None)
    t = fault(type="truncate", fraction=0.25)
    assert (t.at_byte, t.fraction) == (None, 0.25)
    assert fault(type="truncate", at_byte=0).at_byte == 0
    assert fault(type="hang").max_s == 300.0
    assert fault(type="hang", max_s=2).max_s == 2.0
    d = fault(type="dribble")
    assert (d.chunk_bytes, d.interval_s) == (64, 0.05)
    d = fault(type="dribble", chunk_bytes=3, interval_ms=250)
    assert (d.chunk_bytes, d.interval_s) == (3, 0.25)
    assert fault(type="corrupt").bytes == 16 and fault(type="corrupt", bytes=2).bytes == 2
    assert fault(type="content_type").content_type == "text/html; charset=utf-8"
    assert fault(type="content_type", content_type="a/b").content_type == "a/b"
    lat = fault(type="delay", latency=40).latency
    assert lat == Distribution.parse(40)
    # a kind's fields stay at their defaults for other kinds
    assert fault(type="reset") == Fault("reset")
    assert fault(type="malformed_json") == Fault("malformed_json")


def test_fault_to_dict_leaves_out_what_is_unset() -> None:
    assert Fault("reset").to_dict() == {"type": "reset"}
    assert Fault("status", status=500).to_dict() == {"type": "status", "status": 500}
    assert Fault("unknown-kind", text="t").to_dict() == {"type": "unknown-kind", "text": "t"}
    assert Fault("delay").to_dict() == {"type": "delay"}


def test_fault_errors() -> None:
    with pytest.raises(SpecError) as caught:
        fault(type="truncate")
    assert str(caught.value) == "fault: truncate needs exactly one of at_byte or fraction"
    with pytest.raises(SpecError) as caught:
        fault(type="truncate", at_byte=1, fraction=0.5)
    assert caught.value.message == "truncate needs exactly one of at_byte or fraction"
    assert caught.value.path == ("fault",)
    assert rules_module._one_size("x", ("p",)) == []
    assert rules_module._one_size({"at_byte": 1}, ("p",)) == []


def test_parse_distribution() -> None:
    assert parse_distribution(5, ("d",)) == Distribution.parse(5)
    assert parse_distribution(5, ("d",), default_unit="s") == Distribution.parse(5, default_unit="s")
    assert parse_distribution(5, ("d",), default_unit="s") != parse_distribution(5, ("d",))
    with pytest.raises(SpecError) as caught:
        parse_distribution({"model": "fixed", "ms": -1}, ("x", "y"))
    assert caught.value.path == ("x", "y", "ms")
    with pytest.raises(SpecError) as caught:
        parse_distribution("soon", ("x",))
    assert caught.value.path == ("x",)
    assert str(caught.value) == "x: expected a number or a mapping with a 'model'"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_regex_rule() -> None:
    assert rules_module._regex("^a+$") is None
    message = rules_module._regex("(")
    assert message is not None and message.startswith("expected a regular expression (")
    assert message.endswith(")")


def test_unique_names() -> None:
    raw = [{"name": "a"}, {"name": "b"}, "junk", {"name": 3}, {"name": "a"}, {}, {"name": "b"}]
    errors = rules_module._unique_names(raw, ("faults",))
    assert [(e.path, e.message) for e in errors] == [
        (("faults", 4, "name"), "duplicate rule name 'a'; names must be unique"),
        (("faults", 6, "name"), "duplicate rule name 'b'; names must be unique"),
    ]
    assert rules_module._unique_names([{"name": "a"}, {"name": "a"}, {"name": "a"}], ()) != []
    assert len(rules_module._unique_names([{"name": "a"}, {"name": "a"}, {"name": "a"}], ())) == 2


def test_fault_field_names() -> None:
    assert FAULT_FIELDS["status"] == ("status", "text", "retry_after_s")
    assert FAULT_FIELDS["reset"] == ()
    assert FAULT_FIELDS["dribble"] == ("chunk_bytes", "interval_ms")
    assert RULE_FIELDS == (
        "name",
        "match",
        "probability",
        "after",
        "times",
        "every_n",
        "window_s",
        "fault",
        "enabled",
    )
    assert MATCH_FIELDS == ("operation", "method", "path", "path_regex", "client_id", "header")


def test_formats_are_cached_and_limit_operations() -> None:
    assert match_format(("a",)) is match_format(("a",))
    assert rule_format(None) is rule_format(None)
    assert rule_format(("a",)).fields["match"] is match_format(("a",))
    with pytest.raises(SpecError) as caught:
        FaultRule.parse({"name": "r", "match": {"operation": "zzz"}, "fault": {"type": "reset"}}, (), ["a"])
    assert caught.value.path == ("match", "operation")
    assert FaultRule.parse({"name": "r", "match": {"operation": "zzz"}, "fault": {"type": "reset"}}, ())
    with pytest.raises(SpecError) as caught:
        Match.parse({"operation": "zzz"}, ("m",), ["a"])
    assert caught.value.path == ("m", "operation")
    assert Match.parse({"operation": "zzz"}, ("m",), None).operations == ("zzz",)
    assert Match.parse(None, ("m",), None) == Match()


def test_rule_field_defaults_and_bounds() -> None:
    table = rule_format(None).fields
    assert table["probability"].default == 1.0
    assert table["after"].default == 0
    assert table["every_n"].default == 1
    assert table["enabled"].default is True
    for raw in (
        {"name": "r", "probability": 1.5, "fault": {"type": "reset"}},
        {"name": "r", "times": 0, "fault": {"type": "reset"}},
        {"name": "r", "after": 0.5, "fault": {"type": "reset"}},
        {"name": "r", "fault": {"type": "dribble", "chunk_bytes": 0}},
        {"name": "r", "fault": {"type": "corrupt", "bytes": 0}},
        {"name": "r", "fault": {"type": "empty", "status": 99}},
        {"name": "r", "fault": {"type": "empty", "status": 600}},
        {"name": "r", "fault": {"type": "status", "status": 600}},
        {"name": "r", "fault": {"type": "truncate", "fraction": 1.5}},
        {"name": "r", "fault": {"type": "delay"}},
        {"name": "r", "fault": {"type": "status"}},
        {"name": "r", "match": {"header": {"x": 1}}, "fault": {"type": "reset"}},
    ):
        with pytest.raises(SpecError):
            FaultRule.parse(raw, ())
    for raw in (
        {"name": "r", "probability": 1.0, "times": 1, "after": 3, "fault": {"type": "reset"}},
        {"name": "r", "fault": {"type": "empty", "status": 100}},
        {"name": "r", "fault": {"type": "empty", "status": 599}},
        {"name": "r", "fault": {"type": "status", "status": 400, "retry_after_s": None}},
        {"name": "r", "fault": {"type": "truncate", "fraction": 1.0}},
        {"name": "r", "match": None, "fault": {"type": "reset"}},
        {"name": "r", "match": {"header": {"x": ""}, "method": None}, "fault": {"type": "reset"}},
    ):
        FaultRule.parse(raw, ())


def test_rules_format_checks_names_and_list() -> None:
    problems = rules_format(None).problems(
        [{"name": "a", "fault": {"type": "reset"}}, {"name": "a", "fault": {"type": "reset"}}], ("faults",)
    )
    assert [p.path for p in problems] == [("faults", 1, "name")]
    assert rules_format(None).problems(None, ("faults",)) == []
    assert rules_format(None).problems({"name": "a"}, ("faults",)) != []
    with pytest.raises(SpecError) as caught:
        RuleSet.parse([{"name": "a", "fault": {"type": "reset"}}] * 2, seed=1)
    assert caught.value.path == ("faults", 1, "name")
    with pytest.raises(SpecError) as caught:
        RuleSet.parse(
            [{"name": "a", "match": {"operation": "x"}, "fault": {"type": "reset"}}], seed=1, operations=["y"]
        )
    assert caught.value.path == ("faults", 0, "match", "operation")
    assert (
        len(RuleSet.parse([{"name": "a", "match": {"operation": "x"}, "fault": {"type": "reset"}}], seed=1))
        == 1
    )


# --------------------------------------------------------------------------- match


REQ = RequestInfo("get_task", "GET", "/api/tasks/9", client_id="101", headers={"x-trace": "abc"})


def test_match_build() -> None:
    m = Match.build(
        {
            "operation": "get_task",
            "method": ["get", "Post"],
            "path": "/a*",
            "path_regex": "^/a",
            "client_id": [101, "102"],
            "header": {"X-Trace": "*"},
        }
    )
    assert m.operations == ("get_task",)
    assert m.methods == ("GET", "POST")
    assert m.path == "/a*"
    assert m.path_regex is not None and m.path_regex.pattern == "^/a"
    assert m.client_ids == ("101", "102")
    assert m.headers == (("x-trace", "*"),)
    assert Match.build(None) == Match() and Match.build({}) == Match()
    assert Match.build({"operation": None, "header": None}) == Match()


def test_request_info_defaults() -> None:
    r = RequestInfo("o", "GET", "/p")
    assert r.client_id is None and r.headers == {}


@pytest.mark.parametrize(
    ("body", "hit"),
    [
        ({}, True),
        ({"operation": ["x", "get_task"]}, True),
        ({"operation": "x"}, False),
        ({"method": "get"}, True),
        ({"method": "post"}, False),
        ({"path": "/api/*"}, True),
        ({"path": "/API/*"}, False),
        ({"path": "/api"}, False),
        ({"path_regex": "tasks/9$"}, True),
        ({"path_regex": "tasks"}, True),
        ({"path_regex": "^tasks"}, False),
        ({"client_id": "101"}, True),
        ({"client_id": ["102"]}, False),
        ({"header": {"x-trace": "a*"}}, True),
        ({"header": {"X-Trace": "*"}}, True),
        ({"header": {"x-trace": "b*"}}, False),
        ({"header": {"x-other": "*"}}, False),
        ({"header": {"x-trace": "*", "x-other": "*"}}, False),
    ],
)
def test_match_matches(body: dict[str, Any], hit: bool) -> None:
    assert Match.build(body).matches(REQ) is hit


def test_match_headers_need_lower_case_request_names() -> None:
    assert not Match.build({"header": {"x-trace": "*"}}).matches(
        RequestInfo("o", "GET", "/", headers={"X-Trace": "1"})
    )
    assert not Match.build({"client_id": "1"}).matches(RequestInfo("o", "GET", "/"))


def test_match_needs_and_to_dict() -> None:
    assert Match.build({"client_id": 5}).needs_client_id
    assert not Match.build({"operation": "x"}).needs_client_id
    assert Match().to_dict() == {}
    assert Match.build({"path_regex": "^a"}).to_dict() == {"path_regex": "^a"}


# --------------------------------------------------------------------------- rules and state


RESET = {"type": "reset"}


def rule(**kw: Any) -> FaultRule:
    return FaultRule.parse({"name": "r", "fault": RESET, **kw}, ())


def test_rule_build_defaults_and_types() -> None:
    r = rule()
    assert (r.probability, r.after, r.times, r.every_n, r.window_s, r.enabled) == (
        1.0,
        0,
        None,
        1,
        None,
        True,
    )
    assert r.match == Match() and r.fault == Fault("reset")
    r = rule(probability=1, after=2, times=3, every_n=4, window_s=[1, 2], enabled=False)
    assert type(r.probability) is float and r.probability == 1.0
    assert (r.after, r.times, r.every_n, r.window_s, r.enabled) == (2, 3, 4, (1.0, 2.0), False)
    assert type(r.window_s[0]) is float  # type: ignore[index]
    assert rule(window_s={"start": 5}).window_s == (5.0, float("inf"))
    assert rule(window_s={"end": 5}).window_s == (0.0, 5.0)
    assert rule(window_s={"start": 1, "end": 5}).window_s == (1.0, 5.0)
    assert rule(enabled=True).enabled is True
    assert rule(times=None).times is None
    assert rule(match={"operation": "x"}).match.operations == ("x",)


def test_rule_to_dict_probability_zero_and_after() -> None:
    assert rule(probability=0.0).to_dict()["probability"] == 0.0
    assert "after" not in rule(after=0).to_dict()
    assert rule(after=1).to_dict()["after"] == 1
    assert rule(times=1).to_dict()["times"] == 1


def consider_all(state: RuleState, n: int, elapsed: float = 0.0, req: RequestInfo = REQ) -> list[bool]:
    return [state.consider(req, elapsed) for _ in range(n)]


def test_state_counts_and_triggers() -> None:
    state = RuleState(rule(after=2, every_n=2, times=2), random.Random(1))
    assert (state.matched, state.fired) == (0, 0)
    assert consider_all(state, 9) == [False, False, False, True, False, True, False, False, False]
    assert (state.matched, state.fired) == (9, 2)
    assert state.to_dict() == {**state.rule.to_dict(), "matched": 9, "fired": 2}
    plain = RuleState(rule(), random.Random(1))
    assert consider_all(plain, 3) == [True, True, True]
    assert (plain.matched, plain.fired) == (3, 3)
    once = RuleState(rule(times=1), random.Random(1))
    assert consider_all(once, 3) == [True, False, False]
    assert once.matched == 3
    after_one = RuleState(rule(after=1), random.Random(1))
    assert consider_all(after_one, 3) == [False, True, True]


def test_state_window_and_disabled_do_not_count() -> None:
    state = RuleState(rule(window_s=[1, 2]), random.Random(1))
    assert not state.consider(REQ, 0.999)
    assert state.consider(REQ, 1.0)
    assert state.consider(REQ, 1.5)
    assert not state.consider(REQ, 2.0)
    assert state.matched == 2
    off = RuleState(rule(enabled=False), random.Random(1))
    assert consider_all(off, 2) == [False, False] and off.matched == 0
    other = RuleState(rule(match={"operation": "x"}), random.Random(1))
    assert consider_all(other, 2) == [False, False] and other.matched == 0


def test_probability_draws_only_when_allowed() -> None:
    class Rng(random.Random):
        def __init__(self, values: list[float]) -> None:
            super().__init__(0)
            self.values = values
            self.draws = 0

        def random(self) -> float:
            self.draws += 1
            return self.values.pop(0)

    rng = Rng([0.49, 0.5, 0.51])
    state = RuleState(rule(probability=0.5, after=1), rng)
    assert consider_all(state, 4) == [False, True, False, False]
    assert rng.draws == 3 and state.fired == 1 and state.matched == 4
    certain = Rng([])
    assert consider_all(RuleState(rule(probability=1.0), certain), 2) == [True, True]
    assert certain.draws == 0
    never = Rng([0.0])
    assert not RuleState(rule(probability=0.0), never).consider(REQ, 0)


def test_shared_counter_decides() -> None:
    seen: list[tuple[str, random.Random]] = []

    class Counter(_SharedCounter):
        def consider(self, rule: FaultRule, rng: random.Random) -> bool:
            seen.append((rule.name, rng))
            return False

    rng = random.Random(1)
    state = RuleState(rule(times=1), rng, Counter())
    assert not state.consider(REQ, 0)
    assert seen == [("r", rng)]
    assert (state.matched, state.fired) == (5, 2)
    assert state._matched == 0
    off = RuleState(rule(enabled=False), rng, Counter())
    assert not off.consider(REQ, 0) and len(seen) == 1


def test_rule_set_add_remove_and_needs() -> None:
    made: list[str] = []
    forgotten: list[str] = []

    class Counter(_SharedCounter):
        def __init__(self, name: str) -> None:
            self.name = name
            made.append(name)

        def forget(self) -> None:
            forgotten.append(self.name)

    rs = RuleSet([], seed=3, counter_for=Counter)
    assert len(rs) == 0 and not rs.needs_client_id and not rs.needs_headers
    rs.add(FaultRule.parse({"name": "a", "fault": RESET}, ()))
    rs.add(FaultRule.parse({"name": "b", "match": {"client_id": 1}, "fault": RESET}, ()))
    rs.add(FaultRule.parse({"name": "c", "match": {"header": {"h": "*"}}, "fault": RESET}, ()), position=1)
    rs.add(FaultRule.parse({"name": "d", "fault": RESET}, ()), position=0)
    assert rs.names() == ["d", "a", "c", "b"] and len(rs) == 4
    assert made == ["a", "b", "c", "d"]
    assert rs.needs_client_id and rs.needs_headers
    with pytest.raises(SpecError) as caught:
        rs.add(FaultRule.parse({"name": "a", "fault": RESET}, ()))
    assert str(caught.value) == "name: a rule named 'a' already exists; pick another name"
    assert caught.value.path == ("name",)
    assert rs.names() == ["d", "a", "c", "b"]
    assert rs.remove("b") is True and forgotten == ["b"]
    assert rs.remove("b") is False and forgotten == ["b"]
    assert not rs.needs_client_id
    assert rs.remove("c") and not rs.needs_headers
    assert rs.names() == ["d", "a"]
    plain = RuleSet([FaultRule.parse({"name": "p", "fault": RESET}, ())], seed=3)
    assert plain.remove("p") and len(plain) == 0


def test_rule_set_streams_and_counters() -> None:
    rs = RuleSet([rule()], seed=7)
    assert rs.seed == 7
    assert rs.states[0].rng.random() == rule_rng(7, "r").random()
    assert rs.states[0].counter is None
    assert rule_rng(7, "r").random() != rule_rng(8, "r").random()
    assert rule_rng(7, "r").random() != rule_rng(7, "s").random()
    from simulator.state.fleet import stable_hash

    assert rule_rng(7, "r").random() == random.Random(stable_hash(7, "fault-rule", "r")).random()
    given = random.Random(99)
    custom = RuleSet([rule()], seed=7, rng_for=lambda name: given)
    assert custom.states[0].rng is given
    rs.attach_counters(lambda name: _SharedCounter())
    assert isinstance(rs.states[0].counter, _SharedCounter)
    rs.add(FaultRule.parse({"name": "later", "fault": RESET}, ()))
    assert isinstance(rs.states[1].counter, _SharedCounter)


def test_decide_returns_the_first_firing_rule() -> None:
    rs = RuleSet.parse(
        [
            {"name": "off", "enabled": False, "fault": {"type": "hang"}},
            {"name": "first", "after": 1, "fault": {"type": "status", "status": 500}},
            {"name": "second", "fault": RESET},
        ],
        seed=1,
    )
    got = rs.decide(REQ, 0.0)
    assert got is not None and got.rule == "second" and got.fault == Fault("reset")
    assert got.rng is rs.states[2].rng
    got = rs.decide(REQ, 0.0)
    assert got is not None and got.rule == "first" and got.fault.status == 500
    assert RuleSet([], seed=1).decide(REQ, 0.0) is None
    assert [s["matched"] for s in rs.to_list()] == [0, 2, 1]


def test_the_rules_table_is_what_the_committed_schema_documents() -> None:
    import json
    from pathlib import Path

    from simulator.operations import VENDOR_OPERATIONS

    committed = json.loads(
        (Path(__file__).resolve().parents[2] / "scenarios" / "scenario.schema.json").read_text(
            encoding="utf-8"
        )
    )
    defs: dict[str, Any] = {}
    assert rules_format(VENDOR_OPERATIONS).schema(defs) == committed["properties"]["faults"]


def test_a_fault_table_starts_with_its_type() -> None:
    from simulator.faults.fields import Number, Text

    def extra_rule(raw: Any, path: Any) -> list[SpecError]:
        return []

    table = rules_module._fault("the doc", required=("x",), rules=(extra_rule,), x=Number(doc="n"))
    assert table.doc == "the doc"
    assert list(table.fields) == ["type", "x"]
    assert isinstance(table.fields["type"], Text)
    assert table.fields["type"].doc == "the fault type; it decides which other fields the fault takes"
    assert table.required == ("x",) and table.rules == (extra_rule,) and table.extra == {}
    given = rules_module._fault("d", extra={"oneOf": []})
    assert given.extra == {"oneOf": []} and given.required == () and given.rules == ()
    assert list(given.fields) == ["type"]
    assert table.problems({"type": "t", "x": 1}, ()) == []
    assert [e.path for e in table.problems({"type": "t"}, ())] == [("x",)]


def test_a_rule_list_that_is_not_a_list() -> None:
    problems = rules_format(None).problems({"name": "a"}, ("faults",))
    assert [str(p) for p in problems] == ["faults: expected a list of rules, got a mapping"]


def test_attached_counters_are_named_after_their_rules() -> None:
    asked: list[str] = []

    def counter_for(name: str) -> _SharedCounter:
        asked.append(name)
        return _SharedCounter()

    rs = RuleSet.parse(RULES[1:4], seed=1)
    rs.attach_counters(counter_for)
    assert asked == ["regex", "at-byte", "fraction"]
