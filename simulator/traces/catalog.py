"""TraceCatalog: generated traces and evidence zips, cached under a memory bound (LRU by bytes).

The server asks for the same trace many times (the manifest, the download, retries), from worker
threads. Each entry is built once: concurrent requests for the same key wait on one per-key lock
while other keys build in parallel. Entries larger than the whole budget are returned uncached.

>>> catalog = TraceCatalog(cache_bytes=64 << 20)
>>> # trace = catalog.trace(spec); blob = catalog.evidence_zip(spec)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from typing import TypeVar

from simulator.traces.churn import Inventory
from simulator.traces.diff import inventory_digest, keyed, parse_ndjson
from simulator.traces.generator import generate_trace
from simulator.traces.render import previous_spec, scan_inventory
from simulator.traces.spec import DEFAULT_TRACE_PATHS, GeneratedTrace, TraceSpec
from simulator.traces.zipcrypto import build_evidence_zip

T = TypeVar("T")


def trace_member_name(spec: TraceSpec) -> str:
    """The zip member's name: the basename of the trace path on the endpoint."""
    path = spec.path or DEFAULT_TRACE_PATHS[spec.platform]
    return path.replace("\\", "/").rsplit("/", 1)[-1]


class TraceCatalog:
    """A thread-safe, byte-bounded LRU of traces and evidence zips (see the module docstring)."""

    def __init__(self, cache_bytes: int = 512 << 20) -> None:
        self.cache_bytes = cache_bytes
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}
        self.builds = 0  # how many entries were generated (tests check single-flight with it)

    @property
    def size(self) -> int:
        """Bytes held now."""
        return self._size

    def trace(self, spec: TraceSpec) -> GeneratedTrace:
        """The generated trace for ``spec`` (built once, then served from memory).

        A spec naming a ``source_file`` gets that file (read once, whatever the scan): see
        :mod:`simulator.traces.sources`.
        """
        if spec.source_file is not None:
            from simulator.traces.sources import load_trace_file

            path = spec.source_file
            return self._get(("source", path), lambda: load_trace_file(path), lambda t: t.size + 4096)
        # Later scans and diffs build on the cached chain of inventories; scan 1 needs none.
        chained = spec.scan > 1 or spec.diff
        return self._get(
            ("trace", spec),
            lambda: generate_trace(spec, self.inventory) if chained else generate_trace(spec),
            lambda t: t.size + 4096,
        )

    def inventory(self, spec: TraceSpec) -> Inventory:
        """Scan ``spec.scan``'s inventory, one churn step from the cached previous scan when there is one."""
        full = replace(spec, diff=False, path=None)
        chain = [full]
        with self._lock:  # walk down to the newest scan already held (no recursion: chains can be long)
            while chain[-1].scan > 1 and ("inventory", chain[-1]) not in self._entries:
                chain.append(previous_spec(chain[-1]))
        previous: Inventory | None = None
        for step in reversed(chain):
            previous = self._get(
                ("inventory", step),
                lambda step=step, prev=previous: scan_inventory(step, prev),  # type: ignore[misc]
                lambda inv: sum(len(i.line) for i in inv.items) + sum(len(b.data) for b in inv.stores),
            )
        assert previous is not None
        return previous

    def evidence_zip(self, spec: TraceSpec) -> bytes:
        """The evidence zip Tanium would serve for the trace file of ``spec``."""

        def build() -> bytes:
            return build_evidence_zip(trace_member_name(spec), self.trace(spec).data)

        if spec.source_file is not None:  # one zip per file and member name, whatever the scan
            return self._get(("zip", spec.source_file, trace_member_name(spec)), build, len)
        return self._get(("zip", spec), build, len)

    def inventory_sha256(self, spec: TraceSpec) -> str:
        """The full trace's inventory digest (``simulator.traces.diff.inventory_digest``), cached."""

        def build() -> str:
            data = self.trace(spec).data
            if spec.source_file is not None:  # a file from anywhere: the client reads any layout
                from simulator.traces.sources import trace_file_records

                return inventory_digest(keyed(trace_file_records(data)))
            return inventory_digest(keyed(parse_ndjson(data)[1]))

        key = ("digest", spec.source_file) if spec.source_file is not None else ("digest", spec)
        return self._get(key, build, lambda _: 256)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0

    def _get(self, key: Hashable, build: Callable[[], T], weigh: Callable[[T], int]) -> T:
        with self._lock:
            hit = self._lookup(key)
            if hit is not None:
                return hit  # type: ignore[return-value]
            gate = self._building.setdefault(key, threading.Lock())
        with gate:  # single flight: the first caller builds, the others wait here and then hit
            with self._lock:
                hit = self._lookup(key)
                if hit is not None:
                    return hit  # type: ignore[return-value]
            value = build()
            with self._lock:
                self.builds += 1
                self._store(key, value, weigh(value))
                self._building.pop(key, None)
            return value

    def _lookup(self, key: Hashable) -> object | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def _store(self, key: Hashable, value: object, size: int) -> None:
        if size > self.cache_bytes:
            return
        self._entries[key] = (value, size)
        self._size += size
        while self._size > self.cache_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._size -= evicted
