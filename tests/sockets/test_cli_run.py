"""``tanium-sim run`` (the job behind ``make run``) on a tiny fleet, and Ctrl-C during ``run`` and
``collect``: exit 130, one line, no traceback, and the server left clean.

The Ctrl-C tests wait for what the process prints (or what the server journals) before the signal,
each wait bounded by a generous deadline; no test sleeps a fixed time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from simulator.cli import main
from tests.serve_process import ROOT, serve_process

pytestmark = pytest.mark.sockets
DEADLINE_S = 120.0  # a bound on a wait that normally takes a second or two, generous for loaded machines
TOKEN = "token-c0ffee0123456789"
ADMIN = "admin-ctrl-c"


def test_run_collects_a_tiny_fleet_and_leaves_the_server_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    assert main(["run", "--endpoints", "3", "--seed", "7", "--out", str(out_dir), "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["collected"], report["endpoints"]) == (3, 3)
    assert report["left_open_connections"] == report["left_evidence"] == 0
    assert report["bytes"] > 0 and report["inventory"]["record_count"] > 0
    assert "simulator on http://127.0.0.1:" in err and "3 endpoints, seed 7" in err
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["counts"] == {"total": 3, "ok": 3, "failed": 0} and summary["error"] is None
    traces = sorted(p.name for p in out_dir.glob("*.cst.gz"))
    assert traces == sorted(f"{cid}.cst.gz" for cid in summary["endpoints"])
    assert sum(entry["bytes"] for entry in summary["endpoints"].values()) == report["bytes"]
    assert not list(out_dir.glob(".*")), "temporary files left behind"


def test_run_as_make_runs_it_prints_the_inventory_and_exits_0(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "run", "--endpoints", "3", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "collected 3 of 3 endpoints" in done.stdout
    assert "server left clean: 0 open connections, 0 evidence items" in done.stdout
    assert "Traceback" not in done.stderr


class Lines:
    """A child's output lines, read on a thread; :meth:`wait_for` blocks until one matches (bounded)."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, wanted: Callable[[str], bool], what: str) -> str:
        with self._changed:
            found = self._changed.wait_for(
                lambda: next((line for line in self.lines if wanted(line)), None), DEADLINE_S
            )
        assert found, f"no {what} within {DEADLINE_S:g} s: {''.join(self.lines)[-2000:]}"
        return found

    def text(self) -> str:
        self._thread.join(DEADLINE_S)
        return "".join(self.lines)


@contextmanager
def child(*args: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """``python -m simulator ARGS``, its stderr followed line by line; killed if the test fails."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield proc, Lines(proc.stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(DEADLINE_S)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def signal_state(pid: int) -> str:
    """The kernel's view of a process's signals (ignored, blocked, caught masks), for failure messages."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return " ".join(
                line.strip().replace(":\t", "=")
                for line in status
                if line.startswith(("SigIgn", "SigBlk", "SigCgt"))
            )
    except OSError:
        return "(no /proc)"


def press_ctrl_c(proc: subprocess.Popen[str], lines: Lines) -> None:
    """SIGINT for ``proc``, then exit 130, no traceback, ``interrupted`` last (failures add signal masks)."""
    state = signal_state(proc.pid)
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(DEADLINE_S)
    except subprocess.TimeoutExpired:  # say what the child printed: the clue to where Ctrl-C went unheard
        proc.kill()  # its stderr then closes, so the reader (and text()) finish at once
        proc.wait(DEADLINE_S)
        raise AssertionError(
            f"still running {DEADLINE_S:g} s after SIGINT ({state}); it printed:\n{lines.text()[-3000:]}"
        ) from None
    assert code == 130, f"exit {code} after SIGINT ({state}):\n{lines.text()}"
    err = lines.text()
    assert "Traceback" not in err, err
    assert err.rstrip().splitlines()[-1] == "interrupted", err


def test_ctrl_c_during_run_exits_130(tmp_path: Path) -> None:
    """Interrupted mid-collection (a first trace is on disk; 300 endpoints take minutes to collect)."""
    with child("run", "--endpoints", "300", "--out", str(tmp_path)) as (proc, lines):
        lines.wait_for(lambda line: line.startswith("simulator on http://"), "'simulator on' line")
        _until(proc, lambda: len(list(tmp_path.glob("*.cst.gz"))), "a first collected trace")
        press_ctrl_c(proc, lines)


def test_ctrl_c_during_collect_exits_130_and_cleans_up(tmp_path: Path) -> None:
    """Interrupted while polling a task that takes an hour: the connection is closed on the way out."""
    scenario = tmp_path / "hour-long-tasks.yaml"
    scenario.write_text("# Tasks take an hour; connections are instant.\n")
    scenario.write_text(scenario.read_text() + "lifecycle: {connect_delay: 0, task_duration: 3600}\n")
    served = ("--endpoints", "3", "--token", TOKEN, "--admin-token", ADMIN, "--scenario", str(scenario))
    with serve_process(*served) as (url, _), httpx.Client(base_url=url, timeout=30) as admin:
        admin.headers["authorization"] = f"Bearer {ADMIN}"
        argv = ["collect", "--url", url, "--token", TOKEN, "--all", "--concurrency", "1"]
        with child(*argv, "--out", str(tmp_path / "out")) as (proc, lines):
            _until(proc, lambda: _journaled(admin, "get_task"), "a task poll in the server's journal")
            press_ctrl_c(proc, lines)
        state = admin.get("/_sim/state").json()
        assert state["connections"]["connected"] == state["connections"]["waiting"] == 0, state
        assert _journaled(admin, "close_connection") == 1


def _journaled(admin: httpx.Client, operation: str) -> int:
    count: int = admin.get("/_sim/requests", params={"operation": operation}).json()["count"]
    return count


def _until(proc: subprocess.Popen[str], check: Callable[[], int], what: str) -> int:
    """Poll ``check`` (a cheap GET) until it is non-zero while ``proc`` runs, bounded by DEADLINE_S."""
    tick = threading.Event()
    for _ in range(int(DEADLINE_S / 0.05)):
        assert proc.poll() is None, f"the child exited {proc.returncode} before {what}"
        value = check()
        if value:
            return value
        tick.wait(0.05)  # a polling interval, not a wait for state: the loop ends on the state itself
    raise AssertionError(f"no {what} within {DEADLINE_S:g} s")
