"""The CST writer: one deterministic, gzipped trace per (seed, endpoint, scan), and its manifest.

A trace is a header, then files in path order (a directory walk), each with its records; how the
inventory is built and rendered is :mod:`simulator.traces.render`, diff traces are
:mod:`simulator.traces.diff`. Equal specs give byte-identical output (the gzip header carries mtime 0).
The manifest's counts are summed from generation-time facts.

>>> from simulator.traces.spec import TraceSpec
>>> spec = TraceSpec(seed=1, index=0, client_id="1", hostname="web-a-01", platform="Linux", profile="small")
>>> generate_trace(spec).manifest["record_count"] >= 150
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from simulator.traces.churn import Inventory
from simulator.traces.diff import generate_diff
from simulator.traces.findings import FINDING_KEYS
from simulator.traces.render import (
    GZIP_LEVEL,
    RenderedTrace,
    base_inventory,
    chain_time,
    gzip_chunks,
    previous_spec,
    render_inventory,
    render_trace,
    scan_id,
    scan_inventory,
    target_records,
)
from simulator.traces.spec import DEFAULT_TRACE_PATHS, GeneratedTrace, TraceSpec


def generate_trace(
    spec: TraceSpec, inventory: Callable[[TraceSpec], Inventory] = scan_inventory
) -> GeneratedTrace:
    """The gzipped trace for ``spec`` (full, or the diff when ``spec.diff``) and its ground-truth manifest.

    ``inventory`` gives a scan's inventory (the catalog passes its cached chain).
    """
    if spec.diff:  # the diff trace of this scan (simulator/traces/diff.py)
        return generate_diff(spec, inventory)
    rendered = render_inventory(spec, inventory(spec))
    data = gzip_chunks(rendered.chunks)
    manifest = {
        "client_id": spec.client_id,
        "hostname": spec.hostname,
        "platform": spec.platform,
        "profile": spec.profile,
        "scan": spec.scan,
        "scan_id": rendered.header["api_specific"]["scan_id"],
        "scan_time": rendered.header["api_specific"]["scan_time"],
        "path": spec.path or DEFAULT_TRACE_PATHS[spec.platform],
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "record_count": rendered.record_count,
        "by_type": dict(sorted(rendered.by_type.items())),
        "findings": {key: rendered.findings.get(key, 0) for key in FINDING_KEYS},
    }
    return GeneratedTrace(data=data, manifest=manifest)


# What this module offered before render.py split off: importable from here as before.
__all__ = [
    "DEFAULT_TRACE_PATHS",
    "GZIP_LEVEL",
    "RenderedTrace",
    "base_inventory",
    "chain_time",
    "generate_trace",
    "gzip_chunks",
    "previous_spec",
    "render_inventory",
    "render_trace",
    "scan_id",
    "scan_inventory",
    "target_records",
]
