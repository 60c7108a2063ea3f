"""``tanium-sim scenario list`` and ``scenario validate``: exit codes, and errors that name the file and
the field, without a traceback.

Only what is stable is asserted: success or failure, that the file and the bad field are named, that
no traceback is printed. tests/unit/test_scenario_validate_cli.py pins validate's report itself (every
problem of a file, one line each, then a count).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import main
from simulator.scenarios import available

GOOD = (
    "# Good: a reset now and then.\nfaults:\n  - {name: sometimes, probability: 0.5, fault: {type: reset}}\n"
)
BAD_FIELD = "faults:\n  - name: too-likely\n    probability: 2\n    fault: {type: reset}\n"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_list_names_every_library_scenario_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["scenario", "list"], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == available()
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # a description on every line
    assert "INVALID" not in out


def test_list_of_a_folder_shows_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text(BAD_FIELD)
    code, out, _ = run(["scenario", "list", "--dir", str(tmp_path)], capsys)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["broken", "mine"]
    assert "Good: a reset now and then." in out


def test_list_of_a_folder_without_scenarios_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["scenario", "list", "--dir", str(tmp_path)], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and str(tmp_path) in err


def test_validate_a_good_file_and_library_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    code, out, err = run(["scenario", "validate", str(good), "flaky-5xx", "hangs"], capsys)
    assert (code, err) == (0, "")
    oks = [line for line in out.splitlines() if line.startswith("ok ")]
    assert len(oks) == 3 and str(good) in oks[0]
    assert "flaky-5xx" in oks[1] and "hangs" in oks[2]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (BAD_FIELD, "probability"),
        ("faults:\n  - {name: x, fault: {type: explode}}\n", "type"),
        ("latency: {default: {model: lognormal, median_ms: -5}}\n", "median_ms"),
        ("lifecycle: {connect_delay: soon}\n", "connect_delay"),
        ("surprise: 1\n", "surprise"),
    ],
    ids=["probability", "fault-type", "median_ms", "connect_delay", "unknown-key"],
)
def test_validate_a_bad_file_names_the_file_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    code, out, err = run(["scenario", "validate", str(bad)], capsys)
    assert code in (1, 2) and f"ok {bad}" not in out  # a failure, not a crash
    assert str(bad) in err and field in err


def test_validate_not_yaml_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults: [unclosed\n")
    code, _, err = run(["scenario", "validate", str(bad)], capsys)
    assert code in (1, 2) and str(bad) in err


def test_validate_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run(["scenario", "validate", str(missing)], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("tanium-sim: ") and str(missing) in err


def test_a_reader_that_stops_early_gets_no_complaint() -> None:
    """``tanium-sim scenario list | head -1``: the pipe closes under the writer; it stops quietly with 141
    (128 + SIGPIPE, what a shell reports), never ``tanium-sim: Broken pipe`` or a traceback."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line: the first write fails at once
    try:
        done = subprocess.run(
            [sys.executable, "-m", "simulator", "scenario", "list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")
