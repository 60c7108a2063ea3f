"""Diff traces of generated scans: each scan is the previous one plus its diff; bad diffs are refused."""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from client._diff import DiffRejected, Inventory, apply_diff
from client._validate import validate_trace
from simulator.traces import TYPES, ChurnRates, TraceSpec, generate_trace
from simulator.traces.diff import diff_trace_path, parse_ndjson

BUSY = ChurnRates(
    renew_in_place=0.4, new_artifacts=0.3, remove_key=0.2, move_file=0.1, pgp_new_uid=0.5, pgp_revoked=0.3
)
DAY = 86_400.0


def spec(index: int, platform: str, scan: int, churn: ChurnRates = BUSY) -> TraceSpec:
    base = TraceSpec(
        seed=5, index=index, client_id=str(100 + index), hostname=f"web-a-{index:02d}", platform=platform,
        profile="small", churn=churn,
    )  # fmt: skip
    return replace(base, scan=scan, scan_time=base.scan_time + (scan - 1) * DAY)


ENDPOINTS = [(i, "Windows" if i % 3 == 0 else "Linux") for i in range(9)]


def test_every_scan_is_the_previous_one_plus_its_diff_for_every_record_type() -> None:
    ops_by_type: Counter[tuple[str, str]] = Counter()
    for index, platform in ENDPOINTS:
        baseline = Inventory.from_trace(generate_trace(spec(index, platform, 1)).data)
        for scan in (2, 3, 4):
            full = generate_trace(spec(index, platform, scan))
            diff = generate_trace(replace(spec(index, platform, scan), diff=True))
            assert validate_trace(diff.data) == []
            current = apply_diff(baseline, diff.data)
            expected = Inventory.from_trace(full.data)
            assert current.records == expected.records, (index, scan)
            assert current.digest() == diff.manifest["inventory_sha256"]
            assert current.scan_id == full.manifest["scan_id"] == diff.manifest["scan_id"]
            assert diff.manifest["baseline_scan_id"] == baseline.scan_id
            assert diff.size < full.size
            for line in gzip.decompress(diff.data).splitlines()[1:-1]:
                op = orjson.loads(line)
                ops_by_type[(op["op"], op["type"])] += 1
                assert {"kind", "value"} <= set(op["fingerprint"])  # every record of every trace
            assert all("fingerprint" in r for r in parse_ndjson(full.data)[1])
            baseline = current
    kinds = {op for op, _ in ops_by_type}
    assert kinds == {"added", "removed", "modified"}
    touched_types = {type_ for _, type_ in ops_by_type}
    assert touched_types >= set(TYPES.values()) - {"sst", "dsa_private_key", "ed25519_pkcs8"}, touched_types
    assert ("modified", "pgp") in ops_by_type  # a new User ID or a revocation keeps the fingerprint


def test_scan_one_is_untouched_by_churn_and_scans_are_deterministic() -> None:
    calm = generate_trace(spec(1, "Linux", 1, ChurnRates.none()))
    busy = generate_trace(spec(1, "Linux", 1))
    assert calm.data == busy.data  # scan 1 does not depend on the rates
    assert generate_trace(spec(1, "Linux", 3)).data == generate_trace(spec(1, "Linux", 3)).data
    still = generate_trace(replace(spec(1, "Linux", 2, ChurnRates.none()), diff=True))
    assert still.manifest["changes"] == {"added": 0, "removed": 0, "modified": 0}


def test_certificates_cross_expiry_as_scans_go_by_without_churn() -> None:
    counts = []
    for scan in (1, 11, 31):
        full = generate_trace(replace(spec(2, "Linux", scan, ChurnRates.none())))
        counts.append(full.manifest["findings"]["expired"])
        assert full.manifest["record_count"] == generate_trace(spec(2, "Linux", 1)).manifest["record_count"]
    assert counts[0] <= counts[1] <= counts[2] and counts[0] < counts[2]


def test_diff_path_sits_next_to_the_trace() -> None:
    assert diff_trace_path("C:\\ProgramData\\Cryptosense\\traces\\trace.cst.gz") == (
        "C:\\ProgramData\\Cryptosense\\traces\\trace.diff.cst.gz"
    )


# --- refusals: each leaves the baseline untouched -----------------------------------------------------


@pytest.fixture(scope="module")
def scans() -> tuple[bytes, bytes, bytes]:
    one = generate_trace(spec(4, "Linux", 1)).data
    two_diff = generate_trace(replace(spec(4, "Linux", 2), diff=True)).data
    three_diff = generate_trace(replace(spec(4, "Linux", 3), diff=True)).data
    return one, two_diff, three_diff


def refused(baseline: Inventory, diff: bytes) -> str:
    before = (baseline.header, dict(baseline.records))
    with pytest.raises(DiffRejected) as info:
        apply_diff(baseline, diff)
    assert (baseline.header, baseline.records) == before
    return str(info.value)


def test_a_diff_against_another_baseline_is_refused(scans: tuple[bytes, bytes, bytes]) -> None:
    one, _, three_diff = scans
    message = refused(Inventory.from_trace(one), three_diff)
    assert "the diff was made against scan" in message and "pull the full trace" in message


def rewrite(diff: bytes, change: object) -> bytes:
    header, ops = parse_ndjson(diff)
    objects = [header, *ops, {"summary": {}}]
    change(objects)  # type: ignore[operator]
    return b"".join(orjson.dumps(o) + b"\n" for o in objects)


def test_a_removed_key_that_is_not_there_is_refused(scans: tuple[bytes, bytes, bytes]) -> None:
    one, two_diff, _ = scans

    def bad_removal(objects: list[dict[str, object]]) -> None:
        objects.insert(1, {"op": "removed", "path": "/nope.pem", "type": "PUBLIC KEY",
                           "fingerprint": {"alg": "sha256", "kind": "spki", "value": "00" * 32}})  # fmt: skip

    message = refused(Inventory.from_trace(one), rewrite(two_diff, bad_removal))
    assert message.startswith("the diff removes /nope.pem (spki 000000000000…)")


def test_an_added_key_that_exists_is_refused(scans: tuple[bytes, bytes, bytes]) -> None:
    one, two_diff, _ = scans
    first = parse_ndjson(one)[1][0]
    message = refused(
        Inventory.from_trace(one), rewrite(two_diff, lambda o: o.insert(1, {"op": "added", **first}))
    )
    assert "which the inventory already holds" in message


def test_a_truncated_diff_is_refused(scans: tuple[bytes, bytes, bytes]) -> None:
    one, two_diff, _ = scans
    baseline = Inventory.from_trace(one)
    assert "unreadable, probably truncated" in refused(baseline, two_diff[: len(two_diff) // 2])
    plain = gzip.decompress(two_diff)
    lines = plain.splitlines(keepends=True)
    assert "no summary trailer" in refused(baseline, b"".join(lines[:-2]))  # cut at a record boundary
    mismatch = b"".join([*lines[:-2], b'{"summary":{"added":999}}\n'])
    assert "summary says 999 added records" in refused(baseline, mismatch)


def test_a_full_trace_is_not_a_diff(scans: tuple[bytes, bytes, bytes], tmp_path: Path) -> None:
    one, _, _ = scans
    assert "not a diff trace" in refused(Inventory.from_trace(one), one)
