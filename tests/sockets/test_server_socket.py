"""Real sockets: uvicorn on 127.0.0.1 (port 0), driven by httpx; and the `serve` command as a process."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import signal
import subprocess
import sys
import zipfile

import httpx
import pytest

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.server import BackgroundServer
from simulator.settings import Lifecycle, Settings

pytestmark = pytest.mark.sockets
TR = "/plugin/products/threat-response/api/v1"


def test_whole_workflow_over_a_real_socket() -> None:
    clock = ManualClock()
    settings = Settings(
        port=0, endpoints=4, seed=5, lifecycle=Lifecycle(connect_delay_s=1, task_duration_s=1)
    )
    with BackgroundServer(settings, app=create_app(settings, clock=clock)) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url, headers={"session": settings.token}, timeout=10) as c:
            ep = c.get("/plugin/products/dec/v1/endpoints").json()["data"][0]
            assert c.post(f"{TR}/conns/connect", json={"target": {"clientId": ep["clientId"]}}).json() == (
                f"remote:undefined:{ep['clientId']}:"
            )
            clock.advance(1)
            (conn,) = [x for x in c.get(f"{TR}/conns").json() if x["status"] == "connected"]
            path = "/opt/cryptosense/traces/trace.cst.gz"
            if ep["platform"] == "Windows":
                path = settings.windows_trace_path
            task_id = c.post(f"{TR}/conns/{conn['id']}/file", json={"path": path}).json()["taskInfo"]["id"]
            clock.advance(1)
            task = c.get(f"{TR}/tasks/{task_id}").json()["data"]
            assert task["status"] == "COMPLETED"
            result = task["results"]["fileResults"][0]
            assert c.delete(f"{TR}/conns/close/{conn['id']}").json() == {}
            with c.stream("GET", f"{TR}/filedownload/data/{result['uuid']}") as r:
                assert r.headers["content-type"] == "application/zip"
                data = r.read()
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                member = zf.read(zf.namelist()[0], pwd=b"infected")
            assert hashlib.sha256(member).hexdigest() == result["response"]["transferHash"]
            assert gzip.decompress(member).startswith(b'{"format":"CST"')
            assert c.request("DELETE", f"{TR}/filedownload", json={"ids": [result["uuid"]]}).json() == {}
            state = c.get("/_sim/state", headers={"authorization": f"Bearer {settings.admin_token}"}).json()
            assert state["evidence"] == 0 and state["connections"]["connected"] == 0


def test_serve_prints_one_line_and_stops_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "serve",
            "--port",
            "0",
            "--endpoints",
            "3",
            "--token",
            "token-abc123",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            match = re.search(r"serving (http://127\.0\.0\.1:\d+)", line)
            assert match, line
            assert "token-abc123" in line and "admin token:" in line
            url = match.group(1)
            assert httpx.get(f"{url}/_sim/health", timeout=5).json()["status"] == "ok"
            r = httpx.get(f"{url}{TR}/conns", headers={"session": "token-abc123"}, timeout=5)
            assert r.json() == []
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == 0
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_serve_rejects_bad_arguments_in_one_sentence() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "port" in r.stderr
