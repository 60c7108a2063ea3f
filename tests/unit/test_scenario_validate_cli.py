"""``tanium-sim scenario validate FILE...`` reports every problem of every file, one line each
(``FILE:LINE: path.to.field: what is wrong (allowed: ...)``), then a count; exit 1 when any file has a
problem. JSON files are read as JSON. The server's loader keeps answering one vendor 400 whose text
joins the problems.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from simulator.app import create_app
from simulator.cli import main
from simulator.faults.spec import MAX_JOINED
from simulator.scenarios import Scenario, ScenarioError
from simulator.settings import Settings

MODELS = "fixed, uniform, normal, lognormal"
FOUR_PROBLEMS = """\
latency:
  default: {model: uniform, min_ms: 5, max_ms: 1}
faults:
  - name: a
    probability: 1.5
    fault: {type: explode}
  - name: a
    fault: {type: reset}
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], list[str]]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err.splitlines()


def test_every_problem_of_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FOUR_PROBLEMS)
    code, out, err = run(["scenario", "validate", str(bad)], capsys)
    assert code == 1
    assert err == [
        f"{bad}:2: latency.default.max_ms: expected max >= min",
        f"{bad}:5: faults[0].probability: expected a number <= 1, got 1.5",
        f"{bad}:6: faults[0].fault.type: unknown fault 'explode' (allowed: status, session_invalid, "
        "session_expired, reset, empty, malformed_json, truncate, hang, dribble, corrupt, content_type, "
        "delay)",
        f"{bad}:7: faults[1].name: duplicate rule name 'a'; names must be unique",
    ]
    assert out == ["4 problems in 1 of 1 file; docs/scenarios.md describes every field"]


def test_an_unknown_delay_field_names_the_field_and_the_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "dist.yaml"
    bad.write_text("seed: 1\nlatency:\n  default: {dist: banana}\n  operations: {connect: {model: gamma}}\n")
    code, _, err = run(["scenario", "validate", str(bad)], capsys)
    assert code == 1
    assert err[0] == (
        f"{bad}:3: latency.default.dist: unknown field; with no 'model' the delay is fixed; "
        f"models: {MODELS} (allowed: model, ms, s)"
    )
    assert f"{bad}:4: latency.operations.connect.model: unknown model 'gamma' (allowed: {MODELS})" in err


def test_json_files_are_read_as_json_with_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trailing = tmp_path / "trailing.json"
    trailing.write_text('{\n  "seed": 1,\n  "faults": [1,]\n}\n')
    yamlish = tmp_path / "yamlish.json"
    yamlish.write_text("{seed: 1}\n")  # valid YAML, not JSON
    field = tmp_path / "field.json"
    field.write_text(
        '{\n  "seed": 1,\n  "faults": [\n'
        '    {"name": "x", "probability": 7, "fault": {"type": "reset"}}\n  ]\n}'
    )
    code, out, err = run(["scenario", "validate", str(trailing), str(yamlish), str(field)], capsys)
    assert code == 1
    assert err == [
        f"{trailing}:3:16: not valid JSON (Expecting value)",
        f"{yamlish}:1:2: not valid JSON (Expecting property name enclosed in double quotes)",
        f"{field}:4: faults[0].probability: expected a number <= 1, got 7",
    ]
    assert out == ["3 problems in 3 of 3 files; docs/scenarios.md describes every field"]


def test_a_yaml_file_may_open_with_a_flow_mapping(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("{seed: 4, latency: {default: 5}}\n")
    assert Scenario.load(flow).seed == 4


def test_valid_files_pass_with_a_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"seed": 2, "faults": [{"name": "r", "fault": {"type": "reset"}}]}')
    code, out, err = run(["scenario", "validate", str(good), "flaky-5xx"], capsys)
    assert (code, err) == (0, [])
    assert out[0] == f"ok {good} (good: 1 fault rules)" and out[1].startswith("ok ")
    assert out[2] == "2 files checked: all valid"


def test_one_bad_file_among_good_ones_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("seed: 1\n")
    bad.write_text("seed: one\n")
    code, out, err = run(["scenario", "validate", str(bad), str(good)], capsys)
    assert code == 1
    assert err == [f"{bad}:1: seed: expected a number, got a string"]
    assert out == [
        f"ok {good} (good: 0 fault rules)",
        "1 problem in 1 of 2 files; docs/scenarios.md describes every field",
    ]


def test_a_missing_file_is_a_usage_error_before_any_file_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: one\n")
    code, out, err = run(["scenario", "validate", str(bad), str(tmp_path / "nope.yaml")], capsys)
    assert (code, out) == (2, [])
    assert err == [f"tanium-sim: {tmp_path / 'nope.yaml'}: no such file"]


def test_the_joined_text_spells_out_ten_problems_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    many = tmp_path / "many.yaml"
    many.write_text("".join(f"unknown{i}: 1\n" for i in range(MAX_JOINED + 5)))
    with pytest.raises(ScenarioError) as info:
        Scenario.load(many)
    assert len(info.value.errors) == MAX_JOINED + 5
    assert str(info.value).count(" | ") == MAX_JOINED and str(info.value).endswith(" | and 5 more")
    assert str(info.value).startswith(f"{many}:1: unknown0: unknown field; expected one of name, seed")
    code, _, err = run(["scenario", "validate", str(many)], capsys)
    assert code == 1 and len(err) == MAX_JOINED + 5  # the command line shows them all


@pytest.mark.anyio
async def test_the_server_answers_one_vendor_400_joining_the_problems() -> None:
    settings = Settings(seed=1, endpoints=2, token="token-0123456789abcdef", admin_token="admin")
    app = create_app(settings, scenario=Scenario.from_text("seed: 1"))
    transport = httpx.ASGITransport(app=app)
    auth = {"authorization": "Bearer admin"}
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=auth) as admin:
        r = await admin.put("/_sim/scenario", content="seed: x\nfleet: {endpoints: -1}\n")
        assert r.status_code == 400
        assert r.json() == {
            "text": "400 Bad Request: PUT /_sim/scenario:1: seed: expected a number, got a string | "
            "PUT /_sim/scenario:2: fleet.endpoints: expected a number >= 0, got -1"
        }
        r = await admin.post(
            "/_sim/faults", json={"name": "r", "probability": 3, "fault": {"type": "hang", "x": 1}}
        )
        assert r.status_code == 400
        assert r.json() == {
            "text": "400 Bad Request: probability: expected a number <= 1, got 3 | "
            "fault.x: unknown field; expected one of type, max_s"
        }
        assert (await admin.get("/_sim/faults")).json() == {"faults": []}
