"""``tanium-sim collect``: usage errors (exit 2, one sentence), a refused server, and runs against respx."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest
import respx

from simulator.cli import main
from tests.inprocess.tanium_fakes import (
    BASE,
    CLIENT_ID,
    TOKEN,
    TRACE,
    FakeTanium,
    conn,
    listed_after_connect,
    ok,
    plays,
    task,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TANIUM_URL", "TANIUM_TOKEN", "TANIUM_USERNAME", "TANIUM_PASSWORD", "TANIUM_DOMAIN"):
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--token", "t", "--client-id", "1"], "no server URL: pass --url or set TANIUM_URL"),
        (["--url", "127.0.0.1:8080", "--token", "t", "--all"], "is not a server URL"),
        (["--url", "ftp://h", "--token", "t", "--all"], "is not a server URL"),
        (["--url", "http://h", "--all"], "no credential: pass --token"),
        (["--url", "http://h", "--username", "u", "--all"], "--username needs a password"),
        (["--url", "http://h", "--token", "t", "--client-id", " "], "no endpoint to collect"),
    ],
)
def test_usage_errors_exit_2_with_one_sentence(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["collect", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tanium-sim: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_out_that_is_a_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert main(["collect", "--url", "http://h", "--token", "t", "--all", "--out", str(tmp_path / "f")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_missing_target_and_bad_numbers_are_argparse_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--url", "http://h"], ["--all", "--concurrency", "0"], ["--all", "--client-id", "1"]):
        with pytest.raises(SystemExit) as info:
            main(["collect", *argv])
        assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_refused_connection_is_one_clear_line_per_endpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(["collect", "--url", url, "--token", TOKEN, "--client-id", "1", "--out", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    expected = f"failed 1: connect: could not connect to {url} (connection refused): is the server running"
    assert expected in err and "Traceback" not in err
    assert "collected 0 of 1 endpoints" in out and "1 failed (1 connect)" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["endpoints"]["1"]["reason"] == "connect"
    assert TOKEN not in (tmp_path / "summary.json").read_text()


def test_refused_connection_with_all_cannot_list_the_fleet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(["collect", "--url", url, "--token", TOKEN, "--all", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"tanium-sim: could not list the endpoints: could not connect to {url} (connection refused)" in err
    assert json.loads((tmp_path / "summary.json").read_text())["error"].startswith("could not list")


def test_collect_from_the_environment_writes_trace_and_summary(
    mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    fake = FakeTanium(mock)
    fake.conns.side_effect = listed_after_connect(fake.connect, conn("connected"))
    fake.task.side_effect = plays(ok(task("COMPLETED")))
    monkeypatch.setenv("TANIUM_URL", BASE)
    monkeypatch.setenv("TANIUM_TOKEN", TOKEN)
    assert main(["collect", "--client-id", CLIENT_ID, "--out", str(tmp_path)]) == 0
    assert (tmp_path / f"{CLIENT_ID}.cst.gz").read_bytes() == TRACE
    summary = json.loads((tmp_path / "summary.json").read_text())
    entry = summary["endpoints"][CLIENT_ID]
    assert entry["status"] == "ok" and entry["reason"] is None
    assert (entry["bytes"], entry["sha256"]) == (len(TRACE), hashlib.sha256(TRACE).hexdigest())
    assert entry["inventory"]["record_count"] == 50
    assert entry["inventory"]["findings"]["unencrypted_private_key"] == 50
    assert {"connect_s", "task_s", "download_s", "total_s"} <= set(entry["timings"])
    assert summary["counts"] == {"total": 1, "ok": 1, "failed": 0}
    assert TOKEN not in (tmp_path / "summary.json").read_text()  # no credential in the summary
    assert fake.close.called and fake.delete.called
    assert "collected 1 of 1 endpoints" in capsys.readouterr().out


def test_collect_all_reports_each_failure_and_exits_1(
    mock: respx.MockRouter, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakeTanium(mock)
    rows = [
        {"computer_id": cid, "host_name": f"h{cid}", "ipaddress_client": "10.0.0.1"}
        for cid in (CLIENT_ID, "456")
    ]
    mock.get(f"{BASE}/api/v2/system_status").mock(return_value=ok({"data": rows}))
    lost = conn("timeout", id="remote:h456:456:", client_id="456") | {
        "message": "The connection has timed out."
    }
    fake.conns.side_effect = listed_after_connect(fake.connect, conn("connected"), lost)
    fake.task.side_effect = plays(ok(task("COMPLETED")))
    login = ["--username", "collector-7f3a", "--password", "pw-Secret-4b1e9c"]
    argv = ["collect", "--url", BASE, *login, "--all", "--out", str(tmp_path)]
    assert main([*argv, "--concurrency", "2"]) == 1
    out, err = capsys.readouterr()
    assert "failed 456: connection_timeout: endpoint 456 did not connect (status timeout" in err
    assert "collected 1 of 2 endpoints" in out and "(1 connection_timeout)" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["endpoints"]["456"]["status"] == "failed"
    assert summary["endpoints"][CLIENT_ID]["status"] == "ok"
    assert fake.login.call_count == 1  # one session shared by every endpoint
    text = (tmp_path / "summary.json").read_text()
    assert "pw-Secret-4b1e9c" not in text and "1-224-abc" not in text  # neither the password nor the session


def test_an_endpoint_the_fleet_does_not_list_fails_at_once_as_unknown_or_offline(
    mock: respx.MockRouter, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = FakeTanium(mock)  # its system status lists CLIENT_ID only
    argv = ["collect", "--url", BASE, "--token", TOKEN, "--client-id", "999", "--out", str(tmp_path)]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "failed 999: unknown_endpoint: endpoint 999 is unknown or offline" in err
    assert "(1 unknown_endpoint)" in out and not fake.connect.called
