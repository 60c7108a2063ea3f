"""Trace generation throughput against gzip of the same bytes, ZipCrypto speed, and fleet memory.

Prints figures, asserts nothing. Target: generating a trace costs no more than 2x compressing it
(the ratio column), and a 1,000,000-endpoint fleet stays under 200 MB RSS.

    .venv/bin/python loadtests/bench_generation.py [--medium 10] [--stress-records 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import zlib

from simulator.traces import TraceSpec, generate_trace, render_trace
from simulator.traces.generator import GZIP_LEVEL
from simulator.traces.roots import root_pool
from simulator.traces.zipcrypto import accelerated, build_evidence_zip, encrypt, initial_keys

_FLEET_PROBE = """
import re
from simulator.state.fleet import Fleet
fleet = Fleet(7, 1_000_000)
for i in (0, 1, 999_999, 500_000, 123_456):
    ep = fleet.endpoint(i)
    assert fleet.by_client_id(ep.client_id) == ep
with open("/proc/self/status") as f:  # VmHWM: peak RSS of this exec'd image only
    print(int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1)) * 1024)
"""


def spec(index: int, profile: str, records: int | None = None) -> TraceSpec:
    platform = "Windows" if index % 3 == 2 else "Linux"
    return TraceSpec(
        seed=1, index=index, client_id=str(index), hostname=f"bench-{index:02d}", platform=platform,
        profile=profile, records=records,
    )  # fmt: skip


def bench(label: str, specs: list[TraceSpec]) -> None:
    start = time.perf_counter()
    traces = [generate_trace(s) for s in specs]
    gen_s = time.perf_counter() - start
    raws = [b"".join(render_trace(s).chunks) for s in specs]
    start = time.perf_counter()
    for raw in raws:
        zlib.compress(raw, GZIP_LEVEL)
    gz_s = time.perf_counter() - start
    records = sum(t.manifest["record_count"] for t in traces)
    raw_mb = sum(len(r) for r in raws) / 1e6
    gz_mb = sum(t.size for t in traces) / 1e6
    print(
        f"{label:<28} {records:>9,} rec {raw_mb:8.1f} MB raw {gz_mb:7.1f} MB gz | generate {gen_s:6.2f} s "
        f"({records / gen_s:>9,.0f} rec/s, {raw_mb / gen_s:6.1f} MB/s raw) | gzip -{GZIP_LEVEL} alone "
        f"{gz_s:6.2f} s | ratio {gen_s / gz_s:4.2f}x"
    )


def bench_zip(stress_data: bytes) -> None:
    sample = stress_data[: 2 << 20]
    start = time.perf_counter()
    encrypt(sample, initial_keys(), fast=False)
    py_s = time.perf_counter() - start
    print(f"ZipCrypto pure Python: {len(sample) / py_s / 1e6:6.2f} MB/s ({len(sample) / 1e6:.1f} MB sample)")
    if not accelerated():
        print("ZipCrypto numba: not installed")
        return
    encrypt(b"warm-up", initial_keys(), fast=True)  # JIT compile (or load from cache)
    start = time.perf_counter()
    build_evidence_zip("trace.cst.gz", stress_data, fast=True)
    nb_s = time.perf_counter() - start
    mb = len(stress_data) / 1e6
    print(f"ZipCrypto numba:       {mb / nb_s:6.1f} MB/s (whole evidence zip of {mb:.1f} MB in {nb_s:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medium", type=int, default=10, help="medium traces to generate (default 10)")
    parser.add_argument("--stress-records", type=int, default=100_000, help="records of the stress trace")
    args = parser.parse_args()

    # First, while this process is small: a child's peak-RSS counters can inherit the parent's.
    probe = subprocess.run([sys.executable, "-c", _FLEET_PROBE], capture_output=True, text=True, check=True)
    rss = int(probe.stdout)
    start = time.perf_counter()
    root_pool(1)
    print(f"root pool for seed 1 (once per process): {time.perf_counter() - start:.2f} s")
    bench(f"medium x{args.medium}", [spec(i, "medium") for i in range(args.medium)])
    bench("large x2", [spec(i, "large") for i in range(2)])
    bench("stress x1", [spec(0, "stress", args.stress_records)])
    bench_zip(generate_trace(spec(0, "stress", args.stress_records)).data)

    rss = int(
        subprocess.run(
            [sys.executable, "-c", _FLEET_PROBE], capture_output=True, text=True, check=True
        ).stdout
    )
    print(
        f"Fleet(seed, 1_000_000) with a few endpoints touched: max RSS {rss / 1e6:.0f} MB (target < 200 MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
