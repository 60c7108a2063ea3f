"""The key cross-check: the reader's summary of a generated trace equals the generator's manifest.

The manifest counts findings from what the generator decided (generation-time facts); the reader counts
them from the bytes (DER, key numbers). Agreement means both follow docs/cst-format.md the same way.
"""

from __future__ import annotations

import pytest

from client._findings import FINDING_KEYS, summarize
from client._trace import open_trace
from client._validate import validate_trace
from simulator.traces import TraceSpec, build_evidence_zip, generate_trace


@pytest.mark.parametrize(
    ("seed", "platform", "profile", "scan"),
    [
        (1, "Linux", "small", 1),
        (2, "Windows", "small", 2),
        (3, "Linux", "medium", 1),
        (4, "Windows", "medium", 3),
    ],
)
def test_summary_equals_the_manifest(seed: int, platform: str, profile: str, scan: int) -> None:
    spec = TraceSpec(
        seed=seed,
        index=seed,
        client_id=str(1000 + seed),
        hostname=f"host-{seed}",
        platform=platform,
        profile=profile,
        scan=scan,
        scan_time=1_793_491_200.0 + scan * 86_400,
    )
    trace = generate_trace(spec)
    with open_trace(trace.data) as reader:
        summary = summarize(reader)
    manifest = trace.manifest
    assert summary.record_count == manifest["record_count"]
    assert summary.by_type == manifest["by_type"]
    assert list(manifest["findings"]) == list(FINDING_KEYS)
    assert summary.findings == manifest["findings"]
    assert validate_trace(trace.data) == []


def test_the_evidence_zip_reads_to_the_same_summary() -> None:
    spec = TraceSpec(seed=1, index=5, client_id="5", hostname="web-a-05", platform="Linux", profile="small")
    trace = generate_trace(spec)
    blob = build_evidence_zip("trace.cst.gz", trace.data)
    chunks = (blob[i : i + 8192] for i in range(0, len(blob), 8192))  # as a streamed download arrives
    with open_trace(chunks) as reader:
        summary = summarize(reader)
        assert reader.stats.compressed_bytes == len(blob)
    assert summary.findings == trace.manifest["findings"]
    assert summary.by_type == trace.manifest["by_type"]
