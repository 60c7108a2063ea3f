"""Per-endpoint scanner state: is the Filesystem Scanner installed, is it running — at any time ``t``.

Defaults come from the seed (every endpoint has the binary; most run it). Platform actions change that
by storing *events* that take effect at a time (``stop`` ends the process, ``uninstall`` removes the
binary and the trace folder). State at ``t`` folds the events whose time has come, so an action that
completes in the future needs no background loop, and an action stopped before it reached an endpoint
simply loses its pending events (:meth:`ScannerBook.cancel_after`).

The seed's trap is modelled on purpose: ``uninstall`` does not stop the process, so an endpoint
uninstalled without a stop keeps running — and scanning — in memory.

>>> from simulator.state.store import MemoryStore
>>> from simulator.state.fleet import Fleet
>>> book = ScannerBook(MemoryStore(), seed=1)
>>> ep = Fleet(1, 3).endpoint(0)
>>> book.record(ep, "uninstall", at=100.0, action_id=7)
>>> book.installed_at(ep, 99.0), book.installed_at(ep, 100.0)
(True, False)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from simulator.state.fleet import Endpoint, stable_fraction
from simulator.state.store import Store

TABLE = "scanner"
DEFAULT_RUNNING_FRACTION = 0.9  # "most endpoints run the scanner" (INFERRED share)
KINDS = ("stop", "uninstall")


@dataclass(frozen=True)
class ScannerEvent:
    """One change that takes effect on one endpoint at ``at`` (epoch seconds)."""

    kind: str  # stop | uninstall
    at: float
    action_id: int


@dataclass(frozen=True)
class ScannerRecord:
    """What the store keeps per touched endpoint: its events, in time order."""

    client_id: str
    events: tuple[ScannerEvent, ...] = ()


@dataclass(frozen=True)
class ScannerState:
    """The scanner on one endpoint at one instant."""

    installed: bool
    running: bool


class ScannerBook:
    """Scanner state of every endpoint, defaults from the seed plus stored events."""

    def __init__(self, store: Store, seed: int, running_fraction: float = DEFAULT_RUNNING_FRACTION) -> None:
        self.store = store
        self.seed = seed
        self.running_fraction = running_fraction

    def runs_by_default(self, endpoint: Endpoint) -> bool:
        return stable_fraction(self.seed, endpoint.index, "scanner-running") < self.running_fraction

    def _events(self, endpoint: Endpoint) -> tuple[ScannerEvent, ...]:
        record: ScannerRecord | None = self.store.get(TABLE, endpoint.client_id)
        return record.events if record else ()

    def state_at(self, endpoint: Endpoint, t: float) -> ScannerState:
        """Fold the events that have taken effect by ``t`` over the seed's defaults."""
        installed, running = True, self.runs_by_default(endpoint)
        for event in self._events(endpoint):
            if event.at > t:
                break
            if event.kind == "stop":
                running = False
            elif event.kind == "uninstall":
                installed = False  # the process, if any, keeps running from memory
        return ScannerState(installed=installed, running=running)

    def running_at(self, endpoint: Endpoint, t: float) -> bool:
        return self.state_at(endpoint, t).running

    def installed_at(self, endpoint: Endpoint, t: float) -> bool:
        return self.state_at(endpoint, t).installed

    def record(self, endpoint: Endpoint, kind: str, *, at: float, action_id: int) -> None:
        """Store an event that takes effect at ``at`` (an action completing on the endpoint)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        event = ScannerEvent(kind, at, action_id)

        def add(record: ScannerRecord | None) -> ScannerRecord:
            record = record or ScannerRecord(endpoint.client_id)
            return replace(record, events=tuple(sorted((*record.events, event), key=lambda e: e.at)))

        self.store.update(TABLE, endpoint.client_id, add, create=True)

    def cancel_after(self, endpoint: Endpoint, action_id: int, t: float) -> None:
        """Drop the action's events not yet in effect at ``t`` (the action was stopped)."""

        def drop(record: ScannerRecord) -> ScannerRecord:
            kept = tuple(e for e in record.events if e.action_id != action_id or e.at <= t)
            return record if kept == record.events else replace(record, events=kept)

        self.store.update(TABLE, endpoint.client_id, drop)

    def scan_times(
        self, endpoint: Endpoint, start: float, end: float, *, first_scan_at: float, interval_s: float
    ) -> Iterator[float]:
        """The scheduled scans in ``[start, end)`` that really run (the scanner is running then).

        >>> list(book.scan_times(ep, 0, 300, first_scan_at=0, interval_s=100))  # doctest: +SKIP
        [0.0, 100.0, 200.0]
        """
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        k = max(0, int((start - first_scan_at) // interval_s))
        while (t := first_scan_at + k * interval_s) < end:
            if t >= start and self.running_at(endpoint, t):
                yield t
            k += 1


def scanner_running_at(store: Store, seed: int, endpoint: Endpoint, t: float) -> bool:
    """Whether the endpoint's scanner process runs at ``t`` (scan generation asks this).

    >>> scanner_running_at(backend.store, backend.settings.seed, endpoint, backend.now())  # doctest: +SKIP
    True
    """
    return ScannerBook(store, seed).running_at(endpoint, t)


def scanner_installed_at(store: Store, seed: int, endpoint: Endpoint, t: float) -> bool:
    """Whether the scanner binary (and its trace folder) is on the endpoint's disk at ``t``."""
    return ScannerBook(store, seed).installed_at(endpoint, t)


__all__ = [
    "TABLE",
    "ScannerBook",
    "ScannerEvent",
    "ScannerRecord",
    "ScannerState",
    "scanner_installed_at",
    "scanner_running_at",
]
