"""``tanium-sim trace generate --scan N``: each scan dated on its own, and scan 2 a small diff from scan 1."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from simulator.cli import main
from simulator.traces import TraceSpec

ENDPOINT = ["--seed", "3", "--profile", "small", "--endpoint", "1"]  # this endpoint has modified records


def scan_time(path: Path) -> datetime:
    header = orjson.loads(gzip.decompress(path.read_bytes()).split(b"\n", 1)[0])
    return datetime.fromisoformat(header["api_specific"]["scan_time"])


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("cli-scans")
    out = {}
    for scan in (1, 2):
        out[scan] = folder / f"scan{scan}.cst.gz"
        assert main(["trace", "generate", *ENDPOINT, "--scan", str(scan), "--out", str(out[scan])]) == 0
    return out


def test_each_scan_reports_its_own_scan_time(scans: dict[int, Path]) -> None:
    interval = TraceSpec.__dataclass_fields__["scan_interval_s"].default
    assert (scan_time(scans[2]) - scan_time(scans[1])).total_seconds() == interval
    manifests = [orjson.loads(Path(f"{scans[n]}.manifest.json").read_bytes()) for n in (1, 2)]
    assert manifests[0]["scan_time"] != manifests[1]["scan_time"]
    assert manifests[0]["scan_time"] == "2026-11-01T00:00:00Z"  # scan 1 is where it always was


def test_the_diff_of_scan_1_to_2_is_a_few_records_not_the_whole_inventory(
    scans: dict[int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    diff = tmp_path / "d.cst.gz"
    assert main(["trace", "diff", str(scans[1]), str(scans[2]), "--out", str(diff)]) == 0
    assert " 5 modified; " in capsys.readouterr().out
    summary = orjson.loads(gzip.decompress(diff.read_bytes()).splitlines()[-1])["summary"]
    records = orjson.loads(Path(f"{scans[2]}.manifest.json").read_bytes())["record_count"]
    assert 0 < summary["modified"] <= records // 20  # default churn touches a few files, not every record
    assert diff.stat().st_size * 10 < scans[2].stat().st_size


def test_a_later_scan_is_the_same_bytes_every_time(scans: dict[int, Path], tmp_path: Path) -> None:
    again = tmp_path / "again.cst.gz"
    assert main(["trace", "generate", *ENDPOINT, "--scan", "2", "--out", str(again)]) == 0
    assert again.read_bytes() == scans[2].read_bytes()
