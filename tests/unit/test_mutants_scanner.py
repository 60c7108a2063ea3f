"""Tests that kill mutmut's survivors in simulator/state/scanner.py (docs/testing.md).

The seed's default (does the scanner run), the events folded at a time (stop, uninstall, their
boundaries), cancelling an action's future events, and the scheduled scans that really run.
"""

from __future__ import annotations

import pytest

from simulator.state.fleet import Endpoint, Fleet, stable_fraction
from simulator.state.scanner import (
    TABLE,
    ScannerBook,
    ScannerEvent,
    ScannerRecord,
    ScannerState,
    scanner_installed_at,
    scanner_running_at,
)
from simulator.state.store import MemoryStore

SEED = 5


def _endpoint(index: int = 0) -> Endpoint:
    return Fleet(SEED, 40).endpoint(index)


def _book(store: MemoryStore | None = None, fraction: float = 1.0) -> ScannerBook:
    return ScannerBook(store or MemoryStore(), SEED, fraction)


def test_the_default_running_share_is_nine_tenths_of_the_seeded_fraction() -> None:
    book = ScannerBook(MemoryStore(), SEED)
    assert (book.seed, book.running_fraction) == (SEED, 0.9)
    fleet = Fleet(SEED, 40)
    for ep in fleet:
        expected = stable_fraction(SEED, ep.index, "scanner-running") < 0.9
        assert book.runs_by_default(ep) is expected
    assert not all(book.runs_by_default(ep) for ep in fleet)  # the seed stops a few


def test_the_fraction_is_a_strict_bound() -> None:
    ep = _endpoint(3)
    exact = stable_fraction(SEED, ep.index, "scanner-running")
    assert ScannerBook(MemoryStore(), SEED, exact).runs_by_default(ep) is False
    assert ScannerBook(MemoryStore(), SEED, exact + 1e-12).runs_by_default(ep) is True
    assert _book(fraction=0.0).runs_by_default(ep) is False
    assert _book(fraction=1.0).runs_by_default(ep) is True


def test_an_untouched_endpoint_is_installed_and_runs_as_seeded() -> None:
    ep = _endpoint()
    assert _book().state_at(ep, 0.0) == ScannerState(installed=True, running=True)
    assert _book(fraction=0.0).state_at(ep, 0.0) == ScannerState(installed=True, running=False)
    assert _book().installed_at(ep, 0.0) is True
    assert _book().running_at(ep, 0.0) is True


def test_a_stop_ends_the_process_from_its_time_on_and_leaves_the_binary() -> None:
    store = MemoryStore()
    book, ep = _book(store), _endpoint()
    book.record(ep, "stop", at=100.0, action_id=1)
    assert book.state_at(ep, 99.9) == ScannerState(True, True)
    assert book.state_at(ep, 100.0) == ScannerState(True, False)
    assert book.state_at(ep, 500.0) == ScannerState(True, False)
    assert store.get(TABLE, ep.client_id) == ScannerRecord(ep.client_id, (ScannerEvent("stop", 100.0, 1),))


def test_an_uninstall_removes_the_binary_and_keeps_the_process_running() -> None:
    book, ep = _book(), _endpoint()
    book.record(ep, "uninstall", at=50.0, action_id=2)
    assert book.state_at(ep, 49.0) == ScannerState(True, True)
    assert book.state_at(ep, 50.0) == ScannerState(installed=False, running=True)
    assert book.installed_at(ep, 50.0) is False
    assert book.running_at(ep, 50.0) is True


def test_events_are_kept_in_time_order_and_only_those_due_count() -> None:
    store = MemoryStore()
    book, ep = _book(store), _endpoint()
    book.record(ep, "uninstall", at=300.0, action_id=2)
    book.record(ep, "stop", at=100.0, action_id=1)
    book.record(ep, "stop", at=200.0, action_id=3)
    record = store.get(TABLE, ep.client_id)
    assert [e.at for e in record.events] == [100.0, 200.0, 300.0]
    assert book.state_at(ep, 150.0) == ScannerState(True, False)
    assert book.state_at(ep, 300.0) == ScannerState(False, False)
    # Other endpoints are untouched.
    assert store.get(TABLE, _endpoint(1).client_id) is None
    assert book.state_at(_endpoint(1), 300.0) == ScannerState(True, True)


def test_the_fold_stops_at_the_first_event_not_yet_due() -> None:
    # state_at relies on events being in time order: a later one is never looked at.
    store = MemoryStore()
    ep = _endpoint()
    store.put(
        TABLE,
        ep.client_id,
        ScannerRecord(ep.client_id, (ScannerEvent("stop", 200.0, 1), ScannerEvent("uninstall", 10.0, 2))),
    )
    assert _book(store).state_at(ep, 100.0) == ScannerState(True, True)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^kind must be one of \('stop', 'uninstall'\)$"):
        _book().record(_endpoint(), "start", at=1.0, action_id=1)


def test_cancel_after_drops_only_the_actions_future_events() -> None:
    store = MemoryStore()
    book, ep = _book(store), _endpoint()
    book.record(ep, "stop", at=100.0, action_id=7)
    book.record(ep, "uninstall", at=200.0, action_id=7)
    book.record(ep, "uninstall", at=300.0, action_id=8)
    book.cancel_after(ep, 7, 100.0)  # the stop took effect at 100.0; the uninstall had not yet
    record = store.get(TABLE, ep.client_id)
    assert record.events == (ScannerEvent("stop", 100.0, 7), ScannerEvent("uninstall", 300.0, 8))
    same = store.get(TABLE, ep.client_id)
    book.cancel_after(ep, 7, 100.0)  # nothing left to drop: the record is not rewritten
    assert store.get(TABLE, ep.client_id) is same
    book.cancel_after(ep, 8, 299.0)
    assert store.get(TABLE, ep.client_id).events == (ScannerEvent("stop", 100.0, 7),)
    book.cancel_after(_endpoint(2), 8, 0.0)  # an untouched endpoint gets no record
    assert store.get(TABLE, _endpoint(2).client_id) is None


def test_scan_times_are_the_scheduled_ones_in_the_window_while_running() -> None:
    book, ep = _book(), _endpoint()
    assert list(book.scan_times(ep, 0, 300, first_scan_at=0, interval_s=100)) == [0.0, 100.0, 200.0]
    assert list(book.scan_times(ep, 100, 301, first_scan_at=0, interval_s=100)) == [100.0, 200.0, 300.0]
    assert list(book.scan_times(ep, 150, 250, first_scan_at=50, interval_s=100)) == [150.0]
    assert list(book.scan_times(ep, 151, 250, first_scan_at=50, interval_s=100)) == []
    # A window before the first scan starts at the first scan.
    assert list(book.scan_times(ep, 0, 260, first_scan_at=50, interval_s=100)) == [50.0, 150.0, 250.0]
    assert list(book.scan_times(ep, 1000, 1201, first_scan_at=0, interval_s=200)) == [1000.0, 1200.0]
    book.record(ep, "stop", at=200.0, action_id=1)
    assert list(book.scan_times(ep, 0, 500, first_scan_at=0, interval_s=100)) == [0.0, 100.0]
    assert list(_book(fraction=0.0).scan_times(ep, 0, 500, first_scan_at=0, interval_s=100)) == []


@pytest.mark.parametrize("interval", [0, -1.0])
def test_a_scan_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(ValueError, match=r"^interval_s must be > 0$"):
        next(_book().scan_times(_endpoint(), 0, 10, first_scan_at=0, interval_s=interval))


def test_a_tiny_interval_is_fine() -> None:
    times = list(_book().scan_times(_endpoint(), 0, 1, first_scan_at=0, interval_s=0.25))
    assert times == [0.0, 0.25, 0.5, 0.75]


def test_the_module_functions_read_the_store_with_the_seeds_defaults() -> None:
    store = MemoryStore()
    fleet = Fleet(SEED, 40)
    running = next(ep for ep in fleet if stable_fraction(SEED, ep.index, "scanner-running") < 0.9)
    stopped = next(ep for ep in fleet if stable_fraction(SEED, ep.index, "scanner-running") >= 0.9)
    assert scanner_running_at(store, SEED, running, 0.0) is True
    assert scanner_running_at(store, SEED, stopped, 0.0) is False
    assert scanner_installed_at(store, SEED, running, 0.0) is True
    ScannerBook(store, SEED).record(running, "uninstall", at=1.0, action_id=1)
    ScannerBook(store, SEED).record(running, "stop", at=2.0, action_id=1)
    assert scanner_installed_at(store, SEED, running, 1.0) is False
    assert scanner_running_at(store, SEED, running, 1.0) is True
    assert scanner_running_at(store, SEED, running, 2.0) is False
