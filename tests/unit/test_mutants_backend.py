"""Tests that kill mutmut's survivors in simulator/state/backend.py (docs/testing.md).

The backend driven directly, on a manual clock and a stand-in trace catalog whose traces are a pure
function of their spec (sizes and hashes name the spec), so every field of a trace spec, a connection,
a task and an evidence item the backend builds shows up in what it answers — in milliseconds, without
generating a trace.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from simulator.clock import ManualClock, SystemClock
from simulator.errors import BadRequest, Conflict, NotFound
from simulator.faults.latency import Distribution
from simulator.settings import FleetProfile, Lifecycle, Settings
from simulator.state import connections, evidence, tasks
from simulator.state.backend import (
    ENDPOINT_STATE,
    SCAN_EPOCH,
    WORLD,
    ThreatResponseBackend,
    WorldClock,
    _fleet,
    _trace_sources,
)
from simulator.state.connections import ConnectionRecord
from simulator.state.evidence import EvidenceRecord
from simulator.state.filesystem import SCANNER_BYTES
from simulator.state.fleet import Fleet, stable_fraction, stable_hash
from simulator.state.scanner import ScannerBook
from simulator.state.store import MemoryStore
from simulator.state.tasks import TaskRecord
from simulator.traces import ChurnRates, TraceSpec
from simulator.traces.catalog import TraceCatalog
from simulator.traces.generator import scan_id
from simulator.traces.sources import TraceFile, TraceSourceError

T0 = 1_795_219_200.0
FLEET = FleetProfile(linux_fraction=0.5, profile_mix={"small": 1.0})
LINUX_TRACE = "/opt/cryptosense/traces/trace.cst.gz"
LINUX_DIFF = "/opt/cryptosense/traces/trace.diff.cst.gz"
SCANNER = "/opt/cryptosense/bin/cs-host-scanner"
# Endpoints of seed 3 with FLEET: 0 and 2 Linux, 1 and 3 Windows.
EP0 = ("4113348062", "proxy-wood-01", "10.16.0.1")
EP1 = ("2472816527", "rdp-avila-02", "10.16.0.2")


class FakeTrace:
    def __init__(self, spec: TraceSpec) -> None:
        self.spec = spec
        self.size = 1000 + 100 * spec.scan + (7 if spec.diff else 0) + spec.index
        self.sha256 = hashlib.sha256(repr(spec).encode()).hexdigest()
        self.manifest: dict[str, Any] = {
            "scan": 1 if spec.source_file else spec.scan,  # a provided file names its own scan
            "scan_id": f"scan-{spec.index}-{spec.scan}",
            "path": spec.path,
            "size": f"manifest-{self.size}",  # the backend overrides these with the trace's own
            "sha256": f"manifest-{self.sha256}",
            "record_count": 5,
            "changes": {"added": spec.scan, "removed": 1} if spec.diff else "from the generator",
            "baseline_scan_id": f"scan-{spec.index}-{spec.scan - 1}",
            "baseline_record_count": 4,
        }


class FakeCatalog:
    def __init__(self) -> None:
        self.specs: list[TraceSpec] = []
        self.hook: Callable[[], None] | None = None

    def trace(self, spec: TraceSpec) -> FakeTrace:
        self.specs.append(spec)
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()
        return FakeTrace(spec)

    def inventory_sha256(self, spec: TraceSpec) -> str:
        return f"inv-{spec.index}-{spec.scan}"


class FakeSources:
    def __init__(self, files: dict[int, TraceFile]) -> None:
        self.files = files

    def file_for(self, fleet: Any, index: int) -> TraceFile | None:
        assert isinstance(fleet, Fleet)  # files are assigned over the fleet
        return self.files.get(index)


def make(
    *, store: MemoryStore | None = None, clock: ManualClock | None = None, **kw: Any
) -> tuple[ThreatResponseBackend, ManualClock, FakeCatalog]:
    kw.setdefault("endpoints", 6)
    settings = Settings(seed=3, fleet=FLEET, **kw)
    clock = clock or ManualClock(T0)
    catalog = FakeCatalog()
    backend = ThreatResponseBackend(
        settings,
        clock=clock,
        store=store or MemoryStore(),
        fleet=_fleet(settings),
        catalog=catalog,  # type: ignore[arg-type]
    )
    return backend, clock, catalog


def connected(backend: ThreatResponseBackend, clock: ManualClock, index: int = 0) -> str:
    ep = backend.fleet.endpoint(index)
    backend.connect({"clientId": ep.client_id})
    clock.advance(backend.settings.lifecycle.connect_delay_s)
    return next(c["id"] for c in reversed(backend.list_connections()) if c["clientId"] == ep.client_id)


def detail(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(exc.value.text)


def spec(index: int = 0, scan: int = 1, interval: float = 86_400.0, **kw: Any) -> TraceSpec:
    b, _, _ = make()
    ep = b.fleet.endpoint(index)
    offset = stable_hash(3, index, "scan-offset") % 86_400
    return TraceSpec(
        seed=3,
        index=index,
        client_id=ep.client_id,
        hostname=ep.hostname,
        platform=ep.platform,
        profile=ep.profile,
        scan=scan,
        scan_time=SCAN_EPOCH + offset + (scan - 1) * interval,
        scanner_version=ep.scanner_version,
        scan_interval_s=interval,
        churn=b.settings.churn,
        **kw,
    )


def evidence_uuid(task_id: int, seed: int = 3) -> str:
    digest = hashlib.blake2b(f"{seed}:evidence:{task_id}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


# -- construction and the world -------------------------------------------------------------------


def test_construction_keeps_its_parts_and_starts_the_world() -> None:
    store = MemoryStore()
    b, clock, catalog = make(store=store, token="tok", username="u", password="p", task_retention=7)
    assert (b.store, b.clock, b.catalog) == (store, clock, catalog)
    assert b.trace_sources is None
    assert b.task_retention.keep == 7
    assert (b.files.linux_trace_path, b.files.windows_trace_path) == (
        LINUX_TRACE,
        "C:\\ProgramData\\Cryptosense\\traces\\trace.cst.gz",
    )
    sessions = vars(b.sessions)
    assert sessions["_store"] is store
    assert (sessions["_seed"], sessions["_token"], sessions["_username"], sessions["_password"]) == (
        3,
        "tok",
        "u",
        "p",
    )
    assert sessions["_token_expires_at"] == T0 + b.settings.token_lifetime_s
    assert b.sessions.session_lifetime_s == b.settings.session_lifetime_s
    assert store.get(WORLD, WORLD) == WorldClock(T0, ((T0, 0.0),))
    assert (b.started_at, b.scan_schedule) == (T0, ((T0, 0.0),))
    assert b.now() == T0


def test_build_fills_in_a_system_clock_a_memory_store_and_a_catalog() -> None:
    settings = Settings(seed=3, endpoints=4, fleet=FLEET, trace_cache_bytes=12345)
    b = ThreatResponseBackend.build(settings)
    assert isinstance(b.clock, SystemClock) and isinstance(b.store, MemoryStore)
    assert isinstance(b.catalog, TraceCatalog) and b.catalog.cache_bytes == 12345
    assert (b.fleet.seed, b.fleet.size, b.fleet.profile) == (3, 4, FLEET)
    clock, store = ManualClock(5.0), MemoryStore()
    built = ThreatResponseBackend.build(settings, clock=clock, store=store)
    assert (built.clock, built.store, built.started_at) == (clock, store, 5.0)


def test_a_second_process_joins_the_world_on_a_shared_store() -> None:
    store = MemoryStore()
    make(store=store, scan_interval_s=100.0)
    later, _, _ = make(store=store, clock=ManualClock(T0 + 50), scan_interval_s=100.0)
    assert later.started_at == T0
    assert later.scan_schedule == ((T0, 100.0),)


def test_fleet_from_settings() -> None:
    settings = Settings(
        seed=4,
        endpoints=9,
        fleet=FLEET,
        lifecycle=Lifecycle(offline_fraction=0.25, missing_trace_fraction=0.5),
    )
    fleet = _fleet(settings)
    assert (fleet.seed, fleet.size, fleet.profile) == (4, 9, FLEET)
    assert (fleet.offline_fraction, fleet.missing_trace_fraction) == (0.25, 0.5)
    assert _trace_sources(Settings()) is None
    with pytest.raises(TraceSourceError, match="is not a folder"):
        _trace_sources(Settings(traces_dir="/nonexistent/traces/dir"))


def test_apply_settings_rebuilds_only_what_changed() -> None:
    b, _clock, _ = make()
    fleet, sources = b.fleet, object()
    b.trace_sources = sources  # type: ignore[assignment]
    b.apply_settings(replace(b.settings, session_lifetime_s=11.0, task_retention=3))
    assert b.fleet is fleet and b.trace_sources is sources
    assert b.sessions.session_lifetime_s == 11.0 and b.task_retention.keep == 3
    assert b.scan_schedule == ((T0, 0.0),)
    for change in (
        {"seed": 4},
        {"endpoints": 7},
        {"fleet": FleetProfile(linux_fraction=0.2)},
        {"lifecycle": Lifecycle(offline_fraction=0.5)},
        {"lifecycle": Lifecycle(missing_trace_fraction=0.5)},
    ):
        before = b.fleet
        b.apply_settings(replace(b.settings, **change))
        assert b.fleet is not before, change
    assert (b.fleet.offline_fraction, b.fleet.missing_trace_fraction) == (0.0, 0.5)
    before = b.fleet
    b.apply_settings(replace(b.settings, lifecycle=Lifecycle(missing_trace_fraction=0.5, idle_timeout_s=1.0)))
    assert b.fleet is before
    assert b.settings.lifecycle.idle_timeout_s == 1.0
    with pytest.raises(TraceSourceError, match="is not a folder"):
        b.apply_settings(replace(b.settings, traces_dir="/nonexistent/traces/dir"))


def test_a_new_scan_interval_adds_a_stretch_from_now_once() -> None:
    store = MemoryStore()
    b, clock, _ = make(store=store, scan_interval_s=100.0)
    clock.advance(250.0)
    b.apply_settings(replace(b.settings, scan_interval_s=40.0))
    assert b.scan_schedule == ((T0, 100.0), (T0 + 250.0, 40.0))
    other, _, _ = make(store=store, clock=clock, scan_interval_s=100.0)
    other.apply_settings(replace(other.settings, scan_interval_s=40.0))  # another process: already there
    assert other.scan_schedule == ((T0, 100.0), (T0 + 250.0, 40.0))
    store.clear()  # a reset meanwhile: the stretch starts a new world
    clock.advance(10.0)
    b.apply_settings(replace(b.settings, scan_interval_s=70.0))
    assert store.get(WORLD, WORLD) == WorldClock(T0 + 260.0, ((T0 + 260.0, 70.0),))


def test_samples_come_from_a_stream_per_record() -> None:
    b, _, _ = make()
    assert b._sample(0.7, None, "x", 1) == 0.7
    dist = Distribution("uniform", min=1.0, max=2.0)
    expected = random.Random(stable_hash(3, "x", 1)).uniform(1.0, 2.0)
    assert b._sample(0.7, dist, "x", 1) == expected
    assert b._sample(0.7, dist, "x", 2) != expected


# -- endpoints, scans and traces ------------------------------------------------------------------


def test_endpoint_or_404() -> None:
    b, _, _ = make()
    assert b.endpoint_or_404(EP0[0]) == b.fleet.endpoint(0)
    with pytest.raises(NotFound) as caught:
        b.endpoint_or_404("999")
    assert detail(caught) == "404 Item Not Found: no endpoint with clientId 999"


def _first(index: int, interval: float, start: float = T0) -> float:
    return start + (1 + stable_fraction(3, index, "scan-phase")) * interval


def test_scans_count_every_interval_from_each_endpoints_phase() -> None:
    b, clock, _ = make(scan_interval_s=1000.0)
    ep = b.fleet.endpoint(0)
    first = _first(0, 1000.0)
    assert b.current_scan(ep) == 1
    clock.set(first - 0.001)
    assert b.current_scan(ep) == 1
    clock.set(first)
    assert b.current_scan(ep) == 2
    clock.set(first + 999.0)
    assert b.current_scan(ep) == 2
    clock.set(first + 1000.0)
    assert b.current_scan(ep) == 3
    clock.set(first + 10_000.0)
    assert b.current_scan(ep) == 12
    other = b.fleet.endpoint(1)
    clock.set(_first(1, 1000.0))
    assert b.current_scan(other) == 2
    assert b.current_scan(ep) == 1 if _first(1, 1000.0) < first else b.current_scan(ep) >= 2


def test_without_a_schedule_scans_happen_only_on_demand() -> None:
    b, clock, _ = make()
    clock.advance(10 * 86_400.0)
    assert b.current_scan(b.fleet.endpoint(0)) == 1


def test_a_stopped_scanner_stops_counting_scans() -> None:
    b, clock, _ = make(scan_interval_s=1000.0)
    ep = b.fleet.endpoint(0)
    first = _first(0, 1000.0)
    book = ScannerBook(b.store, 3)
    book.record(ep, "stop", at=first + 5000.5, action_id=1)
    for k in range(12):
        clock.set(first + k * 1000.0)
        assert b.current_scan(ep) == 2 + min(k, 5), k
    clock.set(first + 50_000.0)
    assert b.current_scan(ep) == 7
    early, clock2, _ = make(scan_interval_s=1000.0)
    ScannerBook(early.store, 3).record(ep, "stop", at=first - 1, action_id=1)
    clock2.set(first + 9000.0)
    assert early.current_scan(ep) == 1
    exact, clock3, _ = make(scan_interval_s=1000.0)
    ScannerBook(exact.store, 3).record(
        ep, "stop", at=first + 3000.0, action_id=1
    )  # stopped as scan 5 was due
    clock3.set(first + 9000.0)
    assert exact.current_scan(ep) == 4


def test_the_binary_search_finds_the_last_scan_before_a_stop() -> None:
    for stop_k in range(0, 9):
        b, clock, _ = make(scan_interval_s=10.0)
        ep = b.fleet.endpoint(2)
        first = _first(2, 10.0)
        ScannerBook(b.store, 3).record(ep, "stop", at=first + stop_k * 10.0 + 5.0, action_id=1)
        clock.set(first + 100.0)
        assert b.current_scan(ep) == 2 + stop_k, stop_k


def test_scans_follow_each_stretch_of_the_schedule() -> None:
    b, clock, _ = make(scan_interval_s=1000.0)
    ep = b.fleet.endpoint(0)
    first = _first(0, 1000.0)
    clock.set(first + 2500.0)  # scans at first, +1000, +2000
    assert b.current_scan(ep) == 4
    b.apply_settings(replace(b.settings, scan_interval_s=100.0))
    start = first + 2500.0
    first2 = _first(0, 100.0, start)
    clock.set(first2 + 450.0)  # first2, +100, ..., +400: 5 more; none from the old stretch
    assert b.current_scan(ep) == 9
    b.apply_settings(replace(b.settings, scan_interval_s=0.0))  # scans only on demand from now on
    clock.advance(10_000.0)
    assert b.current_scan(ep) == 9


def test_a_stored_scan_counts_scheduled_scans_after_its_time() -> None:
    b, clock, _ = make(scan_interval_s=1000.0)
    ep = b.fleet.endpoint(0)
    first = _first(0, 1000.0)
    b.store.put(ENDPOINT_STATE, ep.client_id, {"scan": 5, "at": first + 500.0})
    clock.set(first + 999.0)
    assert b.current_scan(ep) == 5
    clock.set(first + 1000.0)
    assert b.current_scan(ep) == 6
    b.store.put(ENDPOINT_STATE, ep.client_id, {"scan": "5"})  # no time: counted from scan 1
    assert b.current_scan(ep) == 7
    clock.set(T0)
    b.set_scan(ep, 3)
    assert b.store.get(ENDPOINT_STATE, ep.client_id) == {"scan": 3, "at": T0}
    assert b.current_scan(ep) == 3
    with pytest.raises(ValueError, match=r"^scan must be >= 1$"):
        b.set_scan(ep, 0)
    b.set_scan(ep, 1)
    assert b.current_scan(ep) == 1


def test_scan_now_adds_a_scan() -> None:
    b, clock, catalog = make()
    clock.advance(5.0)
    assert b.scan_now(EP0[0]) == {
        "client_id": EP0[0],
        "hostname": EP0[1],
        "scan": 2,
        "scan_id": scan_id(spec(0, 2)),
        "scan_time": "2026-11-02T04:20:31Z",
        "path": LINUX_TRACE,
        "diff_path": LINUX_DIFF,
    }
    assert b.store.get(ENDPOINT_STATE, EP0[0]) == {"scan": 2, "at": T0 + 5.0}
    assert b.scan_now(EP0[0])["scan"] == 3
    assert b.current_scan(b.fleet.endpoint(0)) == 3
    assert catalog.specs == []  # generated traces are not built for it
    with pytest.raises(NotFound):
        b.scan_now("999")


def test_scan_now_on_a_stopped_scanner_is_a_conflict() -> None:
    b, clock, _ = make()
    ScannerBook(b.store, 3).record(b.fleet.endpoint(0), "stop", at=T0 + 1.0, action_id=1)
    assert b.scan_now(EP0[0])["scan"] == 2
    clock.advance(1.0)
    with pytest.raises(Conflict) as caught:
        b.scan_now(EP0[0])
    assert detail(caught) == (
        "409 Conflict: the scanner is not running on proxy-wood-01: a stopped scanner makes no scans"
    )


def test_scan_now_with_a_provided_file() -> None:
    b, _, catalog = make()
    b.trace_sources = FakeSources({0: TraceFile("mine.cst.gz", "/data/mine.cst.gz")})  # type: ignore[assignment]
    answer = b.scan_now(EP0[0])
    assert answer["scan_id"] == "scan-0-2"  # the file's own id, from its manifest
    assert answer["diff_path"] is None
    assert catalog.specs[-1].source_file == "/data/mine.cst.gz"


def test_trace_specs() -> None:
    b, _, catalog = make()
    ep = b.fleet.endpoint(1)
    assert b.trace_spec(ep) == spec(1, 1)
    assert b.trace_spec(ep, 4) == spec(1, 4)
    assert b.diff_spec(ep, 4) == replace(
        spec(1, 4), diff=True, path="C:\\ProgramData\\Cryptosense\\traces\\trace.diff.cst.gz"
    )
    assert b.trace(ep, 2).spec == spec(1, 2)
    assert catalog.specs == [spec(1, 2)]
    timed, _, _ = make(scan_interval_s=600.0)
    assert timed.trace_spec(timed.fleet.endpoint(0), 3) == spec(0, 3, interval=600.0)
    assert timed.trace_file(timed.fleet.endpoint(0)) is None
    b.trace_sources = FakeSources({1: TraceFile("a.cst.gz", "/data/a.cst.gz")})  # type: ignore[assignment]
    assert b.trace_file(ep) == TraceFile("a.cst.gz", "/data/a.cst.gz")
    assert b.trace_spec(ep, 2) == spec(1, 2, source_file="/data/a.cst.gz")
    assert b.trace_spec(b.fleet.endpoint(0), 2).source_file is None


def test_the_manifest_of_scan_1_has_no_changes() -> None:
    b, _, _ = make()
    trace = FakeTrace(spec(0, 1))
    assert b.manifest(EP0[0]) == {
        **trace.manifest,
        "client_id": EP0[0],
        "hostname": EP0[1],
        "platform": "Linux",
        "profile": "small",
        "path": LINUX_TRACE,
        "size": trace.size,
        "sha256": trace.sha256,
        "has_trace": True,
        "online": True,
        "inventory_sha256": "inv-0-1",
        "changes": None,
        "trace_file": None,
    }
    with pytest.raises(NotFound):
        b.manifest("999")


def test_a_later_manifest_describes_its_diff() -> None:
    b, _, _ = make()
    manifest = b.manifest(EP0[0], 3)
    diff = FakeTrace(replace(spec(0, 3), diff=True, path=LINUX_DIFF))
    assert manifest["scan"] == 3
    assert manifest["changes"] == {
        "added": 3,
        "removed": 1,
        "path": LINUX_DIFF,
        "size": diff.manifest["size"],
        "sha256": diff.manifest["sha256"],
        "baseline_scan_id": "scan-0-2",
        "baseline_record_count": 4,
    }
    assert manifest["inventory_sha256"] == "inv-0-3"
    assert b.manifest(EP0[0], 2)["changes"]["baseline_scan_id"] == "scan-0-1"  # from scan 2 on


def test_the_manifest_of_a_provided_file() -> None:
    b, _, catalog = make()
    b.trace_sources = FakeSources({0: TraceFile("mine.cst.gz", "/data/mine.cst.gz")})  # type: ignore[assignment]
    manifest = b.manifest(EP0[0], 3)
    assert (manifest["scan"], manifest["changes"], manifest["trace_file"]) == (3, None, "mine.cst.gz")
    assert all(not s.diff for s in catalog.specs)


# -- connections ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "text"),
    [
        (None, 'body must be {"target": {"clientId": ...}}'),
        ([EP0[0]], 'body must be {"target": {"clientId": ...}}'),
        ({"clientId": [1]}, "target.clientId must be a string"),
        ({"clientId": 1.5}, "target.clientId must be a string"),
        ({"hostname": {"a": 1}}, "target.hostname must be a string"),
        ({"ip": 10.5}, "target.ip must be a string"),
        ({"clientId": "1" * 256}, "target.clientId is 256 characters long; at most 255 are accepted"),
        ({"hostname": "h" * 256}, "target.hostname is 256 characters long; at most 255 are accepted"),
        ({"ip": "1" * 65}, "target.ip is 65 characters long; at most 64 are accepted"),
        ({}, "target needs a clientId (or a hostname or ip)"),
        (
            {"clientId": None, "hostname": " ", "ip": "undefined"},
            "target needs a clientId (or a hostname or ip)",
        ),
        ({"clientId": "None", "hostname": ""}, "target needs a clientId (or a hostname or ip)"),
    ],
)
def test_bad_targets_are_400_and_store_nothing(target: Any, text: str) -> None:
    b, _, _ = make()
    with pytest.raises(BadRequest) as caught:
        b.connect(target)
    assert caught.value.detail == text
    assert b.store.count(connections.TABLE) == 0


def test_longest_target_fields_are_accepted() -> None:
    b, _, _ = make()
    assert b.connect({"clientId": "1" * 255}) == "remote:undefined:" + "1" * 255 + ":"
    assert b.connect({"hostname": "h" * 255}) == "remote:" + "h" * 255 + "::"
    assert b.connect({"ip": "1" * 64}) == "remote:undefined::"


def test_connect_by_client_id_stores_the_full_record() -> None:
    b, _clock, _ = make()
    assert b.connect({"clientId": f" {EP0[0]} "}) == f"remote:undefined:{EP0[0]}:"
    record_id = f"remote:{EP0[1]}:{EP0[0]}:1"
    assert b.store.get(connections.TABLE, record_id) == ConnectionRecord(
        id=record_id,
        client_id=EP0[0],
        hostname=EP0[1],
        ip=EP0[2],
        platform="Linux",
        eid="1",
        user_id="1",
        initiated_at=T0,
        ready_delay_s=0.2,
        reachable=True,
        unreachable_timeout_s=5.0,
        idle_timeout_s=600.0,
        last_activity_at=T0,
    )
    assert b.connect({"clientId": int(EP1[0])}) == f"remote:undefined:{EP1[0]}:"
    assert b.store.get(connections.TABLE, f"remote:{EP1[1]}:{EP1[0]}:2").platform == "Windows"


def test_connect_by_hostname_or_ip_names_the_endpoint() -> None:
    b, _, _ = make()
    assert b.connect({"hostname": EP0[1].upper()}) == f"remote:{EP0[1].upper()}:{EP0[0]}:"
    assert b.connect({"ip": EP1[2], "hostname": "undefined"}) == f"remote:undefined:{EP1[0]}:"
    ids = [c["id"] for c in b.list_connections()]
    assert ids == [f"remote:{EP0[1]}:{EP0[0]}:1", f"remote:{EP1[1]}:{EP1[0]}:2"]
    # The clientId wins over a hostname, which is only echoed.
    assert b.connect({"clientId": EP0[0], "hostname": "other"}) == f"remote:other:{EP0[0]}:"
    assert b.list_connections()[-1]["hostname"] == EP0[1]


def test_unknown_targets_get_a_connection_that_never_answers() -> None:
    b, clock, _ = make()
    assert b.connect({"clientId": "999"}) == "remote:undefined:999:"
    assert b.connect({"hostname": "nohost", "ip": "1.2.3.4"}) == "remote:nohost::"
    assert b.connect({"ip": "1.2.3.4"}) == "remote:undefined::"
    records = list(b.store.values(connections.TABLE))
    assert [(r.id, r.client_id, r.hostname, r.ip, r.platform, r.reachable) for r in records] == [
        ("remote::999:1", "999", "", "", "", False),
        ("remote:nohost::2", "", "nohost", "1.2.3.4", "", False),
        ("remote:::3", "", "", "1.2.3.4", "", False),
    ]
    clock.advance(5.0)
    assert {c["status"] for c in b.list_connections()} == {"timeout"}


def test_an_offline_endpoint_is_unreachable_with_the_lifecycles_timeouts() -> None:
    life = Lifecycle(offline_fraction=1.0, offline_timeout_s=9.0, idle_timeout_s=33.0, connect_delay_s=1.5)
    b, _, _ = make(lifecycle=life)
    b.connect({"clientId": EP0[0]})
    record = next(iter(b.store.values(connections.TABLE)))
    assert (record.reachable, record.unreachable_timeout_s, record.idle_timeout_s, record.ready_delay_s) == (
        False,
        9.0,
        33.0,
        1.5,
    )


def test_a_connect_delay_distribution_is_sampled_per_eid() -> None:
    dist = Distribution("uniform", min=1.0, max=2.0)
    b, _, _ = make(lifecycle=Lifecycle(connect_delay=dist))
    b.connect({"clientId": EP0[0]})
    record = next(iter(b.store.values(connections.TABLE)))
    assert record.ready_delay_s == random.Random(stable_hash(3, "connect-delay", "1")).uniform(1.0, 2.0)


def test_connection_lifecycle_operations() -> None:
    b, clock, _ = make()
    cid = connected(b, clock)
    assert b.get_connection(cid)["status"] == "connected"
    assert b.list_connections() == [b.get_connection(cid)]
    clock.advance(1.0)
    b.close_connection(cid)
    assert b.store.get(connections.TABLE, cid).closed_at == T0 + 1.2
    assert b.get_connection(cid)["status"] == "disconnected"
    b.delete_connection(cid)
    for op in (b.get_connection, b.close_connection, b.delete_connection):
        with pytest.raises(NotFound) as caught:
            op(cid)
        assert detail(caught) == "404 Item Not Found"


# -- endpoint files -------------------------------------------------------------------------------


def test_file_info_answers_and_touches_the_connection() -> None:
    b, clock, catalog = make()
    cid = connected(b, clock)
    clock.advance(3.0)
    size = FakeTrace(spec(0, 1)).size
    modified = spec(0, 1).scan_time
    assert b.file_info(cid, "/opt/cryptosense/../cryptosense/traces/trace.cst.gz") == {
        "sessionId": str(uuid.uuid5(uuid.NAMESPACE_URL, cid)),
        "cid": cid,
        "path": "/opt/cryptosense/../cryptosense/traces/trace.cst.gz",
        "info": {
            "type": "FILE",
            "name": LINUX_TRACE,
            "permissions": 438,
            "size": size,
            "createdDate": int(modified * 1000),
            "modifiedDate": int(modified * 1000),
            "canonicalPath": LINUX_TRACE,
        },
    }
    assert b.store.get(connections.TABLE, cid).last_activity_at == T0 + 3.2
    assert catalog.specs == [spec(0, 1)]
    with pytest.raises(NotFound) as caught:
        b.file_info(cid, "/opt/nothing")
    assert detail(caught) == "404 Item Not Found: no such file on proxy-wood-01: /opt/nothing"
    with pytest.raises(BadRequest):
        b.file_info(cid, "relative/path")


def test_file_info_on_windows_ignores_case() -> None:
    b, clock, _ = make()
    cid = connected(b, clock, 1)
    info = b.file_info(cid, "c:/programdata/cryptosense/traces/TRACE.CST.GZ")["info"]
    assert info["canonicalPath"] == "C:\\ProgramData\\Cryptosense\\traces\\trace.cst.gz"


def test_file_operations_need_a_connected_connection() -> None:
    b, _clock, _ = make()
    b.connect({"clientId": EP0[0]})
    cid = b.list_connections()[0]["id"]
    for op in (b.file_info, b.file_list, b.request_file):
        with pytest.raises(BadRequest) as caught:
            op(cid, "/opt")
        assert caught.value.detail == (
            f"connection {cid} is waiting; file operations need a connected connection"
        )
    with pytest.raises(NotFound):
        b.file_info("remote:x:1:9", "/opt")
    assert b.store.get(connections.TABLE, cid).last_activity_at == T0


def test_a_connection_whose_endpoint_left_the_fleet_is_404() -> None:
    b, clock, _ = make()
    cid = connected(b, clock, 5)
    b.apply_settings(replace(b.settings, endpoints=3))
    with pytest.raises(NotFound) as caught:
        b.file_list(cid, "/opt")
    assert detail(caught) == "404 Item Not Found"


def test_file_list_lists_a_directory() -> None:
    b, clock, _ = make()
    cid = connected(b, clock)
    clock.advance(2.0)
    b.scan_now(EP0[0])  # scan 2: the diff trace is there too
    answer = b.file_list(cid, "/opt/cryptosense/traces/")
    assert (answer["sessionId"], answer["cid"], answer["path"]) == (
        str(uuid.uuid5(uuid.NAMESPACE_URL, cid)),
        cid,
        "/opt/cryptosense/traces/",
    )
    assert [(e["name"], e["size"]) for e in answer["entries"]] == [
        ("trace.cst.gz", FakeTrace(spec(0, 2)).size),
        ("trace.diff.cst.gz", FakeTrace(replace(spec(0, 2), diff=True, path=LINUX_DIFF)).size),
    ]
    assert b.store.get(connections.TABLE, cid).last_activity_at == T0 + 2.2
    assert [e["name"] for e in b.file_list(cid, "/")["entries"]] == ["opt"]
    for path in ("/opt/nothing", SCANNER):
        with pytest.raises(NotFound) as caught:
            b.file_list(cid, path)
        assert detail(caught) == f"404 Item Not Found: no such directory on proxy-wood-01: {path}"


def test_file_list_on_windows() -> None:
    b, clock, _ = make()
    cid = connected(b, clock, 1)
    answer = b.file_list(cid, "c:/programdata/CRYPTOSENSE")
    assert answer["path"] == "c:/programdata/CRYPTOSENSE"
    assert answer["entries"] == [
        {
            "type": "DIRECTORY",
            "name": "traces",
            "permissions": 493,
            "size": 4096,
            "createdDate": 1_767_225_600_000,
            "modifiedDate": 1_767_225_600_000,
        }
    ]


def test_a_provided_file_has_no_diff_and_scan_1_has_none() -> None:
    b, clock, _ = make()
    cid = connected(b, clock)
    assert [e["name"] for e in b.file_list(cid, "/opt/cryptosense/traces")["entries"]] == ["trace.cst.gz"]
    b.scan_now(EP0[0])
    b.trace_sources = FakeSources({0: TraceFile("mine.cst.gz", "/data/mine.cst.gz")})  # type: ignore[assignment]
    assert [e["name"] for e in b.file_list(cid, "/opt/cryptosense/traces")["entries"]] == ["trace.cst.gz"]


def test_an_uninstalled_scanner_leaves_no_files() -> None:
    b, clock, _ = make()
    cid = connected(b, clock)
    ScannerBook(b.store, 3).record(b.fleet.endpoint(0), "uninstall", at=clock.now() + 1, action_id=1)
    assert b.file_info(cid, SCANNER)["info"]["size"] == len(SCANNER_BYTES)
    clock.advance(1.0)
    with pytest.raises(NotFound):
        b.file_info(cid, SCANNER)


def test_a_reset_during_the_slow_part_wins() -> None:
    b, clock, catalog = make()
    cid = connected(b, clock)
    catalog.hook = b.reset
    with pytest.raises(NotFound):
        b.file_info(cid, LINUX_TRACE)
    b2, clock2, catalog2 = make()
    cid2 = connected(b2, clock2)
    catalog2.hook = lambda: b2.close_connection(cid2)
    with pytest.raises(BadRequest):
        b2.file_list(cid2, "/opt/cryptosense/traces")
    b3, clock3, catalog3 = make()
    cid3 = connected(b3, clock3)
    catalog3.hook = b3.reset
    with pytest.raises(NotFound):
        b3.request_file(cid3, LINUX_TRACE)
    assert b3.store.count(tasks.TABLE) == 0 and b3.store.count(evidence.TABLE) == 0


def test_requests_begun_before_a_reset_leave_the_new_worlds_twin_alone() -> None:
    # After a reset the eid counter starts over, so a new connection to the same endpoint gets the
    # same id: only the generation tells the old request from it.
    for op, path in (("file_info", LINUX_TRACE), ("request_file", LINUX_TRACE), ("file_list", "/opt")):
        b, clock, catalog = make()
        cid = connected(b, clock)

        def reset_and_reconnect(
            b: ThreatResponseBackend = b, clock: ManualClock = clock, cid: str = cid
        ) -> None:
            b.reset()
            assert connected(b, clock) == cid

        catalog.hook = reset_and_reconnect
        with pytest.raises(NotFound):
            getattr(b, op)(cid, path)
        assert b.store.get(connections.TABLE, cid).last_activity_at == T0 + 0.2
        assert b.store.count(tasks.TABLE) == 0 and b.store.count(evidence.TABLE) == 0


# -- tasks ----------------------------------------------------------------------------------------


def test_a_trace_request_makes_a_task_and_its_evidence() -> None:
    b, clock, catalog = make()
    cid = connected(b, clock)
    clock.advance(1.0)
    now = clock.now()
    answer = b.request_file(cid, "/opt/cryptosense/traces/./trace.cst.gz")
    trace = FakeTrace(spec(0, 1))
    uid = evidence_uuid(1)
    task = TaskRecord(
        id=1,
        connection_id=cid,
        client_id=EP0[0],
        hostname=EP0[1],
        path=LINUX_TRACE,
        created_at=now,
        duration_s=0.3,
        outcome="COMPLETED",
        error=None,
        evidence_uuid=uid,
        total_bytes=trace.size,
        transfer_hash=trace.sha256,
        polls_needed=0,
        intermediate=(),
    )
    assert b.store.get(tasks.TABLE, "1") == task
    assert answer == {"taskInfo": task.task_info(), "status": "ACCEPTED"}
    assert b.store.get(evidence.TABLE, uid) == EvidenceRecord(
        uuid=uid,
        task_id=1,
        client_id=EP0[0],
        endpoint_index=0,
        hostname=EP0[1],
        path=LINUX_TRACE,
        scan=1,
        available_at=now + 0.3,
        size=trace.size,
        hash=trace.sha256,
        file_modified_at=spec(0, 1).scan_time,
    )
    assert b.store.get(connections.TABLE, cid).last_activity_at == now
    assert catalog.specs[-1] == spec(0, 1)
    assert uid == evidence_uuid(1) and uid != evidence_uuid(1, seed=4)
    assert uuid.UUID(uid).version == 4


def test_a_diff_request_collects_the_diff_trace() -> None:
    b, clock, _catalog = make()
    cid = connected(b, clock)
    b.scan_now(EP0[0])
    b.request_file(cid, LINUX_DIFF)
    diff = FakeTrace(replace(spec(0, 2), diff=True, path=LINUX_DIFF))
    task = b.store.get(tasks.TABLE, "1")
    assert (task.total_bytes, task.transfer_hash, task.path) == (diff.size, diff.sha256, LINUX_DIFF)
    ev = b.store.get(evidence.TABLE, task.evidence_uuid)
    assert (ev.scan, ev.path, ev.size) == (2, LINUX_DIFF, diff.size)
    b.request_file(cid, LINUX_TRACE)
    assert b.store.get(tasks.TABLE, "2").total_bytes == FakeTrace(spec(0, 2)).size


def test_the_scanner_binary_is_a_fixed_stand_in() -> None:
    b, clock, _catalog = make()
    cid = connected(b, clock)
    b.request_file(cid, SCANNER)
    task = b.store.get(tasks.TABLE, "1")
    assert (task.outcome, task.error, task.evidence_uuid) == ("COMPLETED", None, evidence_uuid(1))
    assert (task.total_bytes, task.transfer_hash) == (
        len(SCANNER_BYTES),
        hashlib.sha256(SCANNER_BYTES).hexdigest(),
    )
    ev = b.store.get(evidence.TABLE, evidence_uuid(1))
    assert (ev.path, ev.size, ev.file_modified_at) == (SCANNER, 65536, 1_767_225_600.0)


@pytest.mark.parametrize("path", ["/opt/nothing", "/opt/cryptosense"])
def test_a_missing_path_or_a_folder_ends_as_the_lifecycle_says(path: str) -> None:
    b, clock, _ = make()
    cid = connected(b, clock)
    b.request_file(cid, path)
    task = b.store.get(tasks.TABLE, "1")
    assert (task.outcome, task.error, task.evidence_uuid, task.total_bytes, task.transfer_hash) == (
        "ERROR",
        f"File not found: {path}",
        None,
        0,
        "",
    )
    assert b.store.count(evidence.TABLE) == 0
    quiet, clock2, _ = make(lifecycle=Lifecycle(missing_path_status="INCOMPLETE"))
    cid2 = connected(quiet, clock2)
    quiet.request_file(cid2, path)
    assert (quiet.store.get(tasks.TABLE, "1").outcome, quiet.store.get(tasks.TABLE, "1").error) == (
        "INCOMPLETE",
        None,
    )


@pytest.mark.parametrize(
    ("outcome", "error"),
    [("ERROR", f"Failed to collect {LINUX_TRACE}: the endpoint reported an error"), ("INCOMPLETE", None)],
)
def test_outcome_weights_decide_trace_tasks(outcome: str, error: str | None) -> None:
    b, clock, _ = make(lifecycle=Lifecycle(outcome_weights=((outcome, 1.0),)))
    cid = connected(b, clock)
    b.request_file(cid, LINUX_TRACE)
    task = b.store.get(tasks.TABLE, "1")
    assert (task.outcome, task.error, task.evidence_uuid) == (outcome, error, None)
    assert task.total_bytes == FakeTrace(spec(0, 1)).size
    assert b.store.count(evidence.TABLE) == 0


def test_outcome_weights_draw_per_task() -> None:
    weights = (("COMPLETED", 1.0), ("ERROR", 1.0))
    b, clock, _ = make(lifecycle=Lifecycle(outcome_weights=weights))
    cid = connected(b, clock)
    outcomes = []
    for task_id in range(1, 13):
        b.request_file(cid, LINUX_TRACE)
        draw = stable_fraction(3, "task-outcome", task_id)
        outcomes.append(b.store.get(tasks.TABLE, str(task_id)).outcome)
        assert outcomes[-1] == ("COMPLETED" if draw < 0.5 else "ERROR")
    assert set(outcomes) == {"COMPLETED", "ERROR"}


def test_task_lifecycle_knobs_reach_the_record() -> None:
    dist = Distribution("uniform", min=1.0, max=2.0)
    life = Lifecycle(task_duration=dist, task_polls=2, intermediate_statuses=("RUNNING",))
    b, clock, _ = make(lifecycle=life)
    cid = connected(b, clock)
    b.request_file(cid, LINUX_TRACE)
    task = b.store.get(tasks.TABLE, "1")
    assert task.duration_s == random.Random(stable_hash(3, "task-duration", 1)).uniform(1.0, 2.0)
    assert (task.polls_needed, task.intermediate) == (2, ("RUNNING",))


def test_polls_finish_a_poll_driven_task_and_its_evidence() -> None:
    b, clock, _ = make(lifecycle=Lifecycle(task_polls=2))
    cid = connected(b, clock)
    b.request_file(cid, LINUX_TRACE)
    uid = evidence_uuid(1)
    assert b.peek_task(" 1 ")["data"]["status"] == "STARTED"
    assert b.store.get(tasks.TABLE, "1").polls == 0  # a peek is not a poll
    clock.advance(1.0)
    assert b.get_task(" 1")["data"]["status"] == "STARTED"
    assert b.store.get(tasks.TABLE, "1").polls == 1
    assert b.store.get(evidence.TABLE, uid).available_at == float("inf")
    clock.advance(1.0)
    assert b.get_task("1")["data"]["status"] == "COMPLETED"
    assert b.store.get(evidence.TABLE, uid).available_at == clock.now()
    clock.advance(1.0)
    assert b.get_task("1")["data"]["endTime"] == b.peek_task("1")["data"]["endTime"]
    assert b.store.get(tasks.TABLE, "1").polls == 2


def test_a_poll_driven_task_without_evidence() -> None:
    b, clock, _ = make(lifecycle=Lifecycle(task_polls=1))
    cid = connected(b, clock)
    b.request_file(cid, "/opt/nothing")
    assert b.get_task("1")["data"]["status"] == "ERROR"
    assert b.store.count(evidence.TABLE) == 0


def test_unknown_tasks_are_404() -> None:
    b, _, _ = make()
    for op in (b.get_task, b.peek_task):
        with pytest.raises(NotFound) as caught:
            op("7")
        assert detail(caught) == "404 Item Not Found"


def test_a_poll_of_a_task_forgotten_meanwhile_is_404() -> None:
    b, clock, _ = make(lifecycle=Lifecycle(task_polls=3))
    cid = connected(b, clock)
    b.request_file(cid, LINUX_TRACE)
    store = b.store
    real_update = store.update

    def forget_first(table: str, key: str, fn: Any, **kw: Any) -> Any:
        if table == tasks.TABLE:
            store.delete(table, key)
        return real_update(table, key, fn, **kw)

    store.update = forget_first  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        b.get_task("1")


def test_timed_tasks_and_their_listing() -> None:
    b, clock, _ = make()
    cid = connected(b, clock)
    b.request_file(cid, LINUX_TRACE)
    b.request_file(cid, "/opt/nothing")
    assert [t["status"] for t in b.list_tasks()["data"]] == ["STARTED", "STARTED"]
    clock.advance(0.3)
    assert b.get_task("1")["data"] == b.store.get(tasks.TABLE, "1").to_api(clock.now())
    assert [t["status"] for t in b.list_tasks()["data"]] == ["COMPLETED", "ERROR"]
    assert b.store.get(tasks.TABLE, "1").polls == 0


def test_task_retention_runs_after_each_new_task() -> None:
    b, clock, _ = make(task_retention=1)
    cid = connected(b, clock)
    b.request_file(cid, "/opt/nothing")
    b.request_file(cid, "/opt/nothing")
    clock.advance(1.0)
    b.task_retention.check_at = 0  # a pass is due at once
    b.request_file(cid, "/opt/nothing")
    assert [t["id"] for t in b.list_tasks()["data"]] == [2, 3]
    assert b.task_retention.pruned == 1


# -- evidence -------------------------------------------------------------------------------------


def _three_evidence(b: ThreatResponseBackend, clock: ManualClock) -> list[str]:
    cid = connected(b, clock)
    b.request_file(cid, LINUX_TRACE)
    clock.advance(0.1)
    b.request_file(cid, SCANNER)
    clock.advance(0.1)
    b.scan_now(EP0[0])
    b.request_file(cid, LINUX_DIFF)
    return [evidence_uuid(i) for i in (1, 2, 3)]


def test_evidence_appears_once_its_task_completed() -> None:
    b, clock, _ = make()
    uids = _three_evidence(b, clock)
    assert b.list_evidence(None, 0, None) == {"fileEvidence": [], "totalCount": 0}
    assert b.evidence_bytes() == 0
    with pytest.raises(NotFound):
        b.get_evidence(uids[0])
    clock.advance(0.3)
    listed = b.list_evidence(None, 0, None)
    assert [e["uuid"] for e in listed["fileEvidence"]] == uids and listed["totalCount"] == 3
    assert b.get_evidence(uids[0]) == {"evidence": b.store.get(evidence.TABLE, uids[0]).to_api()}
    sizes = [b.store.get(evidence.TABLE, u).size for u in uids]
    assert b.evidence_bytes() == sum(sizes)
    with pytest.raises(NotFound):
        b.get_evidence("nope")


def test_evidence_pages_and_sorts() -> None:
    b, clock, _ = make()
    uids = _three_evidence(b, clock)
    clock.advance(1.0)
    by_size = sorted(uids, key=lambda u: b.store.get(evidence.TABLE, u).size)

    def listed(limit: int | None, offset: int, sort: str | None) -> list[str]:
        answer = b.list_evidence(limit, offset, sort)
        assert answer["totalCount"] == 3
        return [e["uuid"] for e in answer["fileEvidence"]]

    assert listed(None, 0, "size") == by_size
    assert listed(None, 0, "+size") == by_size
    assert listed(None, 0, "-size") == by_size[::-1]
    assert listed(None, 0, "- size ") == by_size[::-1]
    assert listed(None, 0, "uuid") == sorted(uids)
    assert listed(None, 0, "-downloaded") == uids[::-1]
    assert listed(None, 0, "") == uids
    assert listed(2, 0, None) == uids[:2]
    assert listed(2, 1, None) == uids[1:]
    assert listed(1, 1, "-size") == [by_size[1]]
    assert listed(None, 2, None) == uids[2:]
    assert listed(0, 0, None) == []
    with pytest.raises(BadRequest):
        b.list_evidence(None, 0, "Xsize")  # only - and + prefix a field
    with pytest.raises(BadRequest) as caught:
        b.list_evidence(None, 0, "-colour")
    assert caught.value.detail == (
        "sort must be one of uuid, hostname, path, downloaded, size (prefix - for descending)"
    )


def test_evidence_download_names_the_spec_to_zip() -> None:
    b, clock, _ = make()
    uids = _three_evidence(b, clock)
    clock.advance(1.0)
    record, trace_spec = b.evidence_download(uids[0])
    assert record == b.store.get(evidence.TABLE, uids[0]) and trace_spec == spec(0, 1)
    assert b.evidence_download(uids[1]) == (b.store.get(evidence.TABLE, uids[1]), None)
    record, diff_spec = b.evidence_download(uids[2])
    assert diff_spec == replace(spec(0, 2), diff=True, path=LINUX_DIFF)
    with pytest.raises(NotFound):
        b.evidence_download("nope")


def test_deleting_evidence() -> None:
    b, clock, _ = make()
    uids = _three_evidence(b, clock)
    with pytest.raises(NotFound) as caught:
        b.delete_evidence([uids[0], "a", "b", "c", "d", "e", "f"])
    assert detail(caught) == "404 Item Not Found: no file evidence with uuid a, b, c, d, e"
    assert b.store.count(evidence.TABLE) == 3  # nothing deleted
    b.delete_evidence(uids[:2])  # pending evidence can be deleted too
    assert [e.uuid for e in b.store.values(evidence.TABLE)] == [uids[2]]


# -- discovery and control ------------------------------------------------------------------------


def test_system_status_rows() -> None:
    b, _, _ = make(endpoints=20)
    rows = b.system_status()
    assert len(rows) == 20
    assert rows[1] == {
        "computer_id": EP1[0],
        "host_name": EP1[1],
        "ipaddress_client": EP1[2],
        "ipaddress_server": "10.0.0.1",
        "port_number": 17472,
        "status": "Normal",
        "protocol_version": 315,
        "full_version": "7.6.2.1218",
        "last_registration": "",
        "send_state": "Normal",
        "receive_state": "Normal",
    }
    assert [r["status"] for r in b.system_status(15, 3)] == ["Normal", "Leader", "Normal"]
    assert rows[0]["status"] == "Leader"
    assert [r["host_name"] for r in b.system_status(18)] == [b.fleet.endpoint(i).hostname for i in (18, 19)]
    assert [r["ipaddress_client"] for r in b.system_status(-2, 3)] == ["10.16.0.1"]
    assert len(b.system_status(10, 100)) == 10
    assert b.system_status(0, 0) == []


def test_dec_endpoint() -> None:
    b, _, _ = make()
    assert b.dec_endpoint(b.fleet.endpoint(1)) == {
        "hostname": EP1[1],
        "ip": EP1[2],
        "clientId": EP1[0],
        "platform": "Windows",
        "os": "Windows 10 Enterprise",
        "online": True,
    }


def test_state_counts_and_duplicates() -> None:
    b, clock, _ = make()
    cid = connected(b, clock)
    b.connect({"clientId": EP0[0]})  # a twin, still waiting
    b.connect({"clientId": EP1[0]})
    b.request_file(cid, LINUX_TRACE)
    b.request_file(cid, LINUX_TRACE)  # a twin request
    b.request_file(cid, "/opt/nothing")
    b.sessions.login("admin", "tanium", clock.now())
    assert b.state_counts() == {
        "connections": {"waiting": 2, "connected": 1, "disconnected": 0, "timeout": 0},
        "tasks": {"STARTED": 3, "COMPLETED": 0, "INCOMPLETE": 0, "ERROR": 0},
        "evidence": 0,
        "evidence_pending": 2,
        "sessions": 1,
        "endpoints": 6,
        "now": T0 + 0.2,
        "duplicates": {"connections": 2, "evidence": 2},
    }
    clock.advance(0.3)
    counts = b.state_counts()
    assert counts["tasks"] == {"STARTED": 0, "COMPLETED": 2, "INCOMPLETE": 0, "ERROR": 1}
    assert (counts["evidence"], counts["evidence_pending"]) == (2, 0)
    assert counts["connections"] == {"waiting": 0, "connected": 3, "disconnected": 0, "timeout": 0}
    b.close_connection(cid)
    assert b.duplicate_leftovers(clock.now()) == {"connections": 1, "evidence": 2}
    b.delete_evidence([evidence_uuid(1)])
    assert b.duplicate_leftovers(clock.now()) == {"connections": 1, "evidence": 1}
    b.request_file(cid2 := connected(b, clock, 1), "C:\\Program Files\\Cryptosense\\cs-host-scanner.exe")
    assert b.store.get(connections.TABLE, cid2) is not None
    # EP1's second connection makes two live twins; the scanner was asked for once: no twin.
    assert b.duplicate_leftovers(clock.now()) == {"connections": 3, "evidence": 1}


def test_reset_starts_a_new_world() -> None:
    b, clock, _ = make(scan_interval_s=100.0)
    cid = connected(b, clock)
    b.request_file(cid, LINUX_TRACE)
    b.task_retention.pruned = 5
    clock.advance(50.0)
    generation = b.store.generation()
    b.reset()
    assert b.store.generation() == generation + 1
    assert b.store.count(connections.TABLE) == 0 and b.store.count(tasks.TABLE) == 0
    assert b.store.get(WORLD, WORLD) == WorldClock(T0 + 50.2, ((T0 + 50.2, 100.0),))
    assert (b.task_retention.pruned, b.task_retention.check_at) == (0, b.task_retention._threshold(0))


def test_client_records() -> None:
    b, clock, _ = make()
    cid = connected(b, clock)
    connected(b, clock, 1)
    b.request_file(cid, LINUX_TRACE)
    records = b.client_records(EP0[0])
    now = clock.now()
    assert records["connections"] == [b.store.get(connections.TABLE, cid).to_api(now)]
    assert records["tasks"] == [b.store.get(tasks.TABLE, "1").to_api(now)]
    ev = b.store.get(evidence.TABLE, evidence_uuid(1))
    assert records["evidence"] == [{**ev.to_api(), "visible": False}]
    clock.advance(1.0)
    assert b.client_records(EP0[0])["evidence"][0]["visible"] is True
    assert b.client_records(EP1[0])["tasks"] == [] and b.client_records(EP1[0])["evidence"] == []
    assert len(b.client_records(EP1[0])["connections"]) == 1


def test_scan_now_counts_the_scheduled_scans_first() -> None:
    b, clock, _ = make(scan_interval_s=1000.0)
    clock.set(_first(0, 1000.0) + 1500.0)  # scans 2 and 3 happened on schedule
    assert b.scan_now(EP0[0])["scan"] == 4


@pytest.mark.parametrize(("path", "diff"), [(LINUX_TRACE, False), (LINUX_DIFF, True)])
def test_a_request_collects_the_scan_it_began_at_while_the_clock_moves(path: str, diff: bool) -> None:
    # The trace is generated on first use (slow); a scheduled scan falling due meanwhile does not
    # change which scan the request collects.
    b, clock, catalog = make(scan_interval_s=1000.0, lifecycle=Lifecycle(idle_timeout_s=1e6))
    first = _first(0, 1000.0)
    clock.set(first + 10.0)  # scan 2
    cid = connected(b, clock)
    catalog.hook = lambda: clock.set(first + 1010.0)  # scan 3 falls due
    b.request_file(cid, path)
    task = b.store.get(tasks.TABLE, "1")
    expected = spec(0, 2, interval=1000.0)
    if diff:
        expected = replace(expected, diff=True, path=LINUX_DIFF)
    assert (task.total_bytes, task.transfer_hash) == (FakeTrace(expected).size, FakeTrace(expected).sha256)
    ev = b.store.get(evidence.TABLE, task.evidence_uuid)
    assert (ev.scan, ev.file_modified_at) == (2, expected.scan_time)


def test_evidence_download_zips_the_scan_it_was_collected_at() -> None:
    b, clock, _ = make()
    uids = _three_evidence(b, clock)
    b.scan_now(EP0[0])  # scan 3 now
    clock.advance(1.0)
    assert b.evidence_download(uids[0])[1] == spec(0, 1)
    assert b.evidence_download(uids[2])[1] == replace(spec(0, 2), diff=True, path=LINUX_DIFF)


def test_task_ids_continue_the_stores_task_counter() -> None:
    # Several processes on one shared store number their tasks from the same counter.
    b, clock, _ = make()
    cid = connected(b, clock)
    b.store.next_id("task")
    b.store.next_id("task")
    assert b.request_file(cid, LINUX_TRACE)["taskInfo"]["id"] == 3
    assert b.store.next_id("task") == 4


def test_a_bad_traces_dir_stops_the_backend_at_construction() -> None:
    with pytest.raises(TraceSourceError, match="is not a folder"):
        make(traces_dir="/nonexistent/traces/dir")


def test_a_one_second_interval_still_schedules_scans() -> None:
    b, clock, _ = make(scan_interval_s=1.0)
    clock.set(_first(0, 1.0) + 9.5)
    assert b.current_scan(b.fleet.endpoint(0)) == 11  # scans 2..11 at first, first + 1, ..., first + 9


def test_scans_after_a_stored_scan_stop_with_the_scanner() -> None:
    b, clock, _ = make(scan_interval_s=1000.0)
    ep = b.fleet.endpoint(0)
    first = _first(0, 1000.0)
    b.store.put(ENDPOINT_STATE, ep.client_id, {"scan": 5, "at": first + 3500.0})
    ScannerBook(b.store, 3).record(ep, "stop", at=first + 6500.0, action_id=1)
    clock.set(first + 20_000.0)
    assert b.current_scan(ep) == 8  # the scans due at +4000, +5000 and +6000 ran


def test_connection_eids_continue_the_stores_counter() -> None:
    b, _, _ = make()
    b.store.next_id("eid")
    b.store.next_id("eid")
    b.connect({"clientId": EP0[0]})
    assert next(iter(b.store.values(connections.TABLE))).eid == "3"
    assert b.store.next_id("eid") == 4


def test_trace_specs_carry_the_settings_churn() -> None:
    churn = ChurnRates(move_file=0.5)
    b, _, _ = make(churn=churn)
    assert b.trace_spec(b.fleet.endpoint(0), 2).churn == churn
