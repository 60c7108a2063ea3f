"""Ingestion throughput of the reference trace reader on a large evidence zip, beside a same-run bound.

The bound is the fastest way to do each layer's work alone, in memory, on the same bytes:
stream_unzip's compiled ZipCrypto decryption, zlib inflate, and orjson on each (pre-split) line. Their
times add up to what any streaming reader must spend; ``ratio = bound time / reader time`` (1.0 would
mean the reader adds nothing; the target is >= 0.8). Figures only, no assertions: machines differ.

    .venv/bin/python loadtests/bench_ingest.py                  # a generated 50k-record stress trace
    .venv/bin/python loadtests/bench_ingest.py --records 200000 --repeat 3
    .venv/bin/python loadtests/bench_ingest.py --synthetic      # without the simulator's generator
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import orjson
from stream_unzip import stream_unzip

from client._trace import CHUNK_BYTES, EVIDENCE_PASSWORD, open_trace

MB = 1_000_000


def _generated(records: int) -> bytes:
    from simulator.traces import TraceSpec, generate_trace

    spec = TraceSpec(
        seed=1,
        index=0,
        client_id="1",
        hostname="bench-01",
        platform="Linux",
        profile="stress",
        records=records,
    )
    return generate_trace(spec).data


def _synthetic(records: int) -> bytes:
    """Certificate-like records with incompressible base64 (like DER), gzipped."""
    spec = {"hostname": "bench-01", "os": "linux", "scan_time": "2026-11-01T00:00:00Z"}
    head = {"format": "CST", "version": "1.0", "api": "host-scanner", "tags": [], "api_specific": spec}
    lines = [json.dumps(head).encode()]
    for i in range(records):
        record = {
            "path": f"/etc/ssl/certs/ca-{i % 150}.pem",
            "last_modified": 1_700_000_000 + i,
            "size_bytes": 1_400 + i % 500,
            "type": "X509 CERTIFICATE",
            "encrypted": False,
            "public": True,
            "details": {
                "tbs_certificate": {
                    "version": "3",
                    "serial": str(10**35 + i),
                    "issuer": [{"type": "CN", "value": f"CA {i}"}],
                },
                "signature_algorithm": {"algorithm": "sha256WithRSAEncryption"},
                "encoded": base64.b64encode(os.urandom(900)).decode(),
            },
            "fingerprint": {"alg": "sha256", "kind": "cert-der", "value": os.urandom(32).hex()},
        }
        lines.append(json.dumps(record, separators=(",", ":")).encode())
    return gzip.compress(b"\n".join(lines) + b"\n", 6, mtime=0)


def _evidence_zip(data: bytes) -> bytes:
    try:
        from simulator.traces import build_evidence_zip
    except ImportError:
        from tests.unit.test_reader_support import zipcrypto_zip  # pure Python: slow above a few MB

        return zipcrypto_zip("trace.cst.gz", data)
    return build_evidence_zip("trace.cst.gz", data)


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(data), CHUNK_BYTES):
        yield bytes(view[i : i + CHUNK_BYTES])


def _best(repeat: int, job: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = job()
        best = min(best, time.perf_counter() - start)
    return best, result


def _read(blob: bytes) -> tuple[int, int]:
    with open_trace(_chunks(blob)) as trace:
        n = sum(1 for _ in trace)
        return n, trace.stats.decompressed_bytes


def _summarize(blob: bytes) -> int:
    from client._findings import summarize

    with open_trace(_chunks(blob)) as trace:
        return summarize(trace).record_count


def _decrypt(blob: bytes) -> bytes:
    parts: list[bytes] = []
    for _name, _size, member in stream_unzip(
        _chunks(blob), password=EVIDENCE_PASSWORD, chunk_size=CHUNK_BYTES
    ):
        parts.extend(member)
    return b"".join(parts)


def _inflate(data: bytes) -> bytes:
    parts = []
    while data:
        d = zlib.decompressobj(wbits=31)
        parts.append(d.decompress(data))
        data = d.unused_data
    return b"".join(parts)


def _parse(lines: list[bytes]) -> int:
    loads = orjson.loads
    n = 0
    for line in lines:
        if line:
            loads(line)
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000, help="records in the trace (default 50,000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement, best kept (default 2)")
    parser.add_argument(
        "--synthetic", action="store_true", help="synthesize records instead of generating them"
    )
    parser.add_argument("--findings", action="store_true", help="also time reader + summarize (DER parsing)")
    args = parser.parse_args()

    start = time.perf_counter()
    try:
        gz = _synthetic(args.records) if args.synthetic else _generated(args.records)
        source = "synthetic" if args.synthetic else "simulator.traces stress profile"
    except ImportError:
        gz, source = _synthetic(args.records), "synthetic (simulator.traces unavailable)"
    blob = _evidence_zip(gz)
    built = time.perf_counter() - start
    print(f"trace: {args.records:,} records ({source}); gzip {len(gz) / MB:.1f} MB, ", end="")
    print(f"evidence zip {len(blob) / MB:.1f} MB; built in {built:.1f} s")

    t_reader, (records, text_bytes) = _best(args.repeat, lambda: _read(blob))
    t_decrypt, member = _best(args.repeat, lambda: _decrypt(blob))
    t_inflate, text = _best(args.repeat, lambda: _inflate(member))
    lines = text.split(b"\n")
    t_parse, parsed = _best(args.repeat, lambda: _parse(lines))
    assert member == gz and len(text) == text_bytes and parsed == records + 1  # same bytes, same work
    bound = t_decrypt + t_inflate + t_parse
    text_mb = text_bytes / MB

    print(f"decompressed JSON: {text_mb:.1f} MB, {records:,} records")
    print(f"{'stage':<34}{'seconds':>9}{'MB/s JSON':>11}{'records/s':>12}")

    def row(name: str, seconds: float) -> None:
        print(f"{name:<34}{seconds:>9.3f}{text_mb / seconds:>11.1f}{records / seconds:>12,.0f}")

    row("reader (open_trace, streamed)", t_reader)
    row("bound: decrypt (stream_unzip)", t_decrypt)
    row("bound: inflate (zlib)", t_inflate)
    row("bound: parse (orjson per line)", t_parse)
    row("bound: total", bound)
    if args.findings:
        t_summary, _ = _best(1, lambda: _summarize(blob))
        row("reader + summarize (findings)", t_summary)
    print(f"ratio reader/bound: {bound / t_reader:.2f}x (target >= 0.8x)")


if __name__ == "__main__":
    main()
