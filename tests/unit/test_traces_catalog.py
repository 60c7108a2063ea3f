"""TraceCatalog: cached, bounded by bytes, single flight under concurrency; and the CLI."""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path

import orjson

from simulator.cli import main
from simulator.traces import EVIDENCE_PASSWORD, TraceCatalog, TraceSpec


def spec(index: int) -> TraceSpec:
    return TraceSpec(
        seed=1, index=index, client_id=str(index), hostname="h", platform="Linux", profile="small"
    )


def test_trace_and_zip_are_cached() -> None:
    catalog = TraceCatalog(64 << 20)
    first = catalog.trace(spec(0))
    assert catalog.trace(spec(0)) is first
    blob = catalog.evidence_zip(spec(0))
    assert catalog.evidence_zip(spec(0)) is blob
    assert zipfile.ZipFile(io.BytesIO(blob)).read("trace.cst.gz", pwd=EVIDENCE_PASSWORD) == first.data
    assert catalog.builds == 2


def test_memory_bound_evicts_least_recently_used() -> None:
    one = TraceCatalog(1 << 30).trace(spec(0)).size
    catalog = TraceCatalog(int(one * 2.5))
    for i in range(4):
        catalog.trace(spec(i))
    assert catalog.size <= catalog.cache_bytes
    builds = catalog.builds
    catalog.trace(spec(3))
    assert catalog.builds == builds  # most recent: still cached
    catalog.trace(spec(0))
    assert catalog.builds == builds + 1  # oldest: evicted and rebuilt


def test_concurrent_requests_generate_once() -> None:
    catalog = TraceCatalog(64 << 20)
    barrier = threading.Barrier(6)
    results = []

    def fetch() -> None:
        barrier.wait()
        results.append(catalog.evidence_zip(spec(7)))

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in results}) == 1
    assert catalog.builds == 2  # one trace, one zip


def test_cli_generate_writes_trace_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "trace.cst.gz"
    assert (
        main(["trace", "generate", "--seed", "1", "--profile", "small", "--endpoint", "2", "--out", str(out)])
        == 0
    )
    manifest = orjson.loads((tmp_path / "trace.cst.gz.manifest.json").read_bytes())
    assert manifest["size"] == out.stat().st_size and 150 <= manifest["record_count"] <= 300
    again = tmp_path / "again.cst.gz"
    main(["trace", "generate", "--seed", "1", "--profile", "small", "--endpoint", "2", "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_cli_usage_errors(tmp_path: Path) -> None:
    args = ["trace", "generate", "--seed", "1", "--profile", "small"]
    assert main([*args, "--endpoint", "-1", "--out", str(tmp_path / "t.gz")]) == 2
    assert main([*args, "--out", str(tmp_path / "missing" / "t.gz")]) == 2
