"""Named scenarios are found in a checkout and in an installed wheel (shipped inside the package)."""

from __future__ import annotations

from pathlib import Path

import pytest

import simulator.scenarios as scenarios_module


def test_a_checkout_reads_scenarios_from_its_folder() -> None:
    root = Path(scenarios_module.__file__).resolve().parents[1]
    assert root / "scenarios" == scenarios_module.SCENARIO_DIR
    assert "baseline" in scenarios_module.available()


def test_an_installed_package_reads_its_shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site-packages" / "simulator"
    (package / "_scenarios").mkdir(parents=True)
    monkeypatch.setattr(scenarios_module, "__file__", str(package / "scenarios.py"))
    assert scenarios_module._scenario_dir() == package / "_scenarios"


def test_the_wheel_ships_every_scenario() -> None:
    """pyproject.toml force-includes scenarios/ as simulator/_scenarios in the wheel."""
    import tomllib

    root = Path(scenarios_module.__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"] == {"scenarios": "simulator/_scenarios"}
