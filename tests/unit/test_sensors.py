"""Sensors and the endpoint-side cache; the scanner state they read."""

from __future__ import annotations

import pytest

from simulator.errors import NotFound
from simulator.platform.sensors import FILE_MISSING, SensorCatalog, SensorEvaluator, SensorRef
from simulator.platform.timing import PlatformTiming
from simulator.state.filesystem import EndpointFiles
from simulator.state.fleet import Fleet
from simulator.state.scanner import ScannerBook, scanner_installed_at, scanner_running_at
from simulator.state.store import MemoryStore

T0 = 1_795_219_200.0
BINARY = "/opt/cryptosense/bin/cs-host-scanner"


@pytest.fixture
def world() -> tuple[Fleet, ScannerBook, SensorEvaluator]:
    fleet = Fleet(seed=5, size=40)
    book = ScannerBook(MemoryStore(), seed=5)
    files = EndpointFiles(
        "/opt/cryptosense/traces/trace.cst.gz", "C:\\ProgramData\\Cryptosense\\traces\\trace.cst.gz"
    )
    return fleet, book, SensorEvaluator(5, book, files, PlatformTiming())


def test_catalog_lookup() -> None:
    catalog = SensorCatalog()
    assert catalog.by_name("computer name").name == "Computer Name"
    assert catalog.by_id_or_hash(sensor_hash=catalog.by_name("Online").hash).name == "Online"
    with pytest.raises(NotFound):
        catalog.by_name("Nope")


def test_most_endpoints_run_the_scanner(world: tuple[Fleet, ScannerBook, SensorEvaluator]) -> None:
    fleet, book, _ = world
    running = sum(book.runs_by_default(ep) for ep in fleet)
    assert 30 <= running < 40


def test_cache_is_refreshed_every_half_max_age(world: tuple[Fleet, ScannerBook, SensorEvaluator]) -> None:
    fleet, _, sensors = world
    ref = SensorRef(SensorCatalog().by_name("3P Cryptosense - Monitor"))
    for ep in fleet:
        for dt in (0.0, 100.0, 449.0, 3000.0):
            last = sensors.last_evaluation(ref, ep, T0 + dt)
            assert T0 + dt - 450.0 < last <= T0 + dt


def test_stale_default_age_and_fresh_one_minute_answers(
    world: tuple[Fleet, ScannerBook, SensorEvaluator],
) -> None:
    fleet, book, sensors = world
    ref = SensorRef(SensorCatalog().by_name("3P Cryptosense - Monitor"))
    targets = [ep for ep in fleet if book.runs_by_default(ep)]
    for ep in targets:
        book.record(ep, "stop", at=T0, action_id=1)
    later = T0 + 61
    default = [sensors.answer(ref, ep, later) for ep in targets]
    fresh = [sensors.answer(ref, ep, later, max_age_seconds=60) for ep in targets]
    assert "Running" in default  # cached before the stop
    assert set(fresh) == {"Not Running"}
    assert {sensors.answer(ref, ep, T0 + 451) for ep in targets} == {"Not Running"}  # every cache refreshed


def test_file_exists_follows_the_uninstall(world: tuple[Fleet, ScannerBook, SensorEvaluator]) -> None:
    fleet, book, sensors = world
    ep = next(e for e in fleet if not e.is_windows)
    catalog = SensorCatalog()
    ref = SensorRef(catalog.by_name("File Exists"), (("filePath", BINARY),))
    assert ref.display_name == f"File Exists[{BINARY}]"
    assert sensors.truth(ref, ep, T0) == f"File Exists: {BINARY}"
    book.record(ep, "uninstall", at=T0 + 10, action_id=2)
    assert sensors.truth(ref, ep, T0 + 10) == FILE_MISSING
    assert sensors.truth(SensorRef(catalog.by_name("Computer ID")), ep, T0) == ep.client_id
    windows = next(e for e in fleet if e.is_windows)
    assert sensors.truth(ref, windows, T0) == FILE_MISSING
    win_ref = SensorRef(
        catalog.by_name("File Exists"), (("filePath", "c:/program files/cryptosense/CS-HOST-SCANNER.EXE"),)
    )
    assert sensors.truth(win_ref, windows, T0).startswith("File Exists")


def test_uninstall_without_stop_keeps_running_and_scanning(
    world: tuple[Fleet, ScannerBook, SensorEvaluator],
) -> None:
    fleet, book, _ = world
    ep = next(e for e in fleet if book.runs_by_default(e))
    book.record(ep, "uninstall", at=T0, action_id=1)
    assert not book.installed_at(ep, T0) and book.running_at(ep, T0 + 86_400)
    assert scanner_running_at(book.store, 5, ep, T0 + 1) and not scanner_installed_at(
        book.store, 5, ep, T0 + 1
    )
    assert len(list(book.scan_times(ep, T0, T0 + 5 * 3600, first_scan_at=T0, interval_s=3600))) == 5
    book.record(ep, "stop", at=T0 + 2.5 * 3600, action_id=2)
    assert list(book.scan_times(ep, T0, T0 + 5 * 3600, first_scan_at=T0, interval_s=3600)) == [
        T0,
        T0 + 3600,
        T0 + 7200,
    ]


def test_cancel_after_drops_only_future_events(world: tuple[Fleet, ScannerBook, SensorEvaluator]) -> None:
    fleet, book, _ = world
    a, b = [e for e in fleet if book.runs_by_default(e)][:2]
    book.record(a, "stop", at=T0 + 5, action_id=9)
    book.record(b, "stop", at=T0 + 50, action_id=9)
    book.cancel_after(a, 9, T0 + 10)
    book.cancel_after(b, 9, T0 + 10)
    assert not book.running_at(a, T0 + 100) and book.running_at(b, T0 + 100)
    with pytest.raises(ValueError, match="kind"):
        book.record(a, "reboot", at=T0, action_id=1)


def test_timing_validates() -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        PlatformTiming(action_failure_rate=2)
    assert PlatformTiming(sensor_max_age_s={"Online": 30}).sensor_max_age("Online") == 30
