"""The fault matrix: each scenario × seed on a fresh simulator, the client over its fleet, then the checks.

>>> scenarios, options = [Scenario.load("flaky-5xx")], MatrixOptions(endpoints=3)
>>> result = asyncio.run(run_matrix(scenarios, options))  # doctest: +SKIP
>>> result.ok, [run.problems for run in result.runs]  # doctest: +SKIP
(True, [[], []])

Per run: a simulator is built in-process with the scenario and the seed, on a :class:`ManualClock`
that every wait (the client's polls and backoffs, the simulator's injected latency and bandwidth)
advances instead of sleeping, so minutes of simulated time take milliseconds and the same seed gives
the same run. Scenarios without wire faults are driven through ``httpx.ASGITransport``; those with
wire faults (reset, hang, truncate, dribble only exist on a socket) through a
:class:`~simulator.server.BackgroundServer` on 127.0.0.1, port 0, where hangs end at the client's real
read timeout (``request_timeout_s``). ``MatrixOptions(in_process=True)`` drives those in-process too,
where each wire fault raises the httpx error it causes on a socket (fast tests; no real hang).

The client variant (:mod:`simulator.qa.variants`) collects the first ``endpoints`` endpoints one
after the other. Then, per endpoint: the outcome is ``success`` only if the trace on disk, the
client's result and the task's ``transferHash`` all match the ground-truth manifest (otherwise it is
``corrupt``); a typed error is its ``reason``; anything else is ``untyped:<Exception>``. It must be
one the scenario's expectations allow (:mod:`simulator.qa.expectations`). Per run, from the control
namespace: no connection left ``connected``/``waiting`` and no evidence left (``/_sim/state``), and
no request sent sooner than the ``Retry-After`` of a 429 or 503 on the same call (``/_sim/requests``).
Leftovers are also traced to repeated POSTs (``/_sim/state``'s ``duplicates``): a live connection of
an endpoint the server connected more than once, or evidence of a path it was asked for more than once,
is the twin of a POST the client repeated and did not reconcile.

``MatrixOptions(remote=Remote(url, admin_token))`` drives a running server instead (``tanium-sim qa
--url``): one started with ``serve --clock manual``, whose simulated time the runner moves through
``POST /_sim/clock``. Every check reads the control namespace, so it is the same matrix, whichever
world it runs on — in-process, on a socket, or ``serve --workers 4 --store redis://...``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from client import AsyncTaniumClient, CollectResult, PollPolicy, RetryPolicy, TaniumError
from simulator.app import create_app
from simulator.clock import ManualClock, VirtualSleep
from simulator.qa.expectations import SUCCESS, Expectations, endpoint_class
from simulator.qa.variants import REFERENCE, ClientVariant
from simulator.scenarios import Scenario
from simulator.server import BackgroundServer
from simulator.settings import Settings
from simulator.state.backend import ThreatResponseBackend
from simulator.traces import TraceCatalog

CATALOG_BYTES = 384 << 20  # traces and zips kept between runs (LRU); a seed's fleet fits
POLL = PollPolicy(interval_s=2.0, max_interval_s=30.0, multiplier=1.5)  # a real client's cadence


@dataclass(frozen=True)
class Remote:
    """A running simulator on the manual clock (``serve --clock manual``) that the matrix drives.

    Each run switches its scenario (``PUT /_sim/scenario``), resets the world (``POST /_sim/reset``,
    which also takes its clock back to the start) and moves its clock through ``POST /_sim/clock``. The
    fleet and the seed are the server's. Any number of processes behind ``url`` (``--workers``, hosts on
    one Redis) are one world, so the checks see the whole simulator.
    """

    url: str
    admin_token: str
    username: str = "admin"
    password: str = "tanium"
    verify: bool | str = True  # TLS: False, or a CA bundle's path


class RemoteError(Exception):
    """The server at ``--url`` cannot be driven (unreachable, wrong token, real clock); one sentence."""


class RemoteClock:
    """The server's manual clock as the client sees it: ``sleep`` advances it, ``now`` is the time it
    answered last (the server's own injected delays show up at the next sleep)."""

    def __init__(self, admin: httpx.AsyncClient, now: float) -> None:
        self.admin = admin
        self._now = now

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        response = await self.admin.post("/_sim/clock", json={"advance_s": max(0.0, seconds)})
        response.raise_for_status()
        self._now = float(response.json()["now"])


@dataclass(frozen=True)
class MatrixOptions:
    """How big the matrix is and how the client runs (``deadline_s`` is simulated time)."""

    endpoints: int = 3
    # Past ``endpoints``, keep collecting (up to this many in all) while a fault rule has not fired yet:
    # a matrix that injected nothing tested nothing. 0: exactly ``endpoints``.
    exercise_endpoints: int = 12
    seeds: tuple[int, ...] = (1, 2)
    variant: ClientVariant = REFERENCE
    request_timeout_s: float = 2.0  # real seconds: what a hang costs on a socket
    deadline_s: float = 3600.0  # per endpoint, simulated: slow tasks and offline timeouts fit
    run_timeout_s: float = 600.0  # real seconds per scenario × seed: a stuck run is reported, not waited on
    workdir: Path | None = None  # where traces land while checked (a temporary folder by default)
    in_process: bool = False  # wire-fault scenarios too (their faults become httpx errors, see above)
    store_url: str = "memory"  # redis://...: each run's world on that Redis, under a prefix of its own
    remote: Remote | None = None  # a running simulator to drive instead of in-process worlds


@dataclass
class EndpointResult:
    """One endpoint's collection and whether the scenario allows how it ended."""

    client_id: str
    klass: str  # endpoint class: default | offline | missing_trace
    outcome: str  # success | <error reason> | corrupt | untyped:<Exception>
    allowed: bool
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RunResult:
    """One scenario × seed: per-endpoint outcomes and the run's leak and politeness checks."""

    scenario: str
    seed: int
    transport: str  # in-process | sockets | remote
    endpoints: list[EndpointResult] = field(default_factory=list)
    leaked_connections: int = 0
    leaked_evidence: int = 0
    duplicate_connections: int = 0  # of the leaked connections: twins left by a repeated connect
    duplicate_evidence: int = 0  # of the leaked evidence: twins left by a repeated file request
    retry_after_violations: int = 0
    requests: int = 0
    retries: int = 0
    faults_fired: dict[str, int] = field(default_factory=dict)  # rule name -> requests it fired on
    duration_s: float = 0.0
    error: str | None = None  # the run itself could not complete

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(e.outcome for e in self.endpoints)

    @property
    def corrupt(self) -> int:
        return sum(e.outcome == "corrupt" for e in self.endpoints)

    @property
    def untyped(self) -> int:
        return sum(e.outcome.startswith("untyped:") for e in self.endpoints)

    @property
    def unexpected(self) -> list[EndpointResult]:
        return [e for e in self.endpoints if not e.allowed]

    @property
    def problems(self) -> list[str]:
        """Every expectation that did not hold, one sentence each (empty: the run passed)."""
        out: list[str] = []
        if self.error:
            out.append(f"the run did not complete: {self.error}")
        for e in self.unexpected:
            detail = f": {e.message}" if e.message else ""
            out.append(f"endpoint {e.client_id} ({e.klass}) ended {e.outcome}, not allowed here{detail}")
        if self.leaked_connections:
            twins = _twins(self.duplicate_connections, "connect")
            out.append(f"{self.leaked_connections} connection(s) left connected or waiting{twins}")
        if self.leaked_evidence:
            twins = _twins(self.duplicate_evidence, "file request")
            out.append(f"{self.leaked_evidence} evidence item(s) left on the server{twins}")
        if self.retry_after_violations:
            out.append(
                f"{self.retry_after_violations} request(s) sent before the Retry-After of a 429 or 503 ended"
            )
        if self.not_exercised:
            out.append(
                f"not exercised: none of its fault rules ({', '.join(self.faults_fired)}) fired on "
                f"{len(self.endpoints)} endpoint(s), so nothing was tested; collect more (--endpoints)"
            )
        return out

    @property
    def not_exercised(self) -> bool:
        """The scenario has fault rules and none of them fired: the run proved nothing about them."""
        return self.error is None and bool(self.faults_fired) and not any(self.faults_fired.values())

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "transport": self.transport,
            "ok": self.ok,
            "problems": self.problems,
            "outcomes": dict(self.outcomes),
            "leaked_connections": self.leaked_connections,
            "leaked_evidence": self.leaked_evidence,
            "duplicate_connections": self.duplicate_connections,
            "duplicate_evidence": self.duplicate_evidence,
            "corrupt_traces": self.corrupt,
            "untyped_failures": self.untyped,
            "retry_after_violations": self.retry_after_violations,
            "requests": self.requests,
            "retries": self.retries,
            "faults_fired": self.faults_fired,
            "not_exercised": self.not_exercised,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "endpoints": [e.to_dict() for e in self.endpoints],
        }


@dataclass
class MatrixResult:
    """Every run of a matrix, in order."""

    variant: str
    endpoints: int
    seeds: tuple[int, ...]
    runs: list[RunResult] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(run.ok for run in self.runs)

    def totals(self) -> dict[str, int]:
        """The figures the issue asks for, over the whole matrix."""
        failures = [e for run in self.runs for e in run.endpoints if e.outcome != SUCCESS]
        return {
            "runs": len(self.runs),
            "failed_runs": sum(not run.ok for run in self.runs),
            "endpoints": sum(len(run.endpoints) for run in self.runs),
            "succeeded": sum(run.outcomes[SUCCESS] for run in self.runs),
            "failed_typed": sum(e.outcome not in ("corrupt",) and ":" not in e.outcome for e in failures),
            "unexpected": sum(len(run.unexpected) for run in self.runs),
            "leaked_connections": sum(run.leaked_connections for run in self.runs),
            "leaked_evidence": sum(run.leaked_evidence for run in self.runs),
            "duplicate_connections": sum(run.duplicate_connections for run in self.runs),
            "duplicate_evidence": sum(run.duplicate_evidence for run in self.runs),
            "corrupt_traces": sum(run.corrupt for run in self.runs),
            "untyped_failures": sum(run.untyped for run in self.runs),
            "retry_after_violations": sum(run.retry_after_violations for run in self.runs),
            "faults_fired": sum(sum(run.faults_fired.values()) for run in self.runs),
            "not_exercised": sum(run.not_exercised for run in self.runs),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "variant": self.variant,
            "endpoints": self.endpoints,
            "seeds": list(self.seeds),
            "duration_s": round(self.duration_s, 3),
            "totals": self.totals(),
            "runs": [run.to_dict() for run in self.runs],
        }


def needs_sockets(scenario: Scenario) -> bool:
    """Whether a scenario has wire faults (they only exist on a real socket)."""
    return any(rule.fault.is_wire for rule in scenario.faults)


async def run_matrix(
    scenarios: Sequence[Scenario],
    options: MatrixOptions = MatrixOptions(),
    on_run: Callable[[RunResult], None] | None = None,
) -> MatrixResult:
    """Run every scenario × seed in turn; ``on_run`` sees each result as it completes."""
    started = time.monotonic()
    if options.remote is not None:
        return await _run_remote_matrix(scenarios, options, options.remote, on_run, started)
    result = MatrixResult(options.variant.name, options.endpoints, options.seeds)
    # One catalog for the whole matrix, seed by seed: the scenarios of a seed share most of their fleet,
    # so each trace is generated once per seed instead of once per run.
    catalog = TraceCatalog(CATALOG_BYTES)
    with tempfile.TemporaryDirectory(prefix="tanium-sim-qa-") as tmp:
        workdir = options.workdir or Path(tmp)
        for seed in options.seeds:
            for scenario in scenarios:
                dest = workdir / scenario.name / f"seed-{seed}"
                run = await run_scenario(scenario, seed, options, dest, catalog=catalog)
                result.runs.append(run)
                if on_run is not None:
                    on_run(run)
    order = {scenario.name: i for i, scenario in enumerate(scenarios)}
    result.runs.sort(key=lambda run: (order[run.scenario], run.seed))
    result.duration_s = time.monotonic() - started
    return result


async def probe_remote(remote: Remote) -> tuple[int, dict[str, Any]]:
    """The server's seed and running scenario, or a :class:`RemoteError` saying what to fix."""
    headers = {"Authorization": f"Bearer {remote.admin_token}"}
    try:
        async with httpx.AsyncClient(
            base_url=remote.url, headers=headers, timeout=10.0, verify=remote.verify
        ) as admin:
            clock = await admin.get("/_sim/clock")
            if clock.status_code == 401:
                raise RemoteError(
                    f"{remote.url} refused the admin token: pass the one 'serve' printed (--admin-token)"
                )
            if clock.status_code == 404:
                raise RemoteError(f"{remote.url} has no /_sim/clock: is it a tanium-sim server?")
            clock.raise_for_status()
            if clock.json().get("mode") != "manual":
                raise RemoteError(
                    f"{remote.url} runs on the real clock, where a matrix would take hours: restart it "
                    "with 'tanium-sim serve --clock manual'"
                )
            running = await _admin_json(admin, "/_sim/scenario")
    except httpx.HTTPError as exc:
        raise RemoteError(f"cannot reach {remote.url} ({exc or type(exc).__name__})") from None
    return int(running["seed"]), running


async def _run_remote_matrix(
    scenarios: Sequence[Scenario],
    options: MatrixOptions,
    remote: Remote,
    on_run: Callable[[RunResult], None] | None,
    started: float,
) -> MatrixResult:
    seed, running = await probe_remote(remote)
    options = replace(options, seeds=(seed,))
    result = MatrixResult(options.variant.name, options.endpoints, options.seeds)
    try:
        with tempfile.TemporaryDirectory(prefix="tanium-sim-qa-") as tmp:
            for scenario in scenarios:
                dest = (options.workdir or Path(tmp)) / scenario.name / f"seed-{seed}"
                run = await run_scenario(scenario, seed, options, dest)
                result.runs.append(run)
                if on_run is not None:
                    on_run(run)
    finally:  # the server goes back to the scenario it ran (its own rules; counters start again)
        async with _admin_client(remote) as admin:
            doc = {
                key: running[key] for key in running if key not in ("description", "source", "seed", "faults")
            }
            await admin.put("/_sim/scenario", content=orjson.dumps(doc))
    result.duration_s = time.monotonic() - started
    return result


def _admin_client(remote: Remote) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {remote.admin_token}"}
    return httpx.AsyncClient(base_url=remote.url, headers=headers, timeout=120.0, verify=remote.verify)


async def _run_remote(
    scenario: Scenario, options: MatrixOptions, dest: Path, run: RunResult, remote: Remote
) -> None:
    async with _admin_client(remote) as admin:
        doc = {"name": scenario.name, **{k: v for k, v in scenario.raw.items() if k != "seed"}}
        switched = await admin.put("/_sim/scenario", content=orjson.dumps(doc))
        if switched.status_code != 200:
            raise RemoteError(f"the server refused scenario {scenario.name}: {switched.text[:300]}")
        (await admin.post("/_sim/reset")).raise_for_status()
        clock = RemoteClock(admin, float((await _admin_json(admin, "/_sim/clock"))["now"]))
        fleet = await _admin_json(admin, f"/_sim/endpoints?limit={_most(options)}")
        world = World(
            remote.url,
            lambda: None,
            remote.admin_token,
            remote.username,
            remote.password,
            clock.now,
            clock.sleep,
            [row["clientId"] for row in fleet["endpoints"]],
        )
        await _run_on(scenario, run.seed, options, dest, run, world)


async def run_scenario(
    scenario: Scenario, seed: int, options: MatrixOptions, dest: Path, *, catalog: TraceCatalog | None = None
) -> RunResult:
    """One scenario × seed (see the module docstring). Never raises: a broken run is reported.

    ``catalog``: generated traces to share between runs (traces depend on the seed and endpoint only).
    """
    started = time.monotonic()
    sockets = needs_sockets(scenario) and not options.in_process
    transport = "remote" if options.remote is not None else "sockets" if sockets else "in-process"
    run = RunResult(scenario.name, seed, transport)
    try:
        async with asyncio.timeout(options.run_timeout_s):
            await _run(replace(scenario, seed=None), seed, options, dest, run, catalog)
    except TimeoutError:
        run.error = f"still running after {options.run_timeout_s:g} s"
    except Exception as exc:  # a broken run is a finding of the matrix, not a crash of it
        run.error = f"{type(exc).__name__}: {exc}"
    run.duration_s = time.monotonic() - started
    return run


async def _run(
    scenario: Scenario,
    seed: int,
    options: MatrixOptions,
    dest: Path,
    run: RunResult,
    catalog: TraceCatalog | None,
) -> None:
    if options.remote is not None:
        await _run_remote(scenario, options, dest, run, options.remote)
        return
    clock = ManualClock()
    sleep = VirtualSleep(clock)  # simulated time: waiting costs nothing real

    password = secrets.token_urlsafe(12)
    settings = Settings(
        host="127.0.0.1", port=0, seed=seed, endpoints=_most(options), username="qa", password=password
    )
    store = None
    if options.store_url != "memory":
        from simulator.state.store import open_store

        store = open_store(options.store_url, prefix=f"tanium-sim-qa-{secrets.token_hex(6)}")
    try:
        app = create_app(settings, clock=clock, sleep=sleep, scenario=scenario, store=store)
        backend: ThreatResponseBackend = app.state.backend
        if catalog is not None:
            backend.catalog = catalog  # before the first request: nothing was generated yet
        client_ids = [
            backend.fleet.endpoint(i).client_id for i in range(min(_most(options), backend.fleet.size))
        ]

        async def prepare(cid: str) -> None:
            # Build the evidence zip first: a download must never wait on generation under a short timeout.
            await asyncio.to_thread(_warm_evidence, backend, [cid])

        server: BackgroundServer | None = None
        base_url = "http://tanium-sim.qa"
        if run.transport == "sockets":
            server = BackgroundServer(app.state.settings, app=app)
            await asyncio.to_thread(server.start)
            base_url = server.url

        def make_transport() -> httpx.AsyncBaseTransport | None:
            return None if server is not None else httpx.ASGITransport(app=app)

        world = World(
            base_url,
            make_transport,
            app.state.base_settings.admin_token,
            settings.username,
            password,
            clock.now,
            sleep,
            client_ids,
            prepare,
        )
        try:
            await _run_on(scenario, seed, options, dest, run, world)
        finally:
            if server is not None:
                await asyncio.to_thread(server.stop)
    finally:
        if store is not None:
            await asyncio.to_thread(store.drop)  # type: ignore[attr-defined]


@dataclass
class World:
    """Where one run's client goes and how it waits: an in-process simulator or a server at a URL.

    ``now`` and ``sleep`` are simulated time (a :class:`ManualClock` here, or the server's manual clock
    through ``POST /_sim/clock``); everything the checks read comes through the control routes.
    """

    base_url: str
    make_transport: Callable[[], httpx.AsyncBaseTransport | None]
    admin_token: str
    username: str
    password: str
    now: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    client_ids: list[str]  # in order: the first ``endpoints``, then more while a rule has not fired
    prepare: Callable[[str], Awaitable[None]] | None = None  # before an endpoint is collected


async def _run_on(
    scenario: Scenario, seed: int, options: MatrixOptions, dest: Path, run: RunResult, world: World
) -> None:
    expectations = Expectations.of(scenario)
    admin_headers = {"Authorization": f"Bearer {world.admin_token}"}
    async with httpx.AsyncClient(
        base_url=world.base_url, transport=world.make_transport(), headers=admin_headers, timeout=120.0
    ) as admin:
        policy = options.variant.make_policy(world.now, world.sleep, random.Random(seed))
        async with AsyncTaniumClient(
            world.base_url,
            username=world.username,
            password=world.password,
            timeout=httpx.Timeout(options.request_timeout_s),
            transport=world.make_transport(),
            policy=policy,
        ) as client:
            for i, cid in enumerate(world.client_ids):
                if i >= options.endpoints and all(run.faults_fired.values()):
                    break  # every rule fired: the run is exercised
                manifest = await _admin_json(admin, f"/_sim/endpoints/{cid}/manifest")
                if world.prepare is not None:
                    await world.prepare(cid)
                run.endpoints.append(
                    await _collect_one(options, client, cid, manifest, expectations, admin, dest, world)
                )
                rules = await _admin_json(admin, "/_sim/faults")
                run.faults_fired = {rule["name"]: int(rule["fired"]) for rule in rules["faults"]}
        state = await _admin_json(admin, "/_sim/state")
        journal = await _admin_json(admin, "/_sim/requests")
    run.leaked_connections = state["connections"]["connected"] + state["connections"]["waiting"]
    run.leaked_evidence = state["evidence"] + state["evidence_pending"]
    run.duplicate_connections = state["duplicates"]["connections"]
    run.duplicate_evidence = state["duplicates"]["evidence"]
    run.retry_after_violations = retry_after_violations(scenario, journal["requests"])
    run.requests = int(journal["total"])
    if isinstance(policy, RetryPolicy):
        run.retries = policy.stats.retries


def _most(options: MatrixOptions) -> int:
    """The most endpoints one run collects (see ``MatrixOptions.exercise_endpoints``)."""
    return max(options.endpoints, options.exercise_endpoints)


async def _admin_json(admin: httpx.AsyncClient, path: str) -> Any:
    response = await admin.get(path)
    response.raise_for_status()
    return response.json()


def _warm_evidence(backend: ThreatResponseBackend, client_ids: list[str]) -> None:
    for cid in client_ids:
        endpoint = backend.fleet.by_client_id(cid)
        if endpoint is not None and endpoint.has_trace:
            backend.catalog.evidence_zip(backend.trace_spec(endpoint))


async def _collect_one(
    options: MatrixOptions,
    client: AsyncTaniumClient,
    client_id: str,
    manifest: dict[str, Any],
    expectations: Expectations,
    admin: httpx.AsyncClient,
    dest: Path,
    world: World,
) -> EndpointResult:
    klass = endpoint_class(manifest)
    message = ""
    try:
        result = await options.variant.collect(
            client,
            client_id,
            dest=dest,
            deadline_s=options.deadline_s,
            poll=POLL,
            clock=world.now,
            sleep=world.sleep,
        )
    except TaniumError as exc:
        outcome, message = exc.reason, str(exc)
    except Exception as exc:  # untyped: never allowed, whatever the scenario says
        outcome, message = f"untyped:{type(exc).__name__}", str(exc)
    else:
        # The task as stored, read through the control namespace: a vendor request would go through the
        # scenario's faults and shift them.
        task = await _admin_json(admin, f"/_sim/tasks/{result.task_id}")
        problem = await asyncio.to_thread(verify_trace, result, manifest, task["data"])
        outcome, message = (SUCCESS, "") if problem is None else ("corrupt", problem)
    return EndpointResult(client_id, klass, outcome, outcome in expectations.allowed(klass), message)


def verify_trace(result: CollectResult, manifest: dict[str, Any], task: dict[str, Any]) -> str | None:
    """None when the accepted trace matches its manifest and the task's transferHash, else what differs.

    The trace file is removed afterwards (the matrix keeps no data).
    """
    path = result.trace_path
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"the trace file {path} cannot be read ({exc.strerror})"
    finally:
        path.unlink(missing_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    file_results = task["results"]["fileResults"]
    transfer_hash = file_results[0]["response"]["transferHash"] if file_results else None
    checks = {
        "the trace on disk": (digest, len(data)),
        "the client's result": (result.sha256, result.bytes),
    }
    for what, (sha, size) in checks.items():
        if (sha, size) != (manifest["sha256"], manifest["size"]):
            return f"{what} ({size} bytes, sha256 {sha[:12]}…) does not match the manifest"
    if transfer_hash != manifest["sha256"]:
        return f"the task's transferHash {str(transfer_hash)[:12]}… does not match the manifest"
    return None


def _twins(count: int, post: str) -> str:
    return f" ({count} of them where a {post} was repeated)" if count else ""


RETRY_AFTER_STATUSES = frozenset({429, 503})  # the statuses the simulator sends Retry-After with


def retry_after_violations(scenario: Scenario, entries: list[dict[str, Any]]) -> int:
    """Requests repeated before the ``Retry-After`` of the 429 or 503 the same call got (journal order)."""
    waits = {
        rule.name: (rule.fault.status, rule.fault.retry_after_s)
        for rule in scenario.faults
        if rule.fault.type == "status"
        and rule.fault.status in RETRY_AFTER_STATUSES
        and rule.fault.retry_after_s
    }
    violations = 0
    for i, entry in enumerate(entries):
        status, wait = waits.get(entry.get("fault") or "", (None, None))
        if wait is None or entry.get("status") != status:
            continue
        same = (entry["method"], entry["path"])
        after = next((e for e in entries[i + 1 :] if (e["method"], e["path"]) == same), None)
        if after is not None and after["at"] < entry["at"] + wait - 1e-6:
            violations += 1
    return violations


__all__ = [
    "EndpointResult",
    "MatrixOptions",
    "MatrixResult",
    "Remote",
    "RemoteError",
    "RunResult",
    "World",
    "needs_sockets",
    "probe_remote",
    "retry_after_violations",
    "run_matrix",
    "run_scenario",
    "verify_trace",
]
