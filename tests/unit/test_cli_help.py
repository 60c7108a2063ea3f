"""Every ``tanium-sim`` sub-command, found from the parser: its ``--help`` has a description and an
example and is not wrapped at 80 columns off a terminal; bad inputs get one line on stderr, exit 2 for
usage and 1 for run-time failures, and never a traceback. In-process, through ``simulator.cli.main``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulator.cli import build_parser, main, subcommands

PATHS = [path for path, _ in subcommands(build_parser())]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real home, no inherited server or credential: each case sees only what it passes."""
    monkeypatch.setenv("TANIUM_SIM_STATE", str(tmp_path))
    for name in ("TANIUM_URL", "TANIUM_TOKEN", "TANIUM_USERNAME", "TANIUM_PASSWORD", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_walk_finds_every_sub_command() -> None:
    expected = {"run", "serve", "collect", "qa", "record", "conform", "trace generate", "tls truststore"}
    assert expected | {"runbook stop", "scenario validate"} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS)
def test_help_has_a_description_and_an_example(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run([*path.split(), "--help"], capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"usage: tanium-sim {path}")
    description = out.split("\n\n")[1]
    assert not description.startswith(("positional arguments", "options")), f"{path}: no description"
    assert "\n" not in description  # off a terminal, nothing is wrapped at 80 columns
    examples = out.split("examples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith("  tanium-sim ") or "tanium-sim " in line for line in examples)


def test_no_help_text_points_outside_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    """A user's clone has no ``../shared``: help texts name docs/ files that exist, never the source notes."""
    root = Path(__file__).resolve().parents[2]
    for path in ["", *PATHS]:
        _, out, _ = run([*path.split(), "--help"], capsys)
        assert "../shared" not in out and "spec §" not in out, path
        for doc in re.findall(r"docs/[\w./-]+\.md", out):
            assert (root / doc).is_file(), f"tanium-sim {path} --help names {doc}, which does not exist"


def test_runbook_steps_have_their_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["runbook", "stop", "--help"], capsys)
    assert code == 0 and out.startswith("usage: tanium-sim runbook stop") and "--complete-percent" in out
    assert "--force" not in out  # uninstall's alone


# Each case: the command line, the exit code, and a piece of the one line it must print on stderr.
BAD_INPUTS = [
    (["nope"], 2, "invalid choice: 'nope'"),
    (["run", "--endpoints", "0"], 2, "'0' is not a whole number of at least 1"),
    (["run", "--out", "/proc/nope"], 2, "--out /proc/nope cannot be created"),
    (["run", "--seed", "x"], 2, "invalid int value: 'x'"),
    (["serve", "--port", "x"], 2, "invalid int value"),
    (["trace"], 2, "the following arguments are required: ACTION"),
    (["trace", "generate", "--seed", "1", "--profile", "huge", "--out", "t.gz"], 2, "invalid choice: 'huge'"),
    (
        [
            "trace",
            "generate",
            "--seed",
            "1",
            "--profile",
            "stress",
            "--records",
            "99999999999",
            "--out",
            "t.gz",
        ],
        2,
        "--records must be between 1 and 1,000,000",
    ),
    (["trace", "generate", "--seed", "1", "--profile", "small", "--out", "no/t.gz"], 2, "does not exist"),
    (["trace", "generate", "--seed", "1", "--profile", "small", "--out", "/proc/t.gz"], 1, "/proc/t.gz"),
    (["trace", "inspect", "missing.cst.gz"], 2, "missing.cst.gz does not exist"),
    (["trace", "validate", "missing.cst.gz"], 2, "missing.cst.gz does not exist"),
    (["trace", "diff", "a", "b", "--out", "c"], 2, "a does not exist or is not a file"),
    (["trace", "apply", "a", "b", "--out", "c"], 2, "a does not exist or is not a file"),
    (["collect", "--all"], 2, "no server URL"),
    (["collect", "--url", "http://h", "--token", "t", "--all", "--out", "/proc/nope"], 2, "--out /proc/nope"),
    (
        ["collect", "--url", "http://h", "--token", "t", "--all", "--ca-bundle", "none.pem"],
        2,
        "cannot be read",
    ),
    (["collect", "--url", "http://h", "--token", "t", "--all", "--timeout", "0"], 2, "above 0"),
    (["scenario", "validate", "no-such-scenario"], 2, "no-such-scenario"),
    (["scenario", "list", "--dir", "."], 2, "no scenario files"),
    (["scenario", "schema", "--out", "/proc/nope/s.json"], 2, "cannot write /proc/nope/s.json"),
    (["qa", "--seeds", "0"], 2, "between 1 and 1000"),
    (
        ["tls", "export-ca", "ca.pem", "--state-dir", "no-such-dir"],
        2,
        "--state-dir no-such-dir does not exist",
    ),
    (["tls", "export-ca", "/proc/nope/ca.pem"], 2, "cannot write /proc/nope/ca.pem"),
    (["tls", "truststore", "--out", "t.jks", "--storepass", "abc"], 2, "at least 6 characters"),
    (["runbook"], 2, "the following arguments are required: STEP"),
    (
        ["runbook", "stop", "--url", "http://h", "--token", "t"],
        2,
        "--computer-name NAME, --where TEXT or --all",
    ),
    (["runbook", "status", "--url", "h", "--token", "t"], 2, "is not a server URL"),
    (["runbook", "status", "--url", "http://h", "--username", "u"], 2, "--username needs a password"),
    (["runbook", "status", "--complete-percent", "101"], 2, "not a percentage between 0 and 100"),
    (["runbook", "status", "--complete-percent", "-1"], 2, "not a percentage between 0 and 100"),
    (["runbook", "uninstall", "--url", "http://h", "--token", "t", "--all", "--timeout", "0"], 2, "above 0"),
    (["record", "--out", "x.har"], 2, "--upstream"),
    (["conform", "missing.har"], 2, "missing.har"),
]


@pytest.mark.parametrize(
    ("argv", "code", "message"), BAD_INPUTS, ids=[" ".join(c[0])[:60] for c in BAD_INPUTS]
)
def test_bad_inputs_are_one_line_with_the_right_exit_code(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, _, err = run(argv, capsys)
    assert "Traceback" not in err
    assert (got, err.count("\n")) == (code, 1), err
    assert message in err


def command_of(argv: list[str]) -> str:
    """The longest sub-command path ``argv`` starts with."""
    return max((p for p in PATHS if argv[: len(p.split())] == p.split()), key=len, default="")


def test_every_sub_command_gets_a_bad_input() -> None:
    leaves = {p for p in PATHS if not any(q.startswith(f"{p} ") for q in PATHS)}
    assert leaves - {command_of(argv) for argv, _, _ in BAD_INPUTS} == set()
