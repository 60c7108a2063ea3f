"""``tanium-sim serve`` usage errors: a bad value or a bad combination of flags is exit 2 and one line on
stderr naming the flag, before anything listens.

``uvicorn.Server.run`` is replaced by one that fails the test: a usage error that slipped through would
start serving (and hang the test) instead.
"""

from __future__ import annotations

import pytest
import uvicorn

from simulator.cli import main

CASES = [
    (["--port", "70000"], "port must be between 0 and 65535"),
    (["--port", "-1"], "port must be between 0 and 65535"),
    (["--port", "http"], "invalid int value: 'http'"),
    (["--endpoints", "-3"], "endpoints must be >= 0"),
    (["--token", "abc123"], "--token must look like a Tanium API token"),
    (["--tls-key", "key.pem"], "--tls-key needs --tls-cert"),
    (["--workers", "2"], "--workers 2 needs a shared store"),
    (["--scenario", "no-such-scenario"], "no-such-scenario"),
    (["--clock", "sundial"], "invalid choice: 'sundial'"),
    (["--max-connections", "0"], "expected a whole number >= 1"),
    (["--keep-alive-timeout", "0"], "expected more than 0 seconds"),
    (["--graceful-timeout", "soon"], "--graceful-timeout"),
    (["--task-retention", "-1"], "task_retention must be >= 0"),
    (["--replay-mode", "strict"], "needs --replay HAR"),
    (["--traces-dir", "no/such/folder"], "no/such/folder"),
]


@pytest.fixture(autouse=True)
def never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: uvicorn.Server, *args: object, **kwargs: object) -> None:
        raise AssertionError("serve started serving: the usage error was not caught")

    monkeypatch.setattr(uvicorn.Server, "run", refuse)


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_flags_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["serve", "--port", "0", *argv])
    except SystemExit as exc:  # argparse's own checks (types, choices)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("tanium-sim") and message in err, err
