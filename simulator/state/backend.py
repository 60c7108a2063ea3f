"""The Threat Response backend: one method per vendor operation, raising vendor errors.

The HTTP layer (``simulator/api``) parses requests and renders responses; everything about the
simulated world happens here, on records in a :class:`~simulator.state.store.Store`, with the time from
an injected clock. Lifecycles are derived from stored timestamps when read (moto-style lazy state).

>>> from simulator.settings import Settings
>>> backend = ThreatResponseBackend.build(Settings(endpoints=3, seed=1))
>>> backend.connect({"clientId": backend.fleet.endpoint(0).client_id})
'remote:undefined:...:'
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from simulator.clock import Clock, SystemClock
from simulator.errors import BadRequest, Conflict, NotFound
from simulator.settings import Settings
from simulator.state import connections, evidence, tasks
from simulator.state.connections import ConnectionRecord
from simulator.state.evidence import EvidenceRecord
from simulator.state.filesystem import SCANNER_BYTES, EndpointFiles, normalize
from simulator.state.fleet import Endpoint, Fleet, stable_fraction, stable_hash, weighted_choice
from simulator.state.scanner import ScannerBook, scanner_installed_at
from simulator.state.sessions import SessionService
from simulator.state.store import MemoryStore, Store
from simulator.state.tasks import TaskRecord
from simulator.traces import GeneratedTrace, TraceCatalog, TraceSpec
from simulator.traces.generator import scan_id
from simulator.traces.records import rfc3339
from simulator.traces.sources import TraceFile, TraceSources

SCAN_EPOCH = 1_793_491_200.0  # 2026-11-01T00:00:00Z: first scans happen on that day
NOMINAL_SCAN_INTERVAL_S = 86_400.0  # trace dates advance a day per scan when scans are on demand only
ENDPOINT_STATE = "endpoint_state"
WORLD = "world"  # one record: when scan 1 happened and the scan schedule's stretches (shared by processes)


@dataclass(frozen=True)
class WorldClock:
    """What every process serving one world must agree on: scan 1's time and the scan schedule.

    Kept in the store (table :data:`WORLD`), so a second process on a shared store joins the running
    world instead of starting its own, and a reset restarts it for every process.
    """

    started_at: float
    # (start, scan_interval_s) per stretch of time: a scenario changing the interval starts a new one
    schedule: tuple[tuple[float, float], ...]


def _require_connected(record: ConnectionRecord, now: float) -> None:
    status = record.status_at(now)
    if status != "connected":
        raise BadRequest(f"connection {record.id} is {status}; file operations need a connected connection")


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", "None", "undefined"))


# Longest connect target fields accepted (INFERRED: Tanium documents none). A hostname is at most 253
# characters, an IPv6 address with a zone at most ~50; a longer value is an error, refused before
# anything is stored.
TARGET_MAX_CHARS = {"clientId": 255, "hostname": 255, "ip": 64}


def _file_answer(record: ConnectionRecord, raw_path: str) -> dict[str, Any]:
    """What ``file/info`` and ``file/list`` answers share: the session, the cid, the path as asked."""
    # The live-response session id is opaque in public captures: derived from the connection id so
    # that it is stable for one connection (INFERRED).
    return {"sessionId": str(uuid.uuid5(uuid.NAMESPACE_URL, record.id)), "cid": record.id, "path": raw_path}


class ThreatResponseBackend:
    """The simulated Tanium server's state and behaviour (Threat Response + platform sessions)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        store: Store,
        fleet: Fleet,
        catalog: TraceCatalog,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store
        self.fleet = fleet
        self.catalog = catalog
        self.trace_sources = _trace_sources(settings)  # serve --traces-dir: real files (checked)
        self._world()  # join the world on a shared store, or start it
        self.task_retention = tasks.TaskRetention(settings.task_retention)
        self.files = EndpointFiles(settings.linux_trace_path, settings.windows_trace_path)
        self.sessions = SessionService(
            store,
            seed=settings.seed,
            token=settings.token,
            token_issued_at=clock.now(),
            token_lifetime_s=settings.token_lifetime_s,
            session_lifetime_s=settings.session_lifetime_s,
            username=settings.username,
            password=settings.password,
        )

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, store: Store | None = None
    ) -> ThreatResponseBackend:
        return cls(
            settings,
            clock=clock or SystemClock(),
            store=store or MemoryStore(),
            fleet=_fleet(settings),
            catalog=TraceCatalog(settings.trace_cache_bytes),
        )

    def _world(self) -> WorldClock:
        world: WorldClock | None = self.store.get(WORLD, WORLD)
        if world is None:  # a new (or just reset) world: the first process to ask starts it
            now, interval = self.now(), self.settings.scan_interval_s
            world = self.store.update(
                WORLD, WORLD, lambda cur: cur or WorldClock(now, ((now, interval),)), create=True
            )
            assert world is not None
        return world

    @property
    def started_at(self) -> float:
        """When scan 1 of every endpoint happened; scheduled scans count from here."""
        return self._world().started_at

    @property
    def scan_schedule(self) -> tuple[tuple[float, float], ...]:
        return self._world().schedule

    def apply_settings(self, settings: Settings) -> None:
        """Switch to new settings (a scenario replaced at run time); stored records keep their values."""
        old = self.settings
        self.settings = settings
        fleet_keys = (settings.seed, settings.endpoints, settings.fleet)
        life, old_life = settings.lifecycle, old.lifecycle
        if fleet_keys != (old.seed, old.endpoints, old.fleet) or (
            life.offline_fraction,
            life.missing_trace_fraction,
        ) != (old_life.offline_fraction, old_life.missing_trace_fraction):
            self.fleet = _fleet(settings)
        if settings.traces_dir != old.traces_dir:
            self.trace_sources = _trace_sources(settings)
        self.sessions.session_lifetime_s = settings.session_lifetime_s
        self.task_retention.keep = settings.task_retention
        if settings.scan_interval_s != old.scan_interval_s:
            # Scans already due stay counted; the new interval schedules scans from now on only. Every
            # process on a shared store applies a scenario change: the first one to do it adds the stretch.
            now, interval = self.now(), settings.scan_interval_s

            def add_stretch(world: WorldClock | None) -> WorldClock:
                world = world or WorldClock(now, ((now, interval),))
                if world.schedule[-1][1] == interval:
                    return world
                return WorldClock(world.started_at, (*world.schedule, (now, interval)))

            self.store.update(WORLD, WORLD, add_stretch, create=True)

    def _sample(self, fixed: float, dist: Any, *parts: object) -> float:
        # One tiny stream per record: the value depends on (seed, record) only, not on request order.
        if dist is None:
            return fixed
        return float(dist.sample(random.Random(stable_hash(self.settings.seed, *parts))))

    def now(self) -> float:
        return self.clock.now()

    # -- endpoints and traces -------------------------------------------------------------------
    def endpoint_or_404(self, client_id: str) -> Endpoint:
        endpoint = self.fleet.by_client_id(client_id)
        if endpoint is None:
            raise NotFound(f"no endpoint with clientId {client_id}")
        return endpoint

    def current_scan(self, endpoint: Endpoint) -> int:
        """The endpoint's scan number now: the last stored one plus the scheduled scans since it."""
        return self._scan_after(endpoint, self.store.get(ENDPOINT_STATE, endpoint.client_id), self.now())

    def _scan_after(self, endpoint: Endpoint, state: dict[str, Any] | None, now: float) -> int:
        world = self._world()
        scan, since = (
            (int(state["scan"]), float(state.get("at", world.started_at))) if state else (1, world.started_at)
        )
        return scan + self._scheduled_scans(endpoint, since, now, world.schedule)

    def _scheduled_scans(
        self, endpoint: Endpoint, after: float, until: float, schedule: tuple[tuple[float, float], ...]
    ) -> int:
        """Scheduled scans in ``(after, until]`` that really ran, summed over the schedule's stretches."""
        total = 0
        for i, (start, interval) in enumerate(schedule):
            end = schedule[i + 1][0] if i + 1 < len(schedule) else math.inf
            total += self._scans_in(endpoint, start, interval, max(after, start), min(until, end))
        return total

    def _scans_in(self, endpoint: Endpoint, start: float, interval: float, after: float, until: float) -> int:
        """Scans in ``(after, until]`` of the schedule started at ``start`` that really ran.

        Scan ``j + 1`` is due at ``start + (j + phase) * scan_interval_s`` (phase per endpoint, so a
        fleet does not scan in lockstep). A scanner only ever stops (no event starts it again), so the
        scans that ran are a prefix of those due: a binary search finds the last one.
        """
        if interval <= 0 or until <= after:
            return 0
        first = start + (1 + stable_fraction(self.settings.seed, endpoint.index, "scan-phase")) * interval
        lo = max(0, math.floor((after - first) / interval) + 1)  # first k with first + k * interval > after
        hi = math.floor((until - first) / interval)  # last k with first + k * interval <= until
        if hi < lo:
            return 0
        book = ScannerBook(self.store, self.settings.seed)

        def running(k: int) -> bool:
            return book.running_at(endpoint, first + k * interval)

        if running(hi):
            return hi - lo + 1
        if not running(lo):
            return 0
        good, bad = lo, hi
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if running(mid) else (good, mid)
        return good - lo + 1

    def scan_now(self, client_id: str) -> dict[str, Any]:
        """``POST /_sim/endpoints/{clientId}/scan``: one more scan, now (409 when the scanner is stopped)."""
        endpoint = self.endpoint_or_404(client_id)
        book = ScannerBook(self.store, self.settings.seed)
        if not book.running_at(endpoint, self.now()):
            raise Conflict(
                f"the scanner is not running on {endpoint.hostname}: a stopped scanner makes no scans"
            )
        now = self.now()

        def one_more(state: dict[str, Any] | None) -> dict[str, Any]:
            return {"scan": self._scan_after(endpoint, state, now) + 1, "at": now}

        stored = self.store.update(ENDPOINT_STATE, endpoint.client_id, one_more, create=True)
        assert stored is not None
        scan = int(stored["scan"])
        spec = self.trace_spec(endpoint, scan)
        return {
            "client_id": endpoint.client_id,
            "hostname": endpoint.hostname,
            "scan": scan,
            "scan_id": self.catalog.trace(spec).manifest["scan_id"] if spec.source_file else scan_id(spec),
            "scan_time": rfc3339(int(spec.scan_time)),
            "path": self.files.trace_path(endpoint),
            "diff_path": None if spec.source_file else self.files.diff_path(endpoint),
        }

    def trace_file(self, endpoint: Endpoint) -> TraceFile | None:
        """The real trace file this endpoint serves (``serve --traces-dir``), or None: generated."""
        if self.trace_sources is None:
            return None
        return self.trace_sources.file_for(self.fleet, endpoint.index)

    def trace_spec(self, endpoint: Endpoint, scan: int | None = None) -> TraceSpec:
        scan = self.current_scan(endpoint) if scan is None else scan
        offset = stable_hash(self.settings.seed, endpoint.index, "scan-offset") % 86_400
        interval = self.settings.scan_interval_s or NOMINAL_SCAN_INTERVAL_S
        source = self.trace_file(endpoint)
        return TraceSpec(
            seed=self.settings.seed,
            index=endpoint.index,
            client_id=endpoint.client_id,
            hostname=endpoint.hostname,
            platform=endpoint.platform,
            profile=endpoint.profile,
            scan=scan,
            scan_time=SCAN_EPOCH + offset + (scan - 1) * interval,
            scanner_version=endpoint.scanner_version,
            scan_interval_s=interval,
            churn=self.settings.churn,
            source_file=source.path if source is not None else None,
        )

    def diff_spec(self, endpoint: Endpoint, scan: int | None = None) -> TraceSpec:
        """The spec of the diff trace of ``scan`` (default: the current one; scans >= 2 only)."""
        full = self.trace_spec(endpoint, scan)
        return replace(full, diff=True, path=self.files.diff_path(endpoint))

    def trace(self, endpoint: Endpoint, scan: int | None = None) -> GeneratedTrace:
        """The endpoint's trace (generated and cached on first use; may take a while: call off-loop)."""
        return self.catalog.trace(self.trace_spec(endpoint, scan))

    def manifest(self, client_id: str, scan: int | None = None) -> dict[str, Any]:
        endpoint = self.endpoint_or_404(client_id)
        spec = self.trace_spec(endpoint, scan)
        trace = self.catalog.trace(spec)
        manifest = dict(trace.manifest)
        source = self.trace_file(endpoint)
        manifest.update(
            client_id=endpoint.client_id,
            hostname=endpoint.hostname,
            platform=endpoint.platform,
            profile=endpoint.profile,
            path=self.files.trace_path(endpoint),
            size=trace.size,
            sha256=trace.sha256,
            has_trace=endpoint.has_trace,
            online=endpoint.online,
            inventory_sha256=self.catalog.inventory_sha256(spec),
            changes=None,
            trace_file=source.name if source is not None else None,
        )
        if source is not None:
            manifest["scan"] = spec.scan  # the same file at every scan, and no diff trace
        elif manifest["scan"] >= 2:
            diff = self.catalog.trace(self.diff_spec(endpoint, manifest["scan"])).manifest
            manifest["changes"] = {
                **diff["changes"],
                "path": diff["path"],
                "size": diff["size"],
                "sha256": diff["sha256"],
                "baseline_scan_id": diff["baseline_scan_id"],
                "baseline_record_count": diff["baseline_record_count"],
            }
        return manifest

    def _files(self, endpoint: Endpoint, scan: int | None = None) -> dict[str, Any]:
        scan = self.current_scan(endpoint) if scan is None else scan

        def stat() -> tuple[int, float]:
            spec = self.trace_spec(endpoint, scan)
            return self.catalog.trace(spec).size, spec.scan_time

        def diff_stat() -> tuple[int, float] | None:
            if scan < 2 or self.trace_file(endpoint) is not None:
                return None  # the scanner writes a diff from its second scan on; a provided file has none
            spec = self.diff_spec(endpoint, scan)
            return self.catalog.trace(spec).size, spec.scan_time

        installed = scanner_installed_at(self.store, self.settings.seed, endpoint, self.now())
        return self.files.entries(endpoint, stat, scanner_installed=installed, diff_stat=diff_stat)

    # -- connections ----------------------------------------------------------------------------
    def connect(self, target: Any) -> str:
        if not isinstance(target, dict):
            raise BadRequest('body must be {"target": {"clientId": ...}}')
        client_id = target.get("clientId")
        hostname = target.get("hostname")
        ip = target.get("ip")
        for name, value in (("clientId", client_id), ("hostname", hostname), ("ip", ip)):
            if not _absent(value) and not isinstance(value, str | int):
                raise BadRequest(f"target.{name} must be a string")
            limit = TARGET_MAX_CHARS[name]
            if isinstance(value, str) and len(value) > limit:
                raise BadRequest(
                    f"target.{name} is {len(value)} characters long; at most {limit} are accepted"
                )
        endpoint: Endpoint | None = None
        if not _absent(client_id):
            client_id = str(client_id).strip()
            endpoint = self.fleet.by_client_id(client_id)
        elif not _absent(hostname):
            endpoint = self.fleet.by_hostname(str(hostname))
        elif not _absent(ip):
            endpoint = self.fleet.by_ip(str(ip))
        else:
            raise BadRequest("target needs a clientId (or a hostname or ip)")
        if endpoint is not None:
            client_id = endpoint.client_id
        if _absent(client_id):
            client_id = ""
        now = self.now()
        life = self.settings.lifecycle
        eid = str(self.store.next_id("eid"))
        host = endpoint.hostname if endpoint else ("" if _absent(hostname) else str(hostname))
        record = ConnectionRecord(
            id=f"remote:{host}:{client_id}:{eid}",
            client_id=str(client_id),
            hostname=host,
            ip=endpoint.ip if endpoint else ("" if _absent(ip) else str(ip)),
            platform=endpoint.platform if endpoint else "",
            eid=eid,
            user_id="1",
            initiated_at=now,
            ready_delay_s=self._sample(life.connect_delay_s, life.connect_delay, "connect-delay", eid),
            reachable=endpoint is not None and endpoint.online,
            unreachable_timeout_s=life.offline_timeout_s,
            idle_timeout_s=life.idle_timeout_s,
            last_activity_at=now,
        )
        self.store.put(connections.TABLE, record.id, record)
        shown_host = "undefined" if _absent(hostname) else str(hostname)
        return f"remote:{shown_host}:{client_id}:"

    def _connection(self, cid: str) -> ConnectionRecord:
        record: ConnectionRecord | None = self.store.get(connections.TABLE, cid)
        if record is None:
            raise NotFound()
        return record

    def list_connections(self) -> list[dict[str, Any]]:
        now = self.now()
        return [c.to_api(now) for c in self.store.values(connections.TABLE)]

    def get_connection(self, cid: str) -> dict[str, Any]:
        return self._connection(cid).to_api(self.now())

    def close_connection(self, cid: str) -> None:
        now = self.now()
        if self.store.update(connections.TABLE, cid, lambda record: record.closed(now)) is None:
            raise NotFound()

    def delete_connection(self, cid: str) -> None:
        if not self.store.delete(connections.TABLE, cid):
            raise NotFound()

    def _live_connection(self, cid: str) -> tuple[ConnectionRecord, Endpoint]:
        record = self._connection(cid)
        _require_connected(record, self.now())
        endpoint = self.fleet.by_client_id(record.client_id)
        if endpoint is None:  # reachable connections always have an endpoint
            raise NotFound()
        return record, endpoint

    def _touch_live(self, cid: str, generation: int) -> ConnectionRecord:
        """Mark the connection used, in one atomic step, if it is still connected in ``generation``.

        File operations do slow work (a trace generated on first use) between their first check and
        their write; a close, delete or reset that landed meanwhile wins: the request fails as if it had
        come after it, and nothing it would have changed is written.
        """
        now = self.now()

        def touch(record: ConnectionRecord) -> ConnectionRecord:
            _require_connected(record, now)
            return record.touched(now)

        record: ConnectionRecord | None = self.store.update(
            connections.TABLE, cid, touch, generation=generation
        )
        if record is None:
            raise NotFound()
        return record

    # -- endpoint files -------------------------------------------------------------------------
    def file_info(self, cid: str, raw_path: str) -> dict[str, Any]:
        generation = self.store.generation()
        record, endpoint = self._live_connection(cid)
        path = normalize(raw_path, windows=endpoint.is_windows)
        entry = self.files.lookup(self._files(endpoint), path, endpoint.is_windows)  # slow: may generate
        if entry is None:
            raise NotFound(f"no such file on {endpoint.hostname}: {path}")
        self._touch_live(cid, generation)
        return {**_file_answer(record, raw_path), "info": entry.to_info(endpoint.is_windows)}

    def file_list(self, cid: str, raw_path: str) -> dict[str, Any]:
        generation = self.store.generation()
        record, endpoint = self._live_connection(cid)
        path = normalize(raw_path, windows=endpoint.is_windows)
        files = self._files(endpoint)  # slow: may generate the trace
        entry = self.files.lookup(files, path, endpoint.is_windows)
        if entry is None or not entry.is_dir:
            raise NotFound(f"no such directory on {endpoint.hostname}: {path}")
        self._touch_live(cid, generation)
        children = self.files.children(files, entry.path, endpoint.is_windows)
        entries = [child.to_entry(endpoint.is_windows) for child in children]
        return {**_file_answer(record, raw_path), "entries": entries}

    # -- tasks ----------------------------------------------------------------------------------
    def request_file(self, cid: str, raw_path: Any) -> dict[str, Any]:
        generation = self.store.generation()
        _, endpoint = self._live_connection(cid)
        path = normalize(raw_path, windows=endpoint.is_windows)
        life = self.settings.lifecycle
        # The slow part first, writing nothing: the endpoint's files and the trace (generated on first use).
        scan = self.current_scan(endpoint)
        entry = self.files.lookup(self._files(endpoint, scan), path, endpoint.is_windows)
        traces = (self.files.trace_path(endpoint), self.files.diff_path(endpoint))
        trace: GeneratedTrace | None = None
        if entry is not None and not entry.is_dir and entry.path in traces:
            spec = (
                self.diff_spec(endpoint, scan) if entry.path == traces[1] else self.trace_spec(endpoint, scan)
            )
            trace = self.catalog.trace(spec)
        # Then one atomic step per record; a close, delete or reset that landed meanwhile wins.
        record = self._touch_live(cid, generation)
        now = self.now()
        task_id = self.store.next_id("task")
        if trace is not None:
            outcome, error = "COMPLETED", None
            if life.outcome_weights:
                draw = stable_fraction(self.settings.seed, "task-outcome", task_id)
                outcome = weighted_choice(dict(life.outcome_weights), draw)
            total, digest = trace.size, trace.sha256
            evidence_uuid = self._evidence_uuid(task_id) if outcome == "COMPLETED" else None
            if outcome == "ERROR":
                error = f"Failed to collect {path}: the endpoint reported an error"
        elif entry is not None and not entry.is_dir:
            # The scanner binary: a small stand-in with the right size on every listing.
            outcome, error, evidence_uuid = "COMPLETED", None, self._evidence_uuid(task_id)
            total, digest = len(SCANNER_BYTES), hashlib.sha256(SCANNER_BYTES).hexdigest()
        else:
            outcome = life.missing_path_status
            error = f"File not found: {path}" if outcome == "ERROR" else None
            evidence_uuid, total, digest = None, 0, ""
        task = TaskRecord(
            id=task_id,
            connection_id=record.id,
            client_id=record.client_id,
            hostname=record.hostname,
            path=path,
            created_at=now,
            duration_s=self._sample(life.task_duration_s, life.task_duration, "task-duration", task_id),
            outcome=outcome,
            error=error,
            evidence_uuid=evidence_uuid,
            total_bytes=total,
            transfer_hash=digest,
            polls_needed=life.task_polls,
            intermediate=life.intermediate_statuses,
        )
        self.store.put(tasks.TABLE, str(task_id), task, generation=generation)
        self.task_retention.after_create(self.store, now)  # forgets the oldest finished tasks past the limit
        if evidence_uuid is not None and entry is not None:
            ev = EvidenceRecord(
                uuid=evidence_uuid,
                task_id=task_id,
                client_id=record.client_id,
                endpoint_index=endpoint.index,
                hostname=endpoint.hostname,
                path=entry.path,
                scan=scan,
                available_at=task.ends_at,
                size=total,
                hash=digest,
                file_modified_at=entry.modified_at,
            )
            self.store.put(evidence.TABLE, evidence_uuid, ev, generation=generation)
        return {"taskInfo": task.task_info(), "status": "ACCEPTED"}

    def _evidence_uuid(self, task_id: int) -> str:
        digest = hashlib.blake2b(f"{self.settings.seed}:evidence:{task_id}".encode(), digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))

    def peek_task(self, task_id: str) -> dict[str, Any]:
        """The task as ``GET /tasks/{id}`` would show it, without counting as a poll (the control view)."""
        task: TaskRecord | None = self.store.get(tasks.TABLE, str(task_id).strip())
        if task is None:
            raise NotFound()
        return {"data": task.to_api(self.now())}

    def get_task(self, task_id: str) -> dict[str, Any]:
        key = str(task_id).strip()
        task: TaskRecord | None = self.store.get(tasks.TABLE, key)
        if task is None:
            raise NotFound()
        now = self.now()
        if task.polls_needed and task.done_at is None:
            polled: TaskRecord | None = self.store.update(tasks.TABLE, key, lambda t: t.polled(now))
            if polled is None:  # forgotten or reset meanwhile
                raise NotFound()
            task = polled
            done_at = task.done_at
            if done_at is not None and task.evidence_uuid is not None:
                self.store.update(
                    evidence.TABLE, task.evidence_uuid, lambda ev: replace(ev, available_at=done_at)
                )
        return {"data": task.to_api(now)}

    def list_tasks(self) -> dict[str, Any]:
        now = self.now()
        return {"data": [t.to_api(now) for t in self.store.values(tasks.TABLE)]}

    # -- file evidence --------------------------------------------------------------------------
    def _visible_evidence(self) -> list[EvidenceRecord]:
        now = self.now()
        return [e for e in self.store.values(evidence.TABLE) if e.visible_at(now)]

    def _evidence(self, evidence_uuid: str) -> EvidenceRecord:
        record: EvidenceRecord | None = self.store.get(evidence.TABLE, evidence_uuid)
        if record is None or not record.visible_at(self.now()):
            raise NotFound()
        return record

    def list_evidence(self, limit: int | None, offset: int, sort: str | None) -> dict[str, Any]:
        items = self._visible_evidence()
        if sort:
            descending = sort.startswith("-")
            field = sort.lstrip("-+").strip()
            if field not in evidence.SORT_FIELDS:
                raise BadRequest(
                    f"sort must be one of {', '.join(evidence.SORT_FIELDS)} (prefix - for descending)"
                )
            items.sort(key=lambda e: e.sort_key(field), reverse=descending)
        total = len(items)
        page = items[offset:] if limit is None else items[offset : offset + limit]
        return {"fileEvidence": [e.to_api() for e in page], "totalCount": total}

    def get_evidence(self, evidence_uuid: str) -> dict[str, Any]:
        return {"evidence": self._evidence(evidence_uuid).to_api()}

    def evidence_download(self, evidence_uuid: str) -> tuple[EvidenceRecord, TraceSpec | None]:
        """The record to download and, for traces, the spec whose zip to serve."""
        record = self._evidence(evidence_uuid)
        endpoint = self.fleet.endpoint(record.endpoint_index)
        if record.path == self.files.trace_path(endpoint):
            return record, self.trace_spec(endpoint, record.scan)
        if record.path == self.files.diff_path(endpoint):
            return record, self.diff_spec(endpoint, record.scan)
        return record, None

    def delete_evidence(self, ids: list[str]) -> None:
        missing = [i for i in ids if self.store.get(evidence.TABLE, i) is None]
        if missing:
            raise NotFound(f"no file evidence with uuid {', '.join(missing[:5])}")
        for evidence_uuid in ids:
            self.store.delete(evidence.TABLE, evidence_uuid)

    # -- discovery ------------------------------------------------------------------------------
    def system_status(self, start: int = 0, count: int | None = None) -> list[dict[str, Any]]:
        stop = self.fleet.size if count is None else min(self.fleet.size, start + count)
        rows = []
        for i in range(max(0, start), stop):
            ep = self.fleet.endpoint(i)
            rows.append(
                {
                    "computer_id": ep.client_id,
                    "host_name": ep.hostname,
                    "ipaddress_client": ep.ip,
                    "ipaddress_server": "10.0.0.1",
                    "port_number": 17472,
                    "status": "Leader" if i % 16 == 0 else "Normal",
                    "protocol_version": 315,
                    "full_version": "7.6.2.1218",
                    "last_registration": "",
                    "send_state": "Normal",
                    "receive_state": "Normal",
                }
            )
        return rows

    def dec_endpoint(self, ep: Endpoint) -> dict[str, Any]:
        return {
            "hostname": ep.hostname,
            "ip": ep.ip,
            "clientId": ep.client_id,
            "platform": ep.platform,
            "os": ep.os,
            "online": ep.online,
        }

    # -- control --------------------------------------------------------------------------------
    def state_counts(self) -> dict[str, Any]:
        now = self.now()
        conns = Counter(c.status_at(now) for c in self.store.values(connections.TABLE))
        task_counts = Counter(t.status_at(now) for t in self.store.values(tasks.TABLE))
        ev = list(self.store.values(evidence.TABLE))
        return {
            "connections": {s: conns.get(s, 0) for s in connections.STATUSES},
            "tasks": {s: task_counts.get(s, 0) for s in ("STARTED", *tasks.TERMINAL)},
            "evidence": sum(1 for e in ev if e.visible_at(now)),
            "evidence_pending": sum(1 for e in ev if not e.visible_at(now)),
            "sessions": self.store.count("sessions"),
            "endpoints": self.fleet.size,
            "now": now,
            "duplicates": self.duplicate_leftovers(now),
        }

    def duplicate_leftovers(self, now: float) -> dict[str, int]:
        """Connections and evidence still here that a repeated connect or file request left.

        A live (``waiting``/``connected``) connection counts when its endpoint was connected more than
        once; an evidence item counts when its endpoint was asked for the same path more than once. A
        collection makes one of each, so the extra ones are twins of a POST a client repeated (after an
        ambiguous failure, see scenarios/duplicate-post.yaml) and never reconciled.
        """
        conns = list(self.store.values(connections.TABLE))
        connects = Counter(c.client_id for c in conns)
        requests = Counter((t.client_id, t.path) for t in self.store.values(tasks.TABLE))
        live = sum(
            1 for c in conns if connects[c.client_id] > 1 and c.status_at(now) in ("waiting", "connected")
        )
        left = sum(1 for e in self.store.values(evidence.TABLE) if requests[(e.client_id, e.path)] > 1)
        return {"connections": live, "evidence": left}

    def reset(self) -> None:
        self.store.clear()  # a new generation: requests begun before it write nothing
        self._world()  # every endpoint is back at scan 1, and the schedule restarts from now
        self.task_retention.reset()

    def set_scan(self, endpoint: Endpoint, scan: int) -> None:
        """Make ``scan`` the endpoint's scan from now on (scheduled scans continue after it)."""
        if scan < 1:
            raise ValueError("scan must be >= 1")
        self.store.put(ENDPOINT_STATE, endpoint.client_id, {"scan": scan, "at": self.now()})

    # -- the console (simulator/console) ----------------------------------------------------------
    def client_records(self, client_id: str) -> dict[str, list[dict[str, Any]]]:
        """One endpoint's connections, tasks and evidence as the API shows them, oldest first."""
        now = self.now()
        return {
            "connections": [
                c.to_api(now) for c in self.store.values(connections.TABLE) if c.client_id == client_id
            ],
            "tasks": [t.to_api(now) for t in self.store.values(tasks.TABLE) if t.client_id == client_id],
            "evidence": [
                {**e.to_api(), "visible": e.visible_at(now)}
                for e in self.store.values(evidence.TABLE)
                if e.client_id == client_id
            ],
        }

    def evidence_bytes(self) -> int:
        """The bytes of the evidence items ``GET /filedownload`` lists now."""
        return sum(e.size for e in self._visible_evidence())


def _trace_sources(settings: Settings) -> TraceSources | None:
    """The checked files of ``settings.traces_dir`` (TraceSourceError, a ValueError, when one is bad)."""
    if not settings.traces_dir:
        return None
    return TraceSources.open(settings.traces_dir)


def _fleet(settings: Settings) -> Fleet:
    life = settings.lifecycle
    return Fleet(
        settings.seed,
        settings.endpoints,
        settings.fleet,
        offline_fraction=life.offline_fraction,
        missing_trace_fraction=life.missing_trace_fraction,
    )


__all__ = ["SCAN_EPOCH", "ThreatResponseBackend"]
