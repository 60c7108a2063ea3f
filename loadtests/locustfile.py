"""Load-test a Tanium Threat Response server (the simulator or a real one) the way integrations use it.

Three user classes, each a traffic pattern real integrations produce:

* :class:`EvidenceWorkflowUser`: the whole evidence workflow (docs/api.md §7) per iteration against a random
  endpoint of the fleet; one ``WORKFLOW workflow`` event per completed workflow (its total time) and one
  ``WORKFLOW workflow failed`` event per failed one (its typed reason, e.g. ``connection_timeout``);
* :class:`IngestionUser`: the same steps, then the evidence download streamed through the reference
  reader (``client._trace``), reported as ``INGEST bytes`` / ``INGEST records`` events (MB/s, records/s);
* :class:`PollingStormUser`: many clients polling connections and tasks (the read-heavy pattern).

Every request is grouped by its route template (``name="/tasks/{id}"``). The target is ``--host``; the
session token comes from ``TANIUM_TOKEN`` (or ``--tanium-token``). ``--start-simulator`` starts a local
simulator on 127.0.0.1 with load-fit settings, samples its memory, and stops it at the end (what
``make loadtest`` uses). SLOs (``loadtests/slo.py``) decide the exit code; ``loadtests/report.py`` writes
the summary page (verdicts, settings, plots) beside ``--html``; ``loadtests/shapes.py`` adds
ramp/step/spike/soak stages. See ``loadtests/README.md``::

    TANIUM_TOKEN=token-... locust -f loadtests/locustfile.py --host http://127.0.0.1:8080 -u 20 --headless
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, between, constant, events, task
from locust.runners import WorkerRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # Locust puts only loadtests/ on the path
# slo registers the SLO options and the exit-code verdict; report the summary page and its timeline
from loadtests import report, slo  # noqa: E402, F401

log = logging.getLogger("loadtests")

TR = "/plugin/products/threat-response/api/v1"
DEC = "/plugin/products/dec/v1/endpoints"
LINUX_TRACE_PATH = "/opt/cryptosense/traces/trace.cst.gz"
WINDOWS_TRACE_PATH = r"C:\ProgramData\Cryptosense\traces\trace.cst.gz"
TERMINAL = frozenset({"COMPLETED", "INCOMPLETE", "ERROR"})
DOWNLOAD_CHUNK = 1 << 20
_user_numbers = itertools.count()
_in_use: set[int] = set()  # endpoints a user of this process is working on: two users never share one


# --- typed failures --------------------------------------------------------------------------------


class WorkflowFailed(Exception):
    """A workflow step failed; ``str()`` is the typed reason and step, so Locust groups failures by them."""

    def __init__(self, reason: str, step: str, detail: str = "") -> None:
        super().__init__(f"{reason} at {step}")
        self.reason, self.step, self.detail = reason, step, detail


# The client's error names (client/_errors.py), so load-test reports and client logs speak alike.
_STATUS_REASONS = {400: "bad_request", 401: "unauthorized", 403: "session_expired", 404: "not_found"}


def status_reason(status: int) -> str:
    """The typed reason for an HTTP status (0 = no answer).

    >>> status_reason(503), status_reason(0), status_reason(429)
    ('server_error', 'transport', 'rate_limited')
    """
    if status == 0:
        return "transport"
    if status == 429:
        return "rate_limited"
    return _STATUS_REASONS.get(status, "server_error" if status >= 500 else "api")


def trace_path(platform: str) -> str:
    """Where the host scanner writes its trace on ``platform``."""
    return WINDOWS_TRACE_PATH if platform.lower().startswith("win") else LINUX_TRACE_PATH


# --- command line ----------------------------------------------------------------------------------


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--tanium-token",
        default="",
        env_var="TANIUM_TOKEN",
        is_secret=True,
        help="API token sent in the `session` header (default: $TANIUM_TOKEN)",
    )
    parser.add_argument("--poll-interval-s", type=float, default=0.25, help="poll period (default 0.25)")
    parser.add_argument(
        "--workflow-timeout-s", type=float, default=60.0, help="give up a workflow after this long"
    )
    parser.add_argument(
        "--keep-connections",
        action="store_true",
        help="close connections but never delete their records (shows /conns growing without bound)",
    )
    parser.add_argument("--load-seed", type=int, default=0, help="seed of the users' endpoint choices")
    parser.add_argument(
        "--working-set",
        type=int,
        default=0,
        help="pick endpoints among this many, spread over the fleet (default 0: the whole fleet); with"
        " --start-simulator their traces are generated before the load starts",
    )
    parser.add_argument(
        "--start-simulator",
        action="store_true",
        include_in_web_ui=False,
        help="start a local simulator on 127.0.0.1 for this run (ignores --host) and stop it at the end",
    )
    parser.add_argument("--sim-endpoints", type=int, default=10_000, include_in_web_ui=False)
    parser.add_argument("--sim-seed", type=int, default=0, include_in_web_ui=False)
    parser.add_argument(
        "--sim-scenario",
        default="baseline",
        include_in_web_ui=False,
        help="scenario for the started simulator, when its serve command knows scenarios",
    )
    parser.add_argument(
        "--sim-arg",
        action="append",
        default=[],
        include_in_web_ui=False,
        help="extra argument for `tanium-sim serve` (repeatable), e.g. --sim-arg=--no-journal",
    )
    parser.add_argument("--sim-rss-interval-s", type=float, default=1.0, include_in_web_ui=False)
    parser.add_argument(
        "--sim-rss-warmup-s",
        type=float,
        default=10.0,
        include_in_web_ui=False,
        help="RSS growth is measured from a sample this long into the load (at most half of it; default 10)",
    )


# --- a local simulator for the run -----------------------------------------------------------------


def serve_options() -> set[str]:
    """The option strings ``tanium-sim serve`` accepts in this checkout (scenarios and the journal
    switch arrive with the scenario engine; the launcher uses them when they exist)."""
    from simulator.cli import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction) and "serve" in action.choices:
            return {s for a in action.choices["serve"]._actions for s in a.option_strings}
    return set()


def scenario_exists(name: str) -> bool:
    """Whether ``name`` is a scenario file path or a file in this checkout's ``scenarios/``."""
    return Path(name).is_file() or (ROOT / "scenarios" / f"{name}.yaml").is_file()


def working_set_indices(fleet_size: int, working_set: int) -> list[int]:
    """``working_set`` endpoint indices spread evenly over the fleet (all of it when 0 or larger).

    >>> working_set_indices(1_000_000, 4)
    [0, 250000, 500000, 750000]
    """
    if working_set <= 0 or working_set >= fleet_size:
        return list(range(fleet_size))
    return [i * fleet_size // working_set for i in range(working_set)]


def split(indices: Sequence[int], part: int, parts: int) -> Sequence[int]:
    """Share ``part`` of ``parts`` interleaved shares of ``indices`` (all of them when that share is empty).

    >>> list(split(range(10), 1, 3)), list(split([5, 9], 2, 3))
    ([1, 4, 7], [5, 9])
    """
    share = indices[part::parts]
    return share if len(share) else indices


def worker_share(environment: Any) -> tuple[int, int]:
    """(share, shares): in a distributed run (``--processes N``, or a master expecting N workers) each
    worker process takes the endpoints of its own share, so users of two processes never work on one
    endpoint (they would close each other's connections); (0, 1) in a single-process run."""
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return 0, 1
    parts = int(getattr(environment.parsed_options, "expect_workers", 1) or 1)
    part = int(getattr(runner, "worker_index", -1))
    return (part, parts) if parts > 1 and 0 <= part < parts else (0, 1)


def httpx_client(url: str, token: str) -> Any:
    import httpx

    return httpx.Client(base_url=url, headers={"session": token}, timeout=120)


class SimulatorProcess:
    """``tanium-sim serve`` as a child process on 127.0.0.1 (port 0), its URL, and its memory over time."""

    def __init__(self, args: list[str], log_path: Path | None) -> None:
        self.token = self.admin_token = ""
        self.rss: list[tuple[float, int]] = []  # (seconds since start, bytes)
        self.load_started_s: float | None = None  # seconds since start when the load began (traces warm)
        self._sampler: Any = None
        command = [sys.executable, "-m", "simulator", "serve", "--host", "127.0.0.1", "--port", "0"]
        command += args  # no tokens on the command line (`ps` shows it): the simulator makes them up
        self._log = open(log_path, "ab") if log_path else None  # noqa: SIM115  (None: Locust's stderr)
        # stdout carries the announcement, which names the tokens: parsed here, never printed or logged
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log)
        self.started_at = time.monotonic()
        self.url = self._await_url(timeout_s=60.0)
        gevent.spawn(self._drain)

    def warm(self, working_set: int) -> None:
        """Generate the working set's traces now, so the load measures the API and not the generator."""
        started = time.monotonic()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per warm-up request otherwise
        with httpx_client(self.url, self.token) as client:
            size = client.get(f"{TR}/status").json()["endpoints"]
            admin = {"authorization": f"Bearer {self.admin_token}"}
            for index in working_set_indices(size, working_set):
                (endpoint,) = client.get(f"{DEC}?offset={index}&limit=1").json()["data"]
                client.get(
                    f"/_sim/endpoints/{endpoint['clientId']}/manifest", headers=admin
                ).raise_for_status()
        log.info("warmed %d endpoints' traces in %.1f s", working_set, time.monotonic() - started)

    def _await_url(self, timeout_s: float) -> str:
        assert self.proc.stdout is not None
        with gevent.Timeout(timeout_s, TimeoutError("the simulator did not announce itself in time")):
            line = self.proc.stdout.readline().decode(errors="replace")
        url = re.search(r"serving (https?://[\w.\-]+:\d+)", line)
        token = re.search(r"session token: ([^;\s]+)", line)
        admin = re.search(r"admin token: ([^;\s]+)", line)
        if not (url and token and admin):
            self.stop()
            raise RuntimeError(f"the simulator did not start (exit code {self.proc.poll()}); see its log")
        self.token, self.admin_token = token.group(1), admin.group(1)
        return url.group(1)

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        while self.proc.stdout.read(65536):
            pass

    def sample_rss(self, interval_s: float) -> None:
        import psutil

        process = psutil.Process(self.proc.pid)

        def loop() -> None:
            while self.proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    self.rss.append((time.monotonic() - self.started_at, process.memory_info().rss))
                gevent.sleep(interval_s)

        self._sampler = gevent.spawn(loop)

    def load_start_s(self) -> float:
        """When the load began, in seconds since the simulator started (the last sample's time if unseen)."""
        if self.load_started_s is not None:
            return self.load_started_s
        return self.rss[-1][0] if self.rss else 0.0

    def memory(self, warmup_s: float) -> report.RssSummary | None:
        """RSS at start, at load start, after ``warmup_s`` of load, peak, end; growth since the warm-up."""
        return report.rss_summary(self.rss, self.load_start_s(), warmup_s)

    def rss_since_load_mb(self) -> list[tuple[float, float]]:
        """The samples as (seconds since the load started, MB): the trace warm-up shows as negative time."""
        origin = self.load_start_s()
        return [(t - origin, b / report.MB) for t, b in self.rss]

    def write_rss_csv(self, path: Path) -> None:
        lines = ["seconds,rss_bytes", *(f"{t:.1f},{b}" for t, b in self.rss)]
        path.write_text("\n".join(lines) + "\n")

    def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.kill(block=False)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()


_simulator: SimulatorProcess | None = None


@events.init.add_listener
def _start_simulator(environment: Any, **_kwargs: Any) -> None:
    global _simulator
    options = environment.parsed_options
    if not getattr(options, "start_simulator", False) or isinstance(environment.runner, WorkerRunner):
        return
    known = serve_options()
    args = ["--endpoints", str(options.sim_endpoints), "--seed", str(options.sim_seed)]
    if options.sim_scenario and "--scenario" in known and scenario_exists(options.sim_scenario):
        args += ["--scenario", options.sim_scenario]
    if "--no-journal" in known:
        args.append("--no-journal")  # a journal of every request would measure the disk, not the API
    args += list(options.sim_arg)
    prefix = getattr(options, "csv_prefix", None)
    log_path = Path(f"{prefix}_simulator.log") if prefix else None
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    _simulator = SimulatorProcess(args, log_path)
    _simulator.sample_rss(options.sim_rss_interval_s)
    if options.working_set:
        _simulator.warm(options.working_set)
    environment.host = _simulator.url
    options.host = _simulator.url
    options.tanium_token = _simulator.token  # sent to workers with the other options
    log.info("started a simulator at %s (pid %d): %s", _simulator.url, _simulator.proc.pid, " ".join(args))


@events.test_start.add_listener
def _mark_load_start(environment: Any, **_kwargs: Any) -> None:
    if _simulator is not None and _simulator.load_started_s is None:
        _simulator.load_started_s = time.monotonic() - _simulator.started_at


@events.quitting.add_listener
def _finish(environment: Any, **_kwargs: Any) -> None:
    """Stop the simulator, then write its memory figures and the summary page (loadtests/report.py)."""
    memory = None
    if _simulator is not None:
        _simulator.stop()
        memory = _simulator.memory(environment.parsed_options.sim_rss_warmup_s)
        log.info("%s", memory.line() if memory is not None else "simulator RSS: not enough samples")
        prefix = getattr(environment.parsed_options, "csv_prefix", None)
        if prefix:
            _simulator.write_rss_csv(Path(f"{prefix}_simulator_rss.csv"))
    rss = _simulator.rss_since_load_mb() if _simulator is not None else []
    path = report.write_summary(environment, rss, memory)
    if path is not None:
        log.info("summary: %s", path)


# --- the users -------------------------------------------------------------------------------------


class TaniumUser(FastHttpUser):
    """Shared plumbing: the session header, endpoint picking, and one call per vendor route."""

    abstract = True
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        options = self.environment.parsed_options
        token = getattr(options, "tanium_token", "") or os.environ.get("TANIUM_TOKEN", "")
        if not token:
            raise RuntimeError("set TANIUM_TOKEN (or --tanium-token) to the API token of the target")
        self.headers = {"session": token}
        self.number = next(_user_numbers)
        self.rng = random.Random(f"{getattr(options, 'load_seed', 0)}:{os.getpid()}:{self.number}")
        self.poll_s = float(getattr(options, "poll_interval_s", 0.25))
        self.timeout_s = float(getattr(options, "workflow_timeout_s", 60.0))
        self.delete_connections = not getattr(options, "keep_connections", False)
        self.fleet_size = self._fleet_size()
        working_set = int(getattr(options, "working_set", 0) or 0)
        part, parts = worker_share(self.environment)
        self.share = split(range(self.fleet_size), part, parts)
        self.indices = (
            split(working_set_indices(self.fleet_size, working_set), part, parts) if working_set else None
        )

    # -- one request, failing with a typed reason --------------------------------------------------
    def call(self, method: str, path: str, name: str, step: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, name=name, headers=self.headers, **kwargs)
        status = int(response.status_code or 0)
        if not 200 <= status < 300:
            raise WorkflowFailed(status_reason(status), step, (response.text or "")[:200])
        return response

    def _fleet_size(self) -> int:
        body = self.call("GET", f"{TR}/status", "/status", "status").json()
        size = body.get("endpoints") if isinstance(body, dict) else None
        if isinstance(size, int) and size > 0:
            return size
        # a real server does not say: count what discovery lists (first page is enough to pick from)
        return max(
            1, len(self.call("GET", f"{DEC}?limit=1000", "/dec/v1/endpoints", "discover").json()["data"])
        )

    def pick_endpoint(self) -> dict[str, Any]:
        """A random endpoint of the fleet no other user of this process holds, looked up by index.

        Two users on one endpoint would close each other's connections; when the working set is all
        taken, the user waits for one to free up instead (give a working set larger than the users).
        In a distributed run each process picks from its own share only (:func:`worker_share`).
        """
        while True:
            if self.indices is None:
                index = self.rng.choice(self.share)
                if index not in _in_use or len(_in_use) * 2 > len(self.share):
                    break
            else:
                free = [i for i in self.indices if i not in _in_use]
                if free:
                    index = self.rng.choice(free)
                    break
            gevent.sleep(self.poll_s)
        _in_use.add(index)
        url = f"{DEC}?offset={index}&limit=1"
        try:
            (endpoint,) = self.call("GET", url, "/dec/v1/endpoints?offset={i}", "discover").json()["data"]
        except BaseException:
            _in_use.discard(index)
            raise
        endpoint["_index"] = index
        result: dict[str, Any] = endpoint
        return result

    def polls(self, deadline: float, step: str) -> Iterator[int]:
        for attempt in itertools.count():
            if time.monotonic() > deadline:
                raise WorkflowFailed("timeout", step, f"gave up after {attempt} polls")
            if attempt:
                gevent.sleep(self.poll_s)
            yield attempt

    # -- the workflow's steps (docs/api.md §7) ------------------------------------------------------------
    def connect(self, client_id: str, deadline: float) -> str:
        self.call(
            "POST",
            f"{TR}/conns/connect",
            "/conns/connect",
            "connect",
            json={"target": {"clientId": client_id}},
        )
        for _ in self.polls(deadline, "wait_connected"):
            conns = self.call("GET", f"{TR}/conns", "/conns", "wait_connected").json()
            mine = [c for c in conns if c.get("clientId") == client_id]
            if any(c.get("status") == "connected" for c in mine):
                return str(max((c for c in mine if c["status"] == "connected"), key=_eid)["id"])
            if mine and all(c.get("status") == "timeout" for c in mine):
                raise WorkflowFailed("connection_timeout", "wait_connected")
        raise AssertionError("unreachable")

    def request_trace(self, cid: str, platform: str, deadline: float) -> tuple[int, str]:
        body = {"path": trace_path(platform)}
        info = self.call("POST", f"{TR}/conns/{cid}/file", "/conns/{cid}/file", "request_file", json=body)
        task_id = int(info.json()["taskInfo"]["id"])
        for _ in self.polls(deadline, "wait_task"):
            data = self.call("GET", f"{TR}/tasks/{task_id}", "/tasks/{id}", "wait_task").json()["data"]
            status = data.get("status")
            if status == "COMPLETED":
                results = data.get("results", {}).get("fileResults") or []
                if not results or not results[0].get("uuid"):
                    raise WorkflowFailed("evidence_missing", "wait_task")
                return task_id, str(results[0]["uuid"])
            if status in TERMINAL:
                raise WorkflowFailed("task_failed", "wait_task", str(status))
        raise AssertionError("unreachable")

    def close(self, cid: str) -> None:
        self.call("DELETE", f"{TR}/conns/close/{cid}", "/conns/close/{cid}", "close")
        if self.delete_connections:
            # Load hygiene: /conns is a bare, unpaged list, so every closed record left behind makes
            # every later poll slower. Deleting it keeps a long run in a steady state.
            self.call("DELETE", f"{TR}/conns/delete/{cid}", "/conns/delete/{cid}", "delete_connection")

    def delete_evidence(self, uuid: str) -> None:
        self.call("DELETE", f"{TR}/filedownload", "/filedownload", "delete_evidence", json={"ids": [uuid]})

    def cleanup(self, cid: str | None, uuid: str | None) -> None:
        """Best effort after a failure: leave nothing behind, never mask the first error."""
        with contextlib.suppress(WorkflowFailed):
            if cid:
                self.close(cid)
        with contextlib.suppress(WorkflowFailed):
            if uuid:
                self.delete_evidence(uuid)

    def report(self, request_type: str, name: str, started: float, length: int = 0, exc: Any = None) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exc,
            context={},
        )


def _eid(conn: dict[str, Any]) -> int:
    with contextlib.suppress(TypeError, ValueError):
        return int(conn.get("eid") or 0)
    return 0


class EvidenceWorkflowUser(TaniumUser):
    """Connect, wait, request the trace, wait, close, download, delete: back to back, random endpoints."""

    wait_time = constant(0)
    weight = 3

    @task
    def workflow(self) -> None:
        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout_s
        cid = uuid = None
        index = None
        size = 0
        try:
            endpoint = self.pick_endpoint()
            index = endpoint["_index"]
            cid = self.connect(str(endpoint["clientId"]), deadline)
            _task_id, uuid = self.request_trace(cid, str(endpoint.get("platform", "Linux")), deadline)
            self.close(cid)
            cid = None
            name = "/filedownload/data/{uuid}"
            data = self.call("GET", f"{TR}/filedownload/data/{uuid}", name, "download").content or b""
            size = len(data)
            if not data.startswith(b"PK"):
                raise WorkflowFailed("integrity", "download", "the evidence is not a zip")
            self.delete_evidence(uuid)
            uuid = None
        except WorkflowFailed as exc:
            self.cleanup(cid, uuid)
            self.report("WORKFLOW", "workflow failed", started, exc=exc)
            return
        finally:
            if index is not None:
                _in_use.discard(index)
        self.report("WORKFLOW", "workflow", started, size)


class IngestionUser(TaniumUser):
    """Collect a trace and stream the download through the reference reader: MB/s and records/s."""

    wait_time = constant(0)
    weight = 1

    @task
    def ingest(self) -> None:
        from client._errors import TaniumError
        from client._trace import open_trace

        deadline = time.monotonic() + self.timeout_s
        cid = uuid = None
        index = None
        try:
            endpoint = self.pick_endpoint()
            index = endpoint["_index"]
            cid = self.connect(str(endpoint["clientId"]), deadline)
            _task_id, uuid = self.request_trace(cid, str(endpoint.get("platform", "Linux")), deadline)
            self.close(cid)
            cid = None
            started = time.perf_counter()
            response = self.call(
                "GET", f"{TR}/filedownload/data/{uuid}", "/filedownload/data/{uuid}", "download", stream=True
            )
            try:
                with open_trace(response.iter_content(DOWNLOAD_CHUNK, decode_content=False)) as trace:
                    for _ in trace:
                        pass
                    stats = trace.stats
            except TaniumError as exc:
                raise WorkflowFailed(exc.reason, "ingest", str(exc)) from exc
            self.report("INGEST", "bytes", started, stats.compressed_bytes)
            self.report("INGEST", "records", started, stats.records)
            self.delete_evidence(uuid)
            uuid = None
        except WorkflowFailed as exc:
            self.cleanup(cid, uuid)
            self.report("INGEST", "ingest failed", time.perf_counter(), exc=exc)
        finally:
            if index is not None:
                _in_use.discard(index)


class PollingStormUser(TaniumUser):
    """An integration that polls: connection list, its connection, its task, recent evidence."""

    wait_time = between(0.05, 0.25)
    weight = 2

    def on_start(self) -> None:
        super().on_start()
        self.cid: str | None = None
        self.task_id: int | None = None
        deadline = time.monotonic() + self.timeout_s
        endpoint = self.pick_endpoint()
        try:
            self.cid = self.connect(str(endpoint["clientId"]), deadline)
            body = {"path": trace_path(str(endpoint.get("platform", "Linux")))}
            info = self.call(
                "POST", f"{TR}/conns/{self.cid}/file", "/conns/{cid}/file", "request_file", json=body
            )
            self.task_id = int(info.json()["taskInfo"]["id"])
        except WorkflowFailed as exc:
            self.report("POLL", "setup failed", time.perf_counter(), exc=exc)
        self.index = endpoint["_index"]  # held until on_stop: no workflow may close this connection

    def on_stop(self) -> None:
        self.cleanup(self.cid, None)
        _in_use.discard(self.index)

    @task(5)
    def list_connections(self) -> None:
        with contextlib.suppress(WorkflowFailed):
            self.call("GET", f"{TR}/conns", "/conns", "poll")

    @task(5)
    def get_task(self) -> None:
        if self.task_id is not None:
            with contextlib.suppress(WorkflowFailed):
                self.call("GET", f"{TR}/tasks/{self.task_id}", "/tasks/{id}", "poll")

    @task(2)
    def get_connection(self) -> None:
        if self.cid is not None:
            with contextlib.suppress(WorkflowFailed):
                self.call("GET", f"{TR}/conns/{self.cid}", "/conns/{cid}", "poll")

    @task(1)
    def recent_evidence(self) -> None:
        with contextlib.suppress(WorkflowFailed):
            self.call("GET", f"{TR}/filedownload?limit=50&sort=-downloaded", "/filedownload?limit=50", "poll")


class DiffIngestionUser(TaniumUser):
    """Diff ingestion (docs/cst-format.md "Diff traces"): most iterations pull an endpoint's diff trace and
    apply it to the inventory this user holds for it; a few (and the first per endpoint) pull the full trace.

    Events: ``DIFF diff bytes`` / ``DIFF full bytes`` (downloads by kind), ``DIFF fallback`` (a diff that did
    not fit the inventory held, or none on the endpoint: a full pull follows; expected, so not a failure).
    Inventories are held per process, like endpoints in use, so users share them. With ``--start-simulator``
    the user first asks the local simulator for a new scan (``POST /_sim/endpoints/{id}/scan``) so there
    is a diff to pull; against another server, scans come from its own schedule.
    """

    wait_time = constant(0)
    weight = 1
    full_share = 0.1  # iterations that pull the full trace even when a diff would do
    held_max = 256  # inventories held per process (oldest dropped first): bounds memory on large fleets
    held: dict[str, Any] = {}  # clientId -> client._diff.Inventory, shared by the process's users

    def fetch(self, cid: str, path: str, deadline: float, step: str) -> bytes:
        body = {"path": path}
        info = self.call("POST", f"{TR}/conns/{cid}/file", "/conns/{cid}/file", "request_file", json=body)
        task_id = int(info.json()["taskInfo"]["id"])
        for _ in self.polls(deadline, "wait_task"):
            data = self.call("GET", f"{TR}/tasks/{task_id}", "/tasks/{id}", "wait_task").json()["data"]
            status = data.get("status")
            if status in TERMINAL:
                results = data.get("results", {}).get("fileResults") or []
                uuid = str(results[0]["uuid"]) if results and results[0].get("uuid") else None
                if status != "COMPLETED" or uuid is None:
                    raise WorkflowFailed("task_failed", step, str(status))
                try:
                    name = "/filedownload/data/{uuid}"
                    content = self.call("GET", f"{TR}/filedownload/data/{uuid}", name, step).content or b""
                finally:
                    self.delete_evidence(uuid)
                return bytes(content)
        raise AssertionError("unreachable")

    def new_scan(self, client_id: str) -> None:
        if _simulator is None:
            return
        headers = {"authorization": f"Bearer {_simulator.admin_token}"}
        url, name = f"/_sim/endpoints/{client_id}/scan", "/_sim/endpoints/{id}/scan"
        with self.client.request("POST", url, name=name, headers=headers, catch_response=True) as response:
            if response.status_code == 409:  # a stopped scanner makes no scans: not a failure of the run
                response.success()

    @task
    def ingest_diff(self) -> None:
        from client._diff import DiffRejected, Inventory, apply_diff, diff_trace_path

        deadline = time.monotonic() + self.timeout_s
        cid = None
        index = None
        started = time.perf_counter()
        try:
            endpoint = self.pick_endpoint()
            index = endpoint["_index"]
            client_id = str(endpoint["clientId"])
            path = trace_path(str(endpoint.get("platform", "Linux")))
            held = self.held.get(client_id)
            self.new_scan(client_id)
            cid = self.connect(client_id, deadline)
            current = None
            if held is not None and self.rng.random() >= self.full_share:
                t0 = time.perf_counter()
                try:
                    data = self.fetch(cid, diff_trace_path(path), deadline, "download_diff")
                    self.report("DIFF", "diff bytes", t0, len(data))
                    current = apply_diff(held, data)
                except (WorkflowFailed, DiffRejected) as exc:
                    log.debug("diff of %s not used (%s): pulling the full trace", client_id, exc)
                    self.report("DIFF", "fallback", t0)
            if current is None:
                t0 = time.perf_counter()
                data = self.fetch(cid, path, deadline, "download")
                self.report("DIFF", "full bytes", t0, len(data))
                current = Inventory.from_trace(data)
            self.close(cid)
            cid = None
            self.held.pop(client_id, None)
            self.held[client_id] = current
            while len(self.held) > self.held_max:
                self.held.pop(next(iter(self.held)))
        except WorkflowFailed as exc:
            self.cleanup(cid, None)
            self.report("DIFF", "ingest failed", started, exc=exc)
        finally:
            if index is not None:
                _in_use.discard(index)
