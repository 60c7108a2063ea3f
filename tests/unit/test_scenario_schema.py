"""The scenario format's JSON Schema: generated from the loader's field tables, committed as
scenarios/scenario.schema.json, named by every scenario file's first line, and in agreement with the
loader on good and bad input. docs/scenarios.md documents every property the schema has.

Regenerate the committed copy with
``.venv/bin/tanium-sim scenario schema --out scenarios/scenario.schema.json``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.cli import main
from simulator.faults.latency import MODELS
from simulator.faults.rules import FAULT_FIELDS
from simulator.faults.spec import SpecError
from simulator.scenarios import (
    SCENARIO_DIR,
    SCHEMA_FILE,
    SCHEMA_MODELINE,
    Scenario,
    ScenarioError,
    available,
    resolve,
    resolve_name,
    scenario_schema,
)

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "scenarios" / SCHEMA_FILE
REGENERATE = ".venv/bin/tanium-sim scenario schema --out scenarios/scenario.schema.json"
DOCS = ROOT / "docs" / "scenarios.md"


def generated(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["scenario", "schema"]) == 0
    return capsys.readouterr().out


def test_the_committed_schema_is_what_scenario_schema_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert COMMITTED.read_text(encoding="utf-8") == generated(capsys), (
        f"scenarios/{SCHEMA_FILE} is stale: regenerate it with `{REGENERATE}` and commit it"
    )


def test_schema_out_writes_the_same_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printed = generated(capsys)
    out = tmp_path / "s.json"
    assert main(["scenario", "schema", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == printed
    assert json.loads(printed)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", available())
def test_every_named_scenario_points_at_the_schema_and_the_loader_ignores_it(name: str) -> None:
    path = resolve(name)
    assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_MODELINE
    description = Scenario.load(name).description
    assert description and "yaml-language-server" not in description and "$schema" not in description


def test_the_schema_ships_beside_the_scenarios_and_is_not_one_of_them() -> None:
    assert (SCENARIO_DIR / SCHEMA_FILE).is_file()  # the wheel force-includes scenarios/ whole
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]["scenarios"] == (
        "simulator/_scenarios"
    )
    assert "scenario.schema" not in available()
    for name in ("scenario.schema", SCHEMA_FILE):
        with pytest.raises(ScenarioError):
            resolve_name(name)
    with pytest.raises(ScenarioError, match="JSON Schema, not a scenario"):
        Scenario.load(SCENARIO_DIR / SCHEMA_FILE)


# -- the schema and the loader agree ------------------------------------------------------------------
GOOD = [
    "",
    "faults:\nlatency:\n",  # null sections read as absent
    "seed: -3\nname: mine\n",
    "latency: {default: 5, operations: {connect: {model: normal, mean_s: 1, stddev_s: 0.1}}}",
    "latency: {default: {ms: 40}, operations: {download_evidence: {model: lognormal, median_ms: 9}}}",
    "bandwidth: {bytes_per_s: 1, per_connection: true, chunk_bytes: 8}",
    "lifecycle: {connect_delay: 2, task_duration: {model: uniform, min_s: 1, max_s: 1}, task_polls: 3,"
    " intermediate_statuses: RUNNING, task_outcomes: {ERROR: 1, COMPLETED: 0},"
    " missing_path_status: INCOMPLETE, session_lifetime_s: 0.5, offline_fraction: 1,"
    " missing_trace_fraction: 0}",
    "fleet: {endpoints: 0, linux_fraction: 0.5, profile_mix: {stress: 1}}",
    "scans: {interval_s: 0, churn: none}",
    "scans: {interval_s: 60, churn: {new_artifacts: 10, move_file: 1}}",
    "faults:\n  - name: a\n    match: {operation: [connect, get_task], method: post, client_id: [101, '102'],"
    " header: {x-trace: ''}, path: '*/x', path_regex: '^/a'}\n    window_s: {start: 5}\n"
    "    times: 2\n    every_n: 3\n    after: 0\n    enabled: false\n    fault: {type: truncate, at_byte: 0}",
    "faults: [{name: a, window_s: [0, 0], fault: {type: delay, latency: {model: fixed, s: 1}}}]",
    "faults: [{name: a, fault: {type: status, status: 429, text: busy, retry_after_s: null}}]",
    "faults: [{name: a, fault: {type: empty}}, {name: b, fault: {type: dribble, chunk_bytes: 1}}]",
    "expect: {default: [success, transport], offline: connection_timeout}",
]
# Each broken in one field the JSON Schema can express (the loader also checks what it cannot: max >= min
# in a uniform delay, unique rule names, a regular expression that compiles).
BAD = [
    "latency: {default: {dist: banana}}",
    "latency: {default: {model: banana, ms: 1}}",
    "latency: {default: {model: uniform, min_ms: 1}}",
    "latency: {default: -1}",
    "latency: {operations: {nope: 5}}",
    "bandwidth: {chunk_bytes: 0}",
    "bandwidth: {per_connection: 1}",
    "lifecycle: {offline_fraction: 1.5}",
    "lifecycle: {task_polls: 1.5}",
    "lifecycle: {intermediate_statuses: [RUNNING, STARTED]}",
    "lifecycle: {task_outcomes: {COMPLETED: 0}}",
    "lifecycle: {task_outcomes: {DONE: 1}}",
    "lifecycle: {missing_path_status: LOST}",
    "lifecycle: {session_lifetime_s: 0}",
    "fleet: {endpoints: 10000001}",
    "fleet: {profile_mix: {huge: 1}}",
    "scans: {interval_s: 30}",
    "scans: {churn: sometimes}",
    "scans: {churn: {move_file: 2}}",
    "seed: 1.5",
    "name: ''",
    "surprise: 1",
    "expect: {}",
    "expect: {default: []}",
    "faults: {name: a}",
    "faults: [{fault: {type: reset}}]",
    "faults: [{name: a}]",
    "faults: [{name: a, fault: {type: explode}}]",
    "faults: [{name: a, fault: {status: 503}}]",
    "faults: [{name: a, fault: {type: status, status: 200}}]",
    "faults: [{name: a, fault: {type: reset, status: 503}}]",
    "faults: [{name: a, fault: {type: truncate}}]",
    "faults: [{name: a, fault: {type: truncate, at_byte: 1, fraction: 0.5}}]",
    "faults: [{name: a, fault: {type: delay}}]",
    "faults: [{name: a, probability: 2, fault: {type: reset}}]",
    "faults: [{name: a, every_n: 0, fault: {type: reset}}]",
    "faults: [{name: a, window_s: [5], fault: {type: reset}}]",
    "faults: [{name: a, window_s: {begin: 5}, fault: {type: reset}}]",
    "faults: [{name: a, enabled: 'no', fault: {type: reset}}]",
    "faults: [{name: a, match: {operation: nope}, fault: {type: reset}}]",
    "faults: [{name: a, match: {colour: red}, fault: {type: reset}}]",
    "faults: [{name: a, match: {header: {x: 1}}, fault: {type: reset}}]",
]


@pytest.fixture(scope="module")
def validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", available())
def test_every_named_scenario_validates_against_the_schema(name: str, validator: Any) -> None:
    data = yaml.safe_load(resolve(name).read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(data)] == []


@pytest.mark.parametrize("text", GOOD)
def test_what_the_loader_accepts_the_schema_accepts(text: str, validator: Any) -> None:
    Scenario.from_text(text, source="good.yaml")
    assert [e.message for e in validator.iter_errors(yaml.safe_load(text))] == []


@pytest.mark.parametrize("text", BAD)
def test_what_the_schema_refuses_the_loader_refuses(text: str, validator: Any) -> None:
    assert list(validator.iter_errors(yaml.safe_load(text))), "the schema accepted it"
    with pytest.raises(ScenarioError):
        Scenario.from_text(text, source="bad.yaml")


# Values to put in every place of the GOOD scenarios, one at a time (and each key taken out).
ODD: list[Any] = [None, -1, 0, 0.5, 1.5, 100, "x", "", "none", "GET", [], [1], [0, 1], {}, {"x": 1}, True]
# What the loader checks that JSON Schema cannot say: an order between two values.
ORDER_ONLY = ("expected max >= min", "0 <= start_s <= end_s")


def paths(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        yield (*path, key)
        yield from paths(value, (*path, key))


def mutants(doc: Any, odd: list[Any]) -> Iterator[Any]:
    """``doc`` with each of its values replaced by each of ``odd``, and with each of its keys removed."""
    for path in list(paths(doc)):
        for value in [*odd, KeyError]:
            if value is KeyError and not isinstance(path[-1], str):
                continue
            copy = json.loads(json.dumps(doc))
            node = copy
            for part in path[:-1]:
                node = node[part]
            if value is KeyError:
                del node[path[-1]]
            else:
                node[path[-1]] = value
            yield copy


def load(doc: Any) -> SpecError | None:
    """The loader's verdict on ``doc``: None (accepted) or its SpecError; anything else escapes."""
    try:
        Scenario.from_data(doc)
    except SpecError as exc:
        return exc
    return None


@pytest.mark.parametrize("text", GOOD)
def test_the_loader_and_the_schema_agree_on_every_one_field_change(text: str, validator: Any) -> None:
    """The loader accepts exactly what the schema accepts (bar an order between two values), and any
    input it refuses is a SpecError: what it converts, its field table has checked."""
    disagree = []
    for doc in mutants(yaml.safe_load(text) or {}, ODD):
        error = load(doc)
        if (error is None) != validator.is_valid(doc):
            if error is not None and any(order in str(error) for order in ORDER_ONLY):
                continue
            disagree.append(f"loader {'accepts' if error is None else 'refuses'}: {json.dumps(doc)}")
    assert disagree == []


@pytest.mark.parametrize("text", GOOD)
def test_no_value_makes_the_loader_fail_other_than_with_a_spec_error(text: str) -> None:
    for doc in mutants(yaml.safe_load(text) or {}, [float("inf"), float("nan"), -0.0, 2**70, [[]], "∞"]):
        load(doc)


# -- the docs cover the schema ----------------------------------------------------------------------
def property_names(node: Any) -> Iterator[str]:
    """Every property name anywhere in a JSON Schema (nested objects, variants and $defs included)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                yield from value
            yield from property_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from property_names(item)


def test_docs_name_every_property_of_the_schema() -> None:
    schema = scenario_schema()
    names = set(property_names(schema))
    rule = schema["properties"]["faults"]["items"]["properties"]
    assert set(schema["properties"]) | set(rule) <= names  # top-level and rule-level are among them
    assert {"sigma", "interval_ms", "move_file", "header", "start"} <= names
    docs = DOCS.read_text(encoding="utf-8")
    missing = sorted(n for n in names if f"`{n}`" not in docs)
    assert missing == [], f"docs/scenarios.md does not document: {', '.join(missing)}"


def test_docs_name_every_fault_type_and_delay_model() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    missing = [f"type: {kind}" for kind in FAULT_FIELDS if f"`{kind}`" not in docs]
    missing += [f"model: {model}" for model in MODELS if f"`{model}`" not in docs]
    assert missing == []


def test_docs_show_the_commands_and_the_editor_modeline() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for text in ("tanium-sim scenario schema", "tanium-sim scenario validate", SCHEMA_MODELINE):
        assert text in docs
