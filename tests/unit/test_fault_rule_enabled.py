"""A fault rule's ``enabled`` field: ``false`` keeps the rule in the scenario (listed, named) but it never
fires nor counts a request; the rules after it see every request as if it were absent."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.faults.rules import FaultRule, RequestInfo, RuleSet
from simulator.faults.spec import SpecError
from simulator.scenarios import Scenario, ScenarioError

TR = "/plugin/products/threat-response/api/v1"
TASK = RequestInfo("get_task", "GET", f"{TR}/tasks/5", client_id="123")
RESET = {"type": "reset"}


def _decide(rules: RuleSet, n: int) -> list[str | None]:
    return [f.rule if (f := rules.decide(TASK, 0.0)) else None for _ in range(n)]


def test_a_disabled_rule_never_fires_nor_counts() -> None:
    rules = RuleSet.parse([{"name": "off", "enabled": False, "fault": RESET}], seed=1)
    assert _decide(rules, 5) == [None] * 5
    assert rules.to_list() == [
        {"name": "off", "match": {}, "fault": RESET, "enabled": False, "matched": 0, "fired": 0}
    ]


def test_the_rule_after_a_disabled_one_sees_every_request() -> None:
    rules = RuleSet.parse(
        [
            {"name": "off", "enabled": False, "fault": {"type": "hang"}},
            {"name": "on", "every_n": 2, "fault": RESET},
        ],
        seed=1,
    )
    assert _decide(rules, 4) == [None, "on", None, "on"]
    assert [(s.matched, s.fired) for s in rules.states] == [(0, 0), (4, 2)]


@pytest.mark.parametrize("enabled", [True, None])
def test_enabled_true_or_absent_fires(enabled: bool | None) -> None:
    raw: dict[str, Any] = {"name": "r", "fault": RESET}
    if enabled is not None:
        raw["enabled"] = enabled
    rules = RuleSet.parse([raw], seed=1)
    assert _decide(rules, 2) == ["r", "r"]
    assert "enabled" not in rules.states[0].rule.to_dict()  # the default is not written back


@pytest.mark.parametrize("value", ["no", 0, 1, None, "false"])
def test_enabled_must_be_a_boolean(value: object) -> None:
    with pytest.raises(SpecError) as info:
        FaultRule.parse({"name": "r", "enabled": value, "fault": RESET}, ("faults", 0))
    assert str(info.value) == "faults[0].enabled: expected true or false"


def test_a_scenario_file_keeps_a_disabled_rule_and_round_trips_it() -> None:
    text = "faults:\n  - {name: parked, enabled: false, match: {operation: get_task}, fault: {type: reset}}\n"
    scenario = Scenario.from_text(text, source="parked.yaml")
    (rule,) = scenario.faults
    assert rule.enabled is False and rule.name == "parked"
    assert FaultRule.parse(rule.to_dict(), ()) == rule
    with pytest.raises(ScenarioError, match=r"enabled: expected true or false"):
        Scenario.from_text(text.replace("enabled: false", "enabled: off-ish"), source="bad.yaml")
