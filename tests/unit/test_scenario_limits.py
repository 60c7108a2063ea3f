"""Scenario input that is hostile or absurd: nesting deep enough to exhaust the interpreter's stack, files
too large to be scenarios, and names that are really paths. Each is one ScenarioError sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import main
from simulator.scenarios import MAX_BYTES, MAX_DEPTH, Scenario, ScenarioError, resolve_name

DEEP = 20_000


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * DEEP + "]" * DEEP, id="flow-sequences"),
        pytest.param('{"a": ' * DEEP + "1" + "}" * DEEP, id="json-objects"),
        pytest.param("faults: " + "[" * DEEP, id="unclosed-inside-a-section"),
        pytest.param("- " * DEEP + "x", id="block-sequences"),
        pytest.param("".join(" " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 2)), id="indentation"),
    ],
)
def test_deep_nesting_is_one_scenario_error(text: str) -> None:
    with pytest.raises(ScenarioError, match=f"nested deeper than {MAX_DEPTH} levels") as info:
        Scenario.from_text(text, source="deep.yaml")
    assert str(info.value).startswith("deep.yaml:")


def test_flow_nesting_is_refused_where_it_passes_the_limit() -> None:
    # The scanner stops at the first bracket too many (line 33), before looking ahead through the rest.
    with pytest.raises(ScenarioError) as info:
        Scenario.from_text("[\n" * DEEP, source="deep.yaml")
    assert info.value.line == MAX_DEPTH + 1


def test_nesting_a_scenario_needs_still_loads() -> None:
    rule = '{"name": "x", "match": {"operation": "connect"}, "fault": {"type": "status", "status": 503}}'
    text = f'{{"faults": [{rule}]}}'
    assert Scenario.from_text(text, source="ok.json").faults[0].name == "x"


def test_a_file_too_large_to_be_a_scenario_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * (MAX_BYTES // 10 + 1) + b"\xff not text")  # past the cap: never read
    with pytest.raises(ScenarioError, match="larger than"):
        Scenario.load(big)


def test_validate_reports_a_deep_file_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * DEEP + "]" * DEEP)
    assert main(["scenario", "validate", str(deep)]) == 1  # a file with a problem (2: no such file)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nested deeper" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "name", ["/etc/shadow", "/etc/passwd", "../scenarios/baseline", "..", "../../etc/passwd", "a/b", "x\\y"]
)
def test_names_that_are_paths_are_refused_without_reading_them(name: str) -> None:
    with pytest.raises(ScenarioError, match="expected a scenario name") as info:
        resolve_name(name)
    assert "root:" not in str(info.value)


def test_a_name_resolves_only_inside_the_directory(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "mine.yaml").write_text("seed: 4\n")
    outside = tmp_path / "secret.yaml"
    outside.write_text("# first line of a secret\nseed: 99\n")
    (library / "escape.yaml").symlink_to(outside)  # a link out of the library is not a scenario of it
    assert Scenario.load_named("mine", directory=library).seed == 4
    assert Scenario.load_named("mine.yaml", directory=library).seed == 4
    for name in ("escape", "secret", "../secret"):
        with pytest.raises(ScenarioError) as info:
            Scenario.load_named(name, directory=library)
        assert "first line" not in str(info.value)
