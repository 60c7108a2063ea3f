"""The reader streams: a 1 GB trace is read with bounded memory (peak RSS growth under 64 MB).

The trace is synthesized quickly: one gzip member of ~8 MB of records, compressed once and written
again and again (a multi-member gzip is a valid trace). The read runs in a fresh interpreter so its
peak RSS (``VmHWM``) is not polluted by the test session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.unit.test_reader_support import header

GIB = 1 << 30
LIMIT_BYTES = 64 << 20

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would inherit pytest's peak.
_READER = r"""
import json, sys
import orjson, stream_unzip, zlib  # every import happens before the baseline
from client._trace import open_trace

def peak() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

before = peak()
with open_trace(sys.argv[1]) as t:
    n = sum(1 for _ in t)
    stats = t.stats
print(json.dumps({"records": n, "text": stats.decompressed_bytes, "base": before, "growth": peak() - before}))
"""


def _record(i: int) -> bytes:
    record = {
        "path": f"/usr/share/ca-certificates/mozilla/Root_{i}.crt",
        "last_modified": 1_700_000_000 + i,
        "size_bytes": 2_000 + i,
        "type": "X509 CERTIFICATE",
        "encrypted": False,
        "public": True,
        "details": {"tbs_certificate": {"serial": str(10**30 + i)}, "encoded": "MIIF" + "Qk" * 700},
        "fingerprint": {"alg": "sha256", "kind": "cert-der", "value": f"{i:064x}"},
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _write_trace(path: Path, total: int) -> int:
    block = b"".join(_record(i) for i in range(5000))  # ~7.5 MB of text
    member = zlib.compressobj(1, zlib.DEFLATED, 31)
    gz_block = member.compress(block) + member.flush()
    first = zlib.compressobj(1, zlib.DEFLATED, 31)
    head = json.dumps(header()).encode() + b"\n"
    written = len(head)
    with path.open("wb") as f:
        f.write(first.compress(head) + first.flush())
        while written < total:
            f.write(gz_block)
            written += len(block)
    return written // len(block) * 5000


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc (Linux)")
def test_a_1gb_trace_is_read_with_peak_memory_growth_under_64mb(tmp_path: Path) -> None:
    path = tmp_path / "big.cst.gz"
    records = _write_trace(path, GIB)
    out = subprocess.run(
        [sys.executable, "-c", _READER, str(path)], capture_output=True, text=True, check=True, timeout=300
    )
    result = json.loads(out.stdout)
    assert result["records"] == records
    assert result["text"] >= GIB
    assert result["growth"] < LIMIT_BYTES, f"peak RSS grew by {result['growth'] / 2**20:.1f} MB"
