"""Several `serve` processes on one real Redis are one simulated Tanium; Redis outages answer 503.

Every process here is a real ``tanium-sim serve`` on 127.0.0.1, port 0, and Redis is a real
``redis-server`` (tests/redis_server.py); waits poll with a deadline, never sleep for state.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.redis_server import RedisServer
from tests.serve_process import ROOT, serve_process

pytestmark = [pytest.mark.sockets, pytest.mark.redis]
TR = "/plugin/products/threat-response/api/v1"
TOKEN = "token-5a5a5a5a5a5a5a5a"
ADMIN = "shared-admin"
DEADLINE_S = 20.0
T = TypeVar("T")


class Serve:
    """One `tanium-sim serve` process; its announced URL once it listens."""

    def __init__(self, url: str, lines: list[str]) -> None:
        self.url, self.lines = url, lines

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"session": TOKEN, **headers}, timeout=10)

    def admin(self) -> httpx.Client:
        return self.client(authorization=f"Bearer {ADMIN}")


@contextmanager
def serve(store: str, *extra: str) -> Iterator[Serve]:
    credentials = ("--seed", "3", "--endpoints", "6", "--token", TOKEN, "--admin-token", ADMIN)
    with serve_process("--store", store, *credentials, *extra) as (url, lines):
        yield Serve(url, lines)


def until(check: Callable[[], T | None], what: str) -> T:
    """Poll ``check`` until it returns something truthy (bounded): state changes made elsewhere."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def two(redis_url: str) -> Iterator[tuple[Serve, Serve]]:
    with serve(redis_url) as a, serve(redis_url) as b:
        yield a, b


def test_a_connection_opened_through_one_process_is_polled_downloaded_and_deleted_through_another(
    two: tuple[Serve, Serve],
) -> None:
    a, b = two
    with a.client() as ca, b.client() as cb, b.admin() as admin_b, a.admin() as admin_a:
        ep = cb.get("/plugin/products/dec/v1/endpoints").json()["data"][0]
        cid = ep["clientId"]
        manifest = admin_b.get(f"/_sim/endpoints/{cid}/manifest").json()
        assert ca.post(f"{TR}/conns/connect", json={"target": {"clientId": cid}}).status_code == 200

        def connected() -> dict[str, Any] | None:
            return next((c for c in cb.get(f"{TR}/conns").json() if c["status"] == "connected"), None)

        conn = until(connected, "the connection to be connected (seen through the other process)")
        r = ca.post(f"{TR}/conns/{conn['id']}/file", json={"path": manifest["path"]})
        assert r.status_code == 200, r.text
        task_id = r.json()["taskInfo"]["id"]

        def completed() -> dict[str, Any] | None:
            task: dict[str, Any] = cb.get(f"{TR}/tasks/{task_id}").json()["data"]
            return task if task["status"] == "COMPLETED" else None

        task = until(completed, "the task to complete")
        result = task["results"]["fileResults"][0]
        listed = ca.get(f"{TR}/filedownload").json()
        assert [e["uuid"] for e in listed["fileEvidence"]] == [result["uuid"]]
        data = cb.get(f"{TR}/filedownload/data/{result['uuid']}").content
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            member = zf.read(zf.namelist()[0], pwd=b"infected")
        assert hashlib.sha256(member).hexdigest() == result["response"]["transferHash"] == manifest["sha256"]
        assert ca.request("DELETE", f"{TR}/filedownload", json={"ids": [result["uuid"]]}).status_code == 200
        assert cb.delete(f"{TR}/conns/close/{conn['id']}").status_code == 200
        assert ca.delete(f"{TR}/conns/delete/{conn['id']}").status_code == 200
        state = admin_a.get("/_sim/state").json()
        assert state["evidence"] == state["evidence_pending"] == 0
        assert sum(state["connections"].values()) == 0 and state["tasks"]["COMPLETED"] == 1


def test_a_fault_rule_with_times_fires_that_many_times_over_both_processes(
    two: tuple[Serve, Serve],
) -> None:
    a, b = two
    rule = {
        "name": "three-503",
        "match": {"operation": "list_connections"},
        "times": 3,
        "fault": {"type": "status", "status": 503, "retry_after_s": 0},
    }
    with a.client() as ca, b.client() as cb, a.admin() as admin_a, b.admin() as admin_b:
        assert admin_a.post("/_sim/faults", json=rule).status_code == 201
        until(
            lambda: [f for f in admin_b.get("/_sim/faults").json()["faults"] if f["name"] == "three-503"],
            "the rule to reach the other process",
        )
        statuses = [(ca if i % 2 else cb).get(f"{TR}/conns").status_code for i in range(10)]
        assert statuses.count(503) == 3 and statuses.count(200) == 7
        (listed,) = admin_b.get("/_sim/faults").json()["faults"]
        assert (listed["matched"], listed["fired"]) == (10, 3)

        def fault_metric() -> bool:
            text = admin_b.get("/_sim/metrics").text
            return 'tanium_sim_faults_total{rule="three-503",type="status"} 3.0' in text

        until(fault_metric, "both processes' metrics in one scrape")

        def journal_total() -> int | None:
            body = admin_a.get("/_sim/requests", params={"operation": "list_connections"}).json()
            return body["count"] if body["count"] >= 10 else None

        assert until(journal_total, "both processes' requests in one journal") == 10


def test_a_scenario_switched_through_one_process_runs_in_every_process(two: tuple[Serve, Serve]) -> None:
    a, b = two
    with a.admin() as admin_a, b.admin() as admin_b:
        assert admin_a.put("/_sim/scenario", params={"name": "slow-tasks"}).status_code == 200
        until(
            lambda: admin_b.get("/_sim/scenario").json()["name"] == "slow-tasks",
            "the other process to run the new scenario",
        )


def test_redis_down_answers_503_and_the_server_recovers_when_it_is_back(
    own_redis_server: RedisServer,
) -> None:
    server = own_redis_server
    with serve(server.url) as one, one.client() as c:
        assert c.get(f"{TR}/conns").status_code == 200
        server.halt()  # down, keeping its socket path for the restart
        down = c.get(f"{TR}/conns")
        assert down.status_code == 503
        assert down.json()["text"].startswith("503 Service Unavailable: the simulator's shared store")
        server.restart()
        until(lambda: c.get(f"{TR}/conns").status_code == 200, "the server to recover")


def test_serve_says_in_one_sentence_when_redis_is_unreachable(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/nobody-listens.sock"
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", "--store", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("tanium-sim: cannot reach Redis at unix://") and "Traceback" not in done.stderr


def test_several_workers_need_a_shared_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", "--workers", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--workers 2 needs a shared store" in done.stderr and "--store redis://" in done.stderr


def test_a_joining_process_with_another_fleet_is_refused(redis_url: str) -> None:
    with serve(redis_url):
        done = subprocess.run(
            [sys.executable, "-m", "simulator", "serve", "--port", "0", "--store", redis_url, "--seed", "4"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert "runs seed 3 with 6 endpoints; start this process with --seed 3 --endpoints 6" in done.stderr


@pytest.mark.slow
def test_two_workers_on_redis_pass_collect_all(redis_url: str, tmp_path: Path) -> None:
    with serve(redis_url, "--workers", "2") as sim:
        done = subprocess.run(
            [
                *(sys.executable, "-m", "simulator", "collect", "--url", sim.url, "--token", TOKEN),
                *("--all", "--out", str(tmp_path / "traces")),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        with sim.admin() as admin:
            state = admin.get("/_sim/state").json()
        assert state["evidence"] == 0 and state["connections"]["connected"] == 0


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/_sim/health").status_code == 200
    except httpx.TransportError:
        return False


def _qa(url: str, *args: str, reports: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "simulator", "qa", "--url", url, "--admin-token", ADMIN, *args]
    command += ["--junit", str(reports / "qa.xml"), "--json", str(reports / "qa.json")]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_make_qa_passes_against_two_workers_on_redis_on_the_manual_clock(
    redis_url: str, tmp_path: Path
) -> None:
    """`make qa QA_URL=...`: every scenario driven through a running `serve --workers 2 --store redis`."""
    with serve(redis_url, "--workers", "2", "--clock", "manual") as sim:
        with sim.admin() as admin:
            until(lambda: _answers(admin), "the workers to listen")
            admin.put("/_sim/scenario", params={"name": "slow-tasks"}).raise_for_status()
        done = _qa(sim.url, reports=tmp_path)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        report = json.loads((tmp_path / "qa.json").read_text())
        assert len(report["runs"]) >= 18 and {run["transport"] for run in report["runs"]} == {"remote"}
        assert all(run["seed"] == 3 and len(run["endpoints"]) >= 3 for run in report["runs"])
        fired = {run["scenario"]: sum(run["faults_fired"].values()) for run in report["runs"]}
        assert fired["flaky-5xx"] > 0 and fired["session-expiry"] == 1  # faults fired across both workers
        # A broken client is caught on the same server, and the server runs its own scenario again after.
        broken = _qa(sim.url, "--client", "no-cleanup", "--scenario", "task-errors", reports=tmp_path)
        assert broken.returncode == 1, broken.stdout[-3000:]
        assert "leaked" in broken.stdout
        with sim.admin() as admin:
            assert admin.get("/_sim/scenario").json()["name"] == "slow-tasks"


def test_qa_url_refuses_a_server_on_the_real_clock_in_one_sentence(redis_url: str, tmp_path: Path) -> None:
    with serve(redis_url) as sim:
        done = _qa(sim.url, "--scenario", "baseline", reports=tmp_path)
    assert done.returncode == 2
    assert "runs on the real clock" in done.stderr and "--clock manual" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


SAME_FLEET = ("--seed", "3", "--endpoints", "6")


def test_a_joining_process_on_another_clock_is_refused(redis_url: str) -> None:
    with serve(redis_url, "--clock", "manual"):
        done = subprocess.run(
            [*(sys.executable, "-m", "simulator", "serve", "--port", "0", "--store", redis_url), *SAME_FLEET],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert "runs on the manual clock; start this process with --clock manual" in done.stderr
