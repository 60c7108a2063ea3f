"""Connection limits over real sockets: idle and slow connections are closed, a connection past the limit
is answered 503 in the vendor envelope, and ``serve`` stops within its grace period on SIGTERM even when a
client stopped reading a download (docs/serving.md)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from simulator.limits import ConnectionLimits
from simulator.server import BackgroundServer
from simulator.settings import Settings
from tests.serve_process import ROOT

pytestmark = pytest.mark.sockets
TR = "/plugin/products/threat-response/api/v1"
TOKEN = "token-0123abcd"
# Bounds for socket waits: generous, they say "closed by the server, not by the test giving up".
WAIT_S = 10.0


def limited(**limits: float | int) -> Settings:
    return Settings(port=0, endpoints=2, admin_token="admin", connections=ConnectionLimits(**limits))  # type: ignore[arg-type]


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closes ``sock`` (EOF) within WAIT_S; False when it is still open then."""
    sock.settimeout(WAIT_S)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_socket_that_never_sends_is_closed_after_the_keep_alive_timeout() -> None:
    with BackgroundServer(limited(keep_alive_s=0.2, header_timeout_s=60)) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as idle:
            assert closed_by_server(idle)
        assert httpx.get(server.url + "/_sim/health", timeout=5).status_code == 200


def test_a_request_head_that_never_completes_is_cut_after_the_header_timeout() -> None:
    # Bytes arrived, so the keep-alive timer (60 s) is off: only the header timeout can close it.
    with (
        BackgroundServer(limited(keep_alive_s=60, header_timeout_s=0.3)) as server,
        socket.create_connection(("127.0.0.1", server.port)) as slow,
    ):
        slow.sendall(b"GET /_sim/health HTTP/1.1\r\nHost: sim\r\nX-Slow: 1\r\n")
        assert closed_by_server(slow)


def test_past_the_limit_a_connection_gets_503_and_the_established_ones_are_still_served() -> None:
    with BackgroundServer(limited(keep_alive_s=60, header_timeout_s=60, max_connections=3)) as server:
        admin = {"authorization": "Bearer admin"}
        with httpx.Client(base_url=server.url, headers=admin, timeout=5) as established:
            assert established.get("/_sim/state").status_code == 200  # connection 1, kept alive
            idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]  # 2 and 3
            try:
                with httpx.Client(base_url=server.url, headers=admin, timeout=5) as late:
                    r = late.get("/_sim/state")
                    assert r.status_code == 503
                    assert r.json()["text"].startswith("503 Service Unavailable: the simulator is serving")
                    assert r.headers["retry-after"] == "1" and r.headers["connection"] == "close"
                    health = late.get("/_sim/health")  # a liveness probe still gets its answer
                    assert health.status_code == 200 and health.headers["connection"] == "close"
                assert established.get("/_sim/state").status_code == 200
            finally:
                for sock in idle:
                    sock.close()


@contextmanager
def serve(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``tanium-sim serve`` as a child: (the process, its URL); killed at the end if still running."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "serve",
            "--port",
            "0",
            "--endpoints",
            "2",
            "--token",
            TOKEN,
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving http://" in line, line + (proc.stderr.read() if proc.stderr else "")
        yield proc, next(word for word in line.split() if word.startswith("http://"))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def stalled_download(url: str) -> httpx.Response:
    """Collect one endpoint's trace and start downloading it; the caller never reads the body."""
    c = httpx.Client(base_url=url, headers={"session": TOKEN}, timeout=10)
    endpoint = c.get("/plugin/products/dec/v1/endpoints").json()["data"][0]
    c.post(f"{TR}/conns/connect", json={"target": {"clientId": endpoint["clientId"]}})
    (conn,) = [x for x in c.get(f"{TR}/conns").json() if x["status"] == "connected"]  # connect_delay 0
    path = "/opt/cryptosense/traces/trace.cst.gz"
    if endpoint["platform"] == "Windows":
        path = Settings().windows_trace_path
    task_id = c.post(f"{TR}/conns/{conn['id']}/file", json={"path": path}).json()["taskInfo"]["id"]
    task = c.get(f"{TR}/tasks/{task_id}").json()["data"]  # task_duration 0
    uuid = task["results"]["fileResults"][0]["uuid"]
    response = c.send(c.build_request("GET", f"{TR}/filedownload/data/{uuid}"), stream=True)
    assert response.status_code == 200
    return response


def test_sigterm_stops_serve_within_the_grace_period_while_a_download_is_stalled(tmp_path: Path) -> None:
    scenario = tmp_path / "crawl.yaml"
    scenario.write_text(
        "# Downloads at 2 KB/s: a 200 KB trace would take minutes; lifecycles are instant.\n"
        "bandwidth: {bytes_per_s: 2000, per_connection: true, chunk_bytes: 1000}\n"
        "lifecycle: {connect_delay: 0, task_duration: 0}\n"
    )
    grace_s = 1.0
    with serve("--scenario", str(scenario), "--graceful-timeout", str(grace_s)) as (proc, url):
        download = stalled_download(url)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=grace_s + WAIT_S) == 0
        elapsed = time.monotonic() - started
        out, err = proc.communicate(timeout=5)
        download.close()
    assert elapsed >= grace_s  # the download was given its grace period, not cut at once
    assert "tanium-sim stopped; what was still in flight after --graceful-timeout 1 s was cut off" in out
    assert "Traceback" not in err


def test_sigterm_and_ctrl_c_exit_0_and_a_reachable_bind_is_warned_about() -> None:
    with serve("--host", "0.0.0.0") as (proc, _):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT_S) == 0
        out, err = proc.communicate(timeout=5)
    assert out.strip() == "tanium-sim stopped"
    (warning,) = [line for line in err.splitlines() if "warning" in line]
    assert "--host 0.0.0.0 lets other machines reach the simulator" in warning
    with serve() as (proc, _):
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=WAIT_S) == 0
        out, err = proc.communicate(timeout=5)
    assert out.strip() == "tanium-sim stopped" and err == ""
