"""Scans over time and ``collect --diff`` end to end, in-process (ASGITransport, manual clock).

Five scans of twelve endpoints under churn, each collected with ``--diff``: the inventory rebuilt in the
output folder equals the simulator's ground truth (its manifest and its full trace) at every scan, and
the bytes transferred are reported beside what full traces would have taken.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from client import CollectOptions, Inventory, collect_many
from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.settings import FleetProfile, Lifecycle, Settings
from simulator.state.scanner import ScannerBook
from simulator.traces import ChurnRates, build_evidence_zip

pytestmark = pytest.mark.anyio

TOKEN = "token-0123456789abcdef"
ADMIN = "admin-secret"
INTERVAL = 3600.0
ZIP_FRAMING = len(build_evidence_zip("trace.cst.gz", b""))  # headers around the one stored member
CHURN = ChurnRates(
    renew_in_place=0.2, new_artifacts=0.15, remove_key=0.1, move_file=0.05, pgp_new_uid=0.3, pgp_revoked=0.1
)


def make_settings(endpoints: int = 12, seed: int = 3) -> Settings:
    # Seed 3: all 12 endpoints online, with a trace, and running the scanner (so all of them rescan).
    return Settings(
        seed=seed,
        endpoints=endpoints,
        token=TOKEN,
        admin_token=ADMIN,
        lifecycle=Lifecycle(connect_delay_s=0.0, task_duration_s=0.0),  # nothing to wait for in-process
        fleet=FleetProfile(profile_mix={"small": 1.0}),
        scan_interval_s=INTERVAL,
        churn=CHURN,
    )


async def manifest(admin: httpx.AsyncClient, client_id: str, scan: int) -> dict[str, Any]:
    r = await admin.get(f"/_sim/endpoints/{client_id}/manifest", params={"scan": scan})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_five_scans_of_twelve_endpoints_collected_with_diff_match_the_ground_truth(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    app = create_app(make_settings(), clock=clock)
    backend = app.state.backend
    transport = httpx.ASGITransport(app=app)
    options = CollectOptions(
        url="http://sim", token=TOKEN, username=None, password=None, domain=None, client_ids=(), all=True,
        out=tmp_path, concurrency=4, deadline_s=60.0, request_timeout_s=30.0, trace_path=None, diff=True,
    )  # fmt: skip
    report = []
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sim", headers={"authorization": f"Bearer {ADMIN}"}
    ) as admin:
        for scan in range(1, 6):
            clock.advance(INTERVAL)  # now = start + scan * interval: every endpoint is at scan `scan`
            if scan == 4:  # endpoint 0 scans twice: its diff no longer fits the inventory held
                r = await admin.post(f"/_sim/endpoints/{backend.fleet.endpoint(0).client_id}/scan")
                assert r.status_code == 200 and r.json()["scan"] == 5, r.text
            outcomes, fatal = await collect_many(options, transport=transport)
            assert fatal is None and len(outcomes) == 12
            moved = full = truth_bytes = 0
            modes: dict[str, int] = {}
            for outcome in outcomes:
                assert outcome.status == "ok", (outcome.client_id, outcome.message)
                ep = backend.fleet.by_client_id(outcome.client_id)
                current = scan + (1 if ep.index == 0 and scan >= 4 else 0)
                truth = await manifest(admin, outcome.client_id, current)
                assert backend.current_scan(ep) == current
                held = Inventory.from_trace(tmp_path / f"{outcome.client_id}.cst.gz")
                # The rebuilt inventory is the simulator's full trace of this scan, record for record.
                assert held.records == Inventory.from_trace(backend.trace(ep).data).records
                assert held.digest() == truth["inventory_sha256"] == outcome.diff["inventory_sha256"]
                assert held.scan_id == truth["scan_id"]
                assert outcome.inventory is not None
                assert outcome.inventory["record_count"] == truth["record_count"]
                assert outcome.inventory["by_type"] == truth["by_type"]
                assert outcome.inventory["findings"] == truth["findings"]
                expected_mode = "full" if scan == 1 or (ep.index == 0 and scan == 4) else "diff"
                assert outcome.diff["mode"] == expected_mode, (outcome.client_id, outcome.warnings)
                if scan >= 2:
                    assert truth["changes"]["baseline_record_count"] > 0
                modes[expected_mode] = modes.get(expected_mode, 0) + 1
                moved += outcome.diff["bytes_transferred"]
                full += outcome.diff["full_trace_bytes"]
                truth_bytes += truth["size"] + ZIP_FRAMING  # the full trace's evidence zip
            # The client's estimate of full-trace bytes is within 2 % of the real evidence zips.
            assert abs(full - truth_bytes) <= 0.02 * truth_bytes
            if scan >= 2:
                assert moved < full / 3
            report.append((scan, moved, full, truth_bytes, modes))
    for scan, moved, full, truth_bytes, modes in report:
        print(
            f"scan {scan}: {moved:>9,} bytes transferred vs {truth_bytes:>9,} for full traces "
            f"(client estimate {full:,}), ratio {moved / truth_bytes:.3f}, pulls {modes}"
        )
    state = backend.state_counts()
    assert state["connections"]["connected"] == state["connections"]["waiting"] == 0
    assert state["evidence"] == state["evidence_pending"] == 0


async def test_scans_follow_the_schedule_only_while_the_scanner_runs() -> None:
    clock = ManualClock()
    app = create_app(make_settings(endpoints=3), clock=clock)
    backend = app.state.backend
    ep, other, third = (backend.fleet.endpoint(i) for i in range(3))
    assert backend.current_scan(ep) == 1
    clock.advance(3 * INTERVAL)
    assert backend.current_scan(ep) == 3
    book = ScannerBook(backend.store, backend.settings.seed)
    book.record(ep, "stop", at=clock.now() + 0.5 * INTERVAL, action_id=1)
    book.record(third, "uninstall", at=clock.now(), action_id=1)  # uninstalled, not stopped: keeps scanning
    clock.advance(5 * INTERVAL)
    assert backend.current_scan(ep) in (3, 4)  # at most the scan due before the stop
    assert backend.current_scan(other) == backend.current_scan(third) == 8
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
        r = await c.post(f"/_sim/endpoints/{ep.client_id}/scan", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 409 and "not running" in r.json()["text"]
        r = await c.post(f"/_sim/endpoints/{other.client_id}/scan")
        assert r.status_code == 401
        r = await c.post(
            f"/_sim/endpoints/{other.client_id}/scan", headers={"authorization": f"Bearer {ADMIN}"}
        )
        assert r.status_code == 200 and r.json()["scan"] == 9
        assert (
            r.json()["diff_path"] == "/opt/cryptosense/traces/trace.diff.cst.gz"
            or "\\" in r.json()["diff_path"]
        )
        r = await c.post("/_sim/endpoints/nope/scan", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 404
        r = await c.post("/_sim/reset", headers={"authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200 and backend.current_scan(other) == 1


async def test_the_diff_file_exists_from_scan_two_and_downloads_as_evidence() -> None:
    clock = ManualClock()
    app = create_app(make_settings(endpoints=2), clock=clock)
    backend = app.state.backend
    ep = backend.fleet.endpoint(1)
    diff_path = backend.files.diff_path(ep)
    assert backend.files.lookup(backend._files(ep), diff_path, ep.is_windows) is None  # scan 1: no diff
    backend.set_scan(ep, 2)
    entry = backend.files.lookup(backend._files(ep), diff_path, ep.is_windows)
    diff = backend.catalog.trace(backend.diff_spec(ep))
    assert entry is not None and entry.size == diff.size
    truth = backend.manifest(ep.client_id, 2)
    assert truth["changes"]["size"] == diff.size and truth["changes"]["path"] == diff_path
    assert backend.manifest(ep.client_id, 1)["changes"] is None
