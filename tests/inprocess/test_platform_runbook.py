"""The seed's scanner runbook, end to end against the simulator on a manual clock.

Find the running scanners, stop them, see the stale default-age answer next to the fresh 60-second one,
find the binary, uninstall, verify the file (and the trace) is gone — and the trap: an endpoint uninstalled
without a stop still reports Running and keeps scanning.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulator.clock import ManualClock
from simulator.platform.packages import STOP, UNINSTALL_LINUX, UNINSTALL_WINDOWS
from simulator.platform.sensors import FILE_MISSING
from simulator.state.scanner import ScannerBook, scanner_running_at

from .conftest import TR, World

pytestmark = pytest.mark.anyio

MONITOR = "3P Cryptosense - Monitor"
BINARY = "/opt/cryptosense/bin/cs-host-scanner"
ANSWERED_S = 11.0  # default answer delay 2 s + jitter up to 8 s, plus a margin


async def ask(client: httpx.AsyncClient, clock: ManualClock, body: dict[str, Any]) -> dict[str, list[str]]:
    """Ask, let every endpoint answer, return {first column value: other column values}."""
    r = await client.post("/api/v2/questions", json=body)
    assert r.status_code == 200, r.text
    qid = r.json()["data"]["id"]
    clock.advance(ANSWERED_S)
    (rs,) = (await client.get(f"/api/v2/result_data/question/{qid}")).json()["data"]["result_sets"]
    assert rs["mr_tested"] == rs["estimated_total"]
    return {row["data"][0][0]["text"]: [cell[0]["text"] for cell in row["data"][1:-1]] for row in rs["rows"]}


def by_name(names: list[str]) -> str:
    return " or ".join(f"Computer Name equals {n}" for n in names)


async def deploy(
    client: httpx.AsyncClient, clock: ManualClock, package: str, target_group: dict[str, Any]
) -> dict[str, str]:
    """Deploy a package and advance the clock until every target is done; {hostname: status cell}."""
    pkg = (await client.get(f"/api/v2/packages/by-name/{package}")).json()["data"]
    r = await client.post(
        "/api/v2/actions",
        json={
            "name": f"runbook: {package}",
            "package_spec": {"source_id": pkg["id"]},
            "target_group": target_group,
        },
    )
    assert r.status_code == 200, r.text
    action = r.json()["data"]
    assert action["status"] == "Pending"
    cells: dict[str, str] = {}
    for _ in range(20):  # bounded: 20 polls x 5 s of simulated time
        clock.advance(5)
        (rs,) = (await client.get(f"/api/v2/result_data/action/{action['id']}")).json()["data"]["result_sets"]
        cells = {row["data"][0][0]["text"]: row["data"][1][0]["text"] for row in rs["rows"]}
        if all(c.endswith(("Completed.", "Failed.", "Expired.", "Stopped.")) for c in cells.values()):
            break
    assert (await client.get(f"/api/v2/actions/{action['id']}")).json()["data"]["status"] == "Active"
    return cells


async def test_the_seed_runbook_end_to_end(world: World) -> None:
    client, clock, sim = world.client, world.clock, world.backend
    book = ScannerBook(sim.store, sim.settings.seed)
    fleet = list(sim.fleet)

    # 1. Question Builder: Online, filtered by the Monitor sensor equal to Running.
    running = await ask(
        client,
        clock,
        {"query_text": f"Get Computer Name and Online from all machines with {MONITOR} equals Running"},
    )
    expected = {ep.hostname for ep in fleet if book.runs_by_default(ep)}
    assert set(running) == expected and len(expected) >= 3
    assert all(values == ["True"] for values in running.values())

    # The trap endpoint is uninstalled without a stop; every other running one is stopped first.
    trap = next(ep for ep in fleet if ep.hostname in expected and not ep.is_windows)
    to_stop = sorted(expected - {trap.hostname})
    group = (await client.post("/api/v2/groups", json={"text": by_name(to_stop)})).json()["data"]
    cells = await deploy(client, clock, STOP, {"id": group["id"]})
    assert set(cells) == set(to_stop) and all(c.endswith(":Completed.") for c in cells.values())

    # 2. Right after the stop: default data age still says Running somewhere (stale cache); a question
    #    with Maximum Data Age 1 minute, asked once a minute has passed, says Not Running everywhere.
    clock.advance(60)
    stale = await ask(client, clock, {"query_text": f"Get Computer Name and {MONITOR} from all machines"})
    fresh = await ask(
        client,
        clock,
        {
            "selects": [
                {"sensor": {"name": "Computer Name"}},
                {"sensor": {"name": MONITOR}, "filter": {"max_age_seconds": 60}},
            ]
        },
    )
    assert any(stale[name] == ["Running"] for name in to_stop), "the default age should show a cached Running"
    assert all(fresh[name] == ["Not Running"] for name in to_stop)
    assert fresh[trap.hostname] == ["Running"]

    # 3. Find the binary, then uninstall it per platform (the trap endpoint included, still running).
    file_q = f"Get Computer Name and File Exists[{BINARY}] from all machines"
    before = await ask(client, clock, {"query_text": file_q})
    linux = [ep.hostname for ep in fleet if not ep.is_windows and ep.hostname in expected]
    assert all(before[name] == [f"File Exists: {BINARY}"] for name in linux)
    windows = [ep.hostname for ep in fleet if ep.is_windows and ep.hostname in expected]
    for package, names in ((UNINSTALL_LINUX, linux), (UNINSTALL_WINDOWS, windows)):
        if names:
            inline = {
                "and_flag": False,
                "filters": [
                    {
                        "sensor": {"name": "Computer ID"},
                        "operator": "Equal",
                        "value": sim.fleet.by_hostname(n).client_id,
                    }
                    for n in names
                ],
            }
            done = await deploy(client, clock, package, inline)
            assert all(c.endswith(":Completed.") for c in done.values()), done

    # 4. Verify: File Exists reports the file gone (Maximum Data Age 1 minute, after a minute).
    clock.advance(60)
    candidate = (await client.post("/api/v2/parse_question", json={"text": file_q})).json()["data"][0]
    candidate["selects"][1]["filter"]["max_age_seconds"] = 60
    after = await ask(client, clock, candidate)
    assert all(after[name] == [FILE_MISSING] for name in linux)
    assert all(
        after[name] == [f"File Exists: {BINARY}"] for name in before if name not in expected and name in linux
    )

    # ... and Threat Response sees no binary any more (the traces went with it).
    conn = await world.connected(trap.index)
    r = await client.get(f"{TR}/conns/{conn['id']}/file/info/{BINARY}")
    assert r.status_code == 404

    # 5. The trap: uninstalled without a stop, the scanner still runs from memory and keeps scanning.
    final = await ask(
        client,
        clock,
        {
            "selects": [
                {"sensor": {"name": "Computer Name"}},
                {"sensor": {"name": MONITOR}, "filter": {"max_age_seconds": 60}},
            ]
        },
    )
    assert final[trap.hostname] == ["Running"]
    now = clock.now()
    assert scanner_running_at(sim.store, sim.settings.seed, trap, now)
    assert len(list(book.scan_times(trap, now, now + 3 * 86_400, first_scan_at=now, interval_s=86_400))) == 3
    stopped = sim.fleet.by_hostname(to_stop[0])
    assert not scanner_running_at(sim.store, sim.settings.seed, stopped, now)
    assert list(book.scan_times(stopped, now, now + 3 * 86_400, first_scan_at=now, interval_s=86_400)) == []


async def test_traces_stay_after_a_stop_and_vanish_with_the_uninstall(world: World) -> None:
    client, clock, sim = world.client, world.clock, world.backend
    ep = next(e for e in sim.fleet if not e.is_windows and e.has_trace)
    trace = sim.files.trace_path(ep)
    target = {"filters": [{"sensor": {"name": "Computer ID"}, "operator": "Equal", "value": ep.client_id}]}
    await deploy(client, clock, STOP, target)
    conn = await world.connected(ep.index)
    assert (await client.get(f"{TR}/conns/{conn['id']}/file/info/{trace}")).status_code == 200
    await deploy(client, clock, UNINSTALL_LINUX, target)
    conn = await world.connected(ep.index)
    assert (await client.get(f"{TR}/conns/{conn['id']}/file/info/{trace}")).status_code == 404
    r = await client.post(f"{TR}/conns/{conn['id']}/file", json={"path": trace})
    assert r.status_code == 200  # the task is accepted, then fails: the file is gone
    clock.advance(sim.settings.lifecycle.task_duration_s)
    task = (await client.get(f"{TR}/tasks/{r.json()['taskInfo']['id']}")).json()["data"]
    assert task["status"] in ("ERROR", "INCOMPLETE")
