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
