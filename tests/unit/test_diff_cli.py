"""``tanium-sim trace diff`` / ``trace apply``: the round trip, and refusals that leave OUT untouched."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import pytest

from client._diff import Inventory
from simulator.cli import main
from simulator.traces import ChurnRates, TraceSpec, generate_trace

CHURN = ChurnRates(0.3, 0.3, 0.2, 0.1, 0.3, 0.2)


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("scans")
    base = TraceSpec(
        seed=9, index=2, client_id="7", hostname="db-b-02", platform="Linux", profile="small", churn=CHURN
    )
    paths = []
    for scan in (1, 2, 3):
        path = folder / f"scan{scan}.cst.gz"
        path.write_bytes(
            generate_trace(replace(base, scan=scan, scan_time=base.scan_time + (scan - 1) * 86_400)).data
        )
        paths.append(path)
    return paths


def test_diff_then_apply_rebuilds_the_new_scan(
    scans: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    diff, rebuilt = tmp_path / "d.cst.gz", tmp_path / "r.cst.gz"
    assert main(["trace", "diff", str(scans[0]), str(scans[1]), "--out", str(diff)]) == 0
    assert " added, " in capsys.readouterr().out
    assert main(["trace", "apply", str(scans[0]), str(diff), "--out", str(rebuilt)]) == 0
    assert Inventory.from_trace(rebuilt).records == Inventory.from_trace(scans[1]).records
    assert main(["trace", "validate", str(diff)]) == 0


def refused(argv: list[str], out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    out.write_bytes(b"previous inventory")
    assert main(argv) == 1
    assert out.read_bytes() == b"previous inventory"  # untouched
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_apply_refuses_a_diff_against_another_baseline(
    scans: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    diff, out = tmp_path / "d23.cst.gz", tmp_path / "out.cst.gz"
    assert main(["trace", "diff", str(scans[1]), str(scans[2]), "--out", str(diff)]) == 0
    err = refused(["trace", "apply", str(scans[0]), str(diff), "--out", str(out)], out, capsys)
    assert "refused" in err and "the diff was made against scan" in err


def test_apply_refuses_a_truncated_diff(
    scans: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    diff, cut, out = tmp_path / "d.cst.gz", tmp_path / "cut.cst", tmp_path / "out.cst.gz"
    assert main(["trace", "diff", str(scans[0]), str(scans[1]), "--out", str(diff)]) == 0
    lines = gzip.decompress(diff.read_bytes()).splitlines(keepends=True)
    cut.write_bytes(b"".join(lines[:-3]))
    err = refused(["trace", "apply", str(scans[0]), str(cut), "--out", str(out)], out, capsys)
    assert "no summary trailer" in err
    assert main(["trace", "apply", str(scans[0]), str(cut), "--out", str(out), "--allow-no-summary"]) == 0


def test_usage_errors_exit_2(scans: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "diff", str(tmp_path / "nope"), str(scans[1]), "--out", str(tmp_path / "d")]) == 2
    diff = tmp_path / "d.cst.gz"
    assert main(["trace", "diff", str(scans[0]), str(scans[1]), "--out", str(diff)]) == 0
    assert main(["trace", "diff", str(diff), str(scans[1]), "--out", str(tmp_path / "x")]) == 2
    assert "is a diff trace" in capsys.readouterr().err


def test_collect_diff_reports_bytes_beside_full_traces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import httpx

    import client
    from simulator.app import create_app
    from simulator.clock import ManualClock
    from simulator.settings import FleetProfile, Lifecycle, Settings

    settings = Settings(
        seed=3, endpoints=3, token="token-x", admin_token="adm",
        fleet=FleetProfile(profile_mix={"small": 1.0}),
        lifecycle=Lifecycle(connect_delay_s=0.0, task_duration_s=0.0), churn=CHURN,
    )  # fmt: skip
    app = create_app(settings, clock=ManualClock())
    real = client.collect_many
    monkeypatch.setattr(  # the command calls client.collect_many: run it on the app, in-process
        client,
        "collect_many",
        lambda options, **kw: real(options, transport=httpx.ASGITransport(app=app), **kw),
    )
    argv = ["collect", "--url", "http://sim", "--token", "token-x", "--all", "--diff", "--out", str(tmp_path)]
    assert main(argv) == 0
    first = json.loads((tmp_path / "summary.json").read_text())
    assert first["transfer"]["modes"] == {"full": 3}
    backend = app.state.backend
    for i in range(3):
        backend.scan_now(backend.fleet.endpoint(i).client_id)
    assert main(argv) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    transfer = summary["transfer"]
    assert (
        transfer["modes"] == {"diff": 3} and transfer["bytes_transferred"] < transfer["full_trace_bytes"] / 5
    )
    assert f"{transfer['bytes_transferred']:,} bytes transferred vs {transfer['full_trace_bytes']:,}" in out
    for client_id, entry in summary["endpoints"].items():
        truth = backend.manifest(client_id, 2)
        assert entry["diff"]["inventory_sha256"] == truth["inventory_sha256"]
        assert entry["inventory"]["findings"] == truth["findings"]
    assert main(argv) == 0  # no new scan: the diff pulled is the one already applied
    modes = json.loads((tmp_path / "summary.json").read_text())["transfer"]["modes"]
    assert modes == {"unchanged": 3}
