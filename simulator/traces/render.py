"""Scan inventories and the uncompressed CST they render to (the generator gzips it).

A trace is a header, then files in path order (a directory walk), each with its records. Trust-store
records come from the per-seed :class:`~simulator.traces.roots.RootPool` as cached bytes; leaves, keys,
SSH, PGP and keystores come from :class:`~simulator.traces.artifacts.ArtifactBuilder`. Scan 1's
inventory comes from the seed (:func:`base_inventory`), later scans from churn
(:func:`simulator.traces.churn.apply_churn`). Every random choice uses a ``random.Random`` seeded from
the spec, so equal specs give byte-identical output (:func:`gzip_chunks` writes mtime 0).

Used by :mod:`simulator.traces.generator` (full traces) and :mod:`simulator.traces.diff` (diff traces).

>>> from simulator.traces.spec import TraceSpec
>>> spec = TraceSpec(seed=1, index=0, client_id="1", hostname="web-a-01", platform="Linux", profile="small")
>>> render_trace(spec).record_count >= 150
True
"""

from __future__ import annotations

import hashlib
import random
import struct
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson

from simulator.traces.artifacts import ArtifactBuilder, _pick
from simulator.traces.churn import Inventory, Item, StoreBlock, apply_churn
from simulator.traces.findings import record_findings
from simulator.traces.profiles import DEFAULT_STRESS_RECORDS, LINUX_ARTIFACTS, PROFILES, WINDOWS_ARTIFACTS
from simulator.traces.records import record_prefix, rfc3339
from simulator.traces.roots import RootPool, root_pool
from simulator.traces.spec import TraceSpec
from simulator.traces.stores import Store, store_slots
from simulator.traces.types import TYPES

GZIP_LEVEL = 6  # zlib's default: level 9 is ~2x slower for < 1 % smaller traces (base64 barely shrinks)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown
# Artifacts whose content is redrawn every scan (certificates are renewed); keys stay put.
_RENEWED = frozenset({"tls_site", "fixture", "keystore", "pfx", "p7b", "snakeoil", "k8s_pki"})
_USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "svc_build", "deploy")


@dataclass
class RenderedTrace:
    """An uncompressed trace as chunks of NDJSON, with the counts the manifest needs."""

    header: dict[str, Any]
    chunks: list[bytes]
    record_count: int
    by_type: Counter[str]
    findings: Counter[str]

    @property
    def raw_size(self) -> int:
        return sum(len(c) for c in self.chunks)


def scan_id(spec: TraceSpec) -> str:
    """A uuid4-shaped id that is a pure function of (seed, endpoint, scan)."""
    digest = hashlib.blake2b(f"scan:{spec.seed}:{spec.index}:{spec.scan}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def target_records(spec: TraceSpec, rng: random.Random) -> int:
    """How many records this endpoint's trace holds (profile range, or ``spec.records``)."""
    if spec.records is not None:
        return max(1, spec.records)
    if spec.profile == "stress":
        return int(DEFAULT_STRESS_RECORDS * rng.uniform(0.98, 1.02))
    lo, hi = PROFILES[spec.profile].records
    return rng.randint(lo, hi)


def render_trace(spec: TraceSpec) -> RenderedTrace:
    """Build the uncompressed trace (see the module docstring); ``generator.generate_trace`` gzips it.

    >>> # rendered = render_trace(spec); raw = b"".join(rendered.chunks)
    """
    return render_inventory(spec, scan_inventory(spec))


def chain_time(spec: TraceSpec, scan: int) -> int:
    """Nominal time (whole seconds) of scan ``scan`` in ``spec``'s chain: what churn dates are based on."""
    return int(spec.scan_time - (spec.scan - scan) * spec.scan_interval_s)


def scan_inventory(spec: TraceSpec, previous: Inventory | None = None) -> Inventory:
    """Scan ``spec.scan``'s inventory: scan 1 from the seed, then one churn step per later scan.

    ``previous`` (scan ``spec.scan - 1``'s inventory, when the caller has it) saves rebuilding the chain.

    >>> # inv = scan_inventory(spec); len(inv.items) + sum(len(s.roots) for s in inv.stores)
    """
    if spec.scan < 1:
        raise ValueError("scan must be >= 1")
    if previous is not None and previous.scan == spec.scan - 1:
        return apply_churn(previous, spec, spec.scan, chain_time(spec, spec.scan), root_pool(spec.seed))
    inv = base_inventory(spec)
    if spec.scan > 1:
        pool = root_pool(spec.seed)
        for scan in range(2, spec.scan + 1):
            inv = apply_churn(inv, spec, scan, chain_time(spec, scan), pool)
    return inv


def previous_spec(spec: TraceSpec) -> TraceSpec:
    """The full-trace spec of the scan before ``spec``'s (scan >= 2)."""
    return spec.for_scan(spec.scan - 1)


def base_inventory(spec: TraceSpec) -> Inventory:
    """Scan 1's inventory, dated from scan 1's time in ``spec``'s chain."""
    if spec.profile not in PROFILES:
        raise ValueError(f"unknown profile {spec.profile!r}; expected one of {', '.join(PROFILES)}")
    if spec.platform not in ("Linux", "Windows"):
        raise ValueError(f"unknown platform {spec.platform!r}")
    scan_time = chain_time(spec, 1)
    pool = root_pool(spec.seed)
    layout = random.Random(f"layout:{spec.seed}:{spec.index}")
    user = spec.user or layout.choice(_USERS)
    total = target_records(spec, layout)
    lo, hi = PROFILES[spec.profile].nonroot_share
    budget = max(4, round(total * layout.uniform(lo, hi)))

    items: list[Item] = []
    builder = ArtifactBuilder(layout, pool, scan_time, spec.platform, user, spec.hostname)
    weights = WINDOWS_ARTIFACTS if spec.platform == "Windows" else LINUX_ARTIFACTS
    slot = 0
    while len(items) < min(budget, total):
        kind = _pick(layout, weights)
        builder.rng = random.Random(
            f"artifact:{spec.seed}:{spec.index}:{slot}:{1 if kind in _RENEWED else 0}"
        )
        builder.n = slot
        slot += 1
        for f in builder.build(kind):
            items.extend(Item(f.path, type_, line, facts) for type_, line, facts in f.records)

    stores = store_slots(spec.platform, random.Random(f"stores:{spec.seed}:{spec.index}"), user)
    store_rng = random.Random(f"store-files:{spec.seed}:{spec.index}")
    blocks: list[StoreBlock] = []
    remaining = total - len(items)
    while remaining > 0:
        store = next(stores)
        indices = pool.release(store.release, store.size)[:remaining]
        remaining -= len(indices)
        blocks.extend(_store_files(pool, store, indices, scan_time, store_rng))
    empty = layout.random() < 0.1  # real traces sometimes carry empty objects; readers skip them
    return Inventory(1, tuple(items), tuple(blocks), empty, user)


def render_inventory(spec: TraceSpec, inv: Inventory) -> RenderedTrace:
    """The full trace of ``inv`` with ``spec``'s header; findings counted at ``spec.scan_time``."""
    scan_time = int(spec.scan_time)
    by_type: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    for item in inv.items:
        by_type[item.type] += 1
        findings.update(record_findings(item.facts, scan_time))
    root_findings = root_pool(spec.seed).root_findings(scan_time)
    for block in inv.stores:
        by_type[block.type] += len(block.roots)
        findings.update(chain.from_iterable(root_findings[i] for i in block.roots))
    files = [(it.path, it.line) for it in inv.items] + [(b.path, b.data) for b in inv.stores]
    files.sort(key=lambda f: f[0])  # stable: records of one file stay in generation order
    header = _header(spec, scan_time)
    chunks = [orjson.dumps(header) + b"\n"]
    if inv.empty_object:
        chunks.append(b"{}\n")
    chunks.extend(data for _, data in files)
    count = len(inv.items) + sum(len(b.roots) for b in inv.stores)
    return RenderedTrace(header, chunks, count, by_type, findings)


def _store_files(
    pool: RootPool, store: Store, indices: list[int], scan_time: int, rng: random.Random
) -> list[StoreBlock]:
    type_ = TYPES[store.kind]
    container = None if store.kind == "cert" else store.kind
    roots = pool.roots
    last_modified = scan_time - rng.randint(86_400, 3 * 365 * 86_400)
    if store.per_file:
        sep = "\\" if "\\" in store.path else "/"
        out = []
        for i in indices:
            root = roots[i]
            path = f"{store.path}{sep}{root.file_stem}.crt"
            data = record_prefix(path, last_modified, root.pem_size, type_) + root.tail(container)
            out.append(StoreBlock(path, type_, data, (i,)))
        return out
    if container is None:
        size = sum(roots[i].pem_size for i in indices) + 60 * len(indices)  # with "# Subject" comments
    else:
        size = sum(len(roots[i].cert.der) + len(roots[i].alias) + 32 for i in indices) + 32
    prefix = record_prefix(store.path, last_modified, size, type_)
    data = prefix + prefix.join([roots[i].tail(container) for i in indices])
    return [StoreBlock(store.path, type_, data, tuple(indices))]


def _header(spec: TraceSpec, scan_time: int) -> dict[str, Any]:
    windows = spec.platform == "Windows"
    return {
        "format": "CST",
        "version": "1.0",
        "api": "host-scanner",
        "tags": [],
        "anonymized": False,
        "api_specific": {
            "scanner_version": spec.scanner_version,
            "os": "windows" if windows else "linux",
            "hostname": spec.hostname,
            "roots": ["C:\\"] if windows else ["/"],
            "scan_id": scan_id(spec),
            "scan_time": rfc3339(scan_time),
            "scan_mode": "full",
        },
    }


def gzip_chunks(chunks: Iterable[bytes], level: int = GZIP_LEVEL) -> bytes:
    """One gzip member of the chunks, streamed, with mtime 0 (byte-identical run to run).

    >>> import gzip
    >>> gzip.decompress(gzip_chunks([b"a", b"b"]))
    b'ab'
    """
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    out = [_GZIP_HEADER]
    crc = size = 0
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        out.append(comp.compress(chunk))
    out.append(comp.flush())
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(out)


__all__ = [
    "GZIP_LEVEL",
    "RenderedTrace",
    "base_inventory",
    "chain_time",
    "gzip_chunks",
    "previous_spec",
    "render_inventory",
    "render_trace",
    "scan_id",
    "scan_inventory",
    "target_records",
]
