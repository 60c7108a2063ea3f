"""The AQtive Guard evidence workflow (docs/api.md §7): fetch one endpoint's CST trace, leave nothing behind.

>>> async with AsyncTaniumClient(url, token=token) as client:  # doctest: +SKIP
...     result = await collect_trace(client, "123", dest=Path("out"))
>>> result.trace_path, result.bytes, result.sha256  # doctest: +SKIP
(PosixPath('out/123.cst.gz'), 503502, '9f2c...')

Steps: list the endpoint's connections; connect; list connections until ours is ``connected``
(ours: the id connect answered if it is listed, else the one new id; see :meth:`EvidenceWorkflow.
_identify`); request the trace file; poll the task
until it is terminal; find the evidence uuid (``fileResults[0].uuid``, else the evidence list); close
the connection; stream the zip to disk; decrypt its one member and check its size and SHA-256 (a
download failing those checks is fetched again, ``download_attempts`` in all); write
``<dest>/<clientId>.cst.gz``; delete the evidence. Whatever fails, cancellation included, the
connection is closed and the evidence deleted on the way out (shielded, bounded by
``cleanup_timeout_s``). Waits go through the injected ``clock``/``sleep`` so tests run instantly.

A POST that was retried or failed ambiguously (a reset or timeout after it was sent, see
:mod:`client._retry`) may have acted twice or unseen: then cleanup also closes every live connection
of the endpoint that appeared since we listed them and is no other collector's, and settles every
task on our connection, deleting the evidence each one left.

Collectors sharing one client take turns to connect the same endpoint (an ``asyncio.Lock`` per client
and clientId, held until the connection is ``connected``), so each sees exactly one new connection. A
collector in another process can still connect between our listing and our connect: two new ids, and
connect's answer names neither, so :class:`~client._errors.ConnectionAmbiguous` is raised and nothing
is closed rather than the other collector's connection adopted or closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import weakref
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import stream_unzip

from client._client import AsyncTaniumClient
from client._errors import (
    APIError,
    ConnectionAmbiguous,
    ConnectionTimedOut,
    EvidenceMissing,
    IntegrityError,
    TaniumError,
    TaskFailed,
    TransportError,
)
from client._models import Connection, Evidence, Task
from client._responses import TR_PREFIX, route_name
from client._retry import AttemptLog, classify, track_attempts
from client._retry_log import note_retry, retry_reason

log = logging.getLogger(__name__)

LINUX_TRACE_PATH = "/opt/cryptosense/traces/trace.cst.gz"
WINDOWS_TRACE_PATH = r"C:\ProgramData\Cryptosense\traces\trace.cst.gz"
EVIDENCE_PASSWORD = b"infected"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def default_trace_path(platform: str) -> str:
    """Where the host scanner writes its trace on ``platform`` (as a connection object names it).

    >>> default_trace_path("Windows")
    'C:\\\\ProgramData\\\\Cryptosense\\\\traces\\\\trace.cst.gz'
    """
    return WINDOWS_TRACE_PATH if platform.lower().startswith("win") else LINUX_TRACE_PATH


@dataclass(frozen=True)
class PollPolicy:
    """How often to poll: ``interval_s``, growing by ``multiplier`` up to ``max_interval_s``.

    >>> list(itertools.islice(PollPolicy(1.0, 4.0, 2.0).intervals(), 4))  # doctest: +SKIP
    [1.0, 2.0, 4.0, 4.0]
    """

    interval_s: float = 2.0
    max_interval_s: float = 30.0
    multiplier: float = 1.5

    def intervals(self) -> Iterator[float]:
        delay = self.interval_s
        while True:
            yield delay
            delay = min(self.max_interval_s, delay * self.multiplier)


@dataclass(frozen=True)
class CollectResult:
    """One endpoint's collected trace and how it went (``timings`` in seconds)."""

    client_id: str
    hostname: str
    platform: str
    connection_id: str
    task_id: int
    evidence_uuid: str
    remote_path: str
    trace_path: Path
    bytes: int
    sha256: str
    zip_bytes: int
    timings: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "hostname": self.hostname,
            "platform": self.platform,
            "connection_id": self.connection_id,
            "task_id": self.task_id,
            "evidence_uuid": self.evidence_uuid,
            "remote_path": self.remote_path,
            "trace_path": str(self.trace_path),
            "bytes": self.bytes,
            "sha256": self.sha256,
            "zip_bytes": self.zip_bytes,
            "timings": dict(self.timings),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ZipMember:
    """The one member of an evidence zip, as written to disk."""

    name: str
    size: int
    sha256: str


def extract_evidence_member(
    zip_path: Path, out_path: Path, *, password: bytes = EVIDENCE_PASSWORD
) -> ZipMember:
    """Decrypts the single member of a ZipCrypto evidence zip into ``out_path`` (streaming).

    Raises IntegrityError when the zip is truncated, corrupt, has the wrong password or not exactly
    one member.

    >>> extract_evidence_member(Path("e.zip"), Path("trace.cst.gz")).sha256  # doctest: +SKIP
    """

    def chunks() -> Iterator[bytes]:
        with zip_path.open("rb") as fh:
            while block := fh.read(64 * 1024):
                yield block

    members: list[ZipMember] = []
    try:
        with out_path.open("wb") as out:
            for raw_name, _size, data in stream_unzip.stream_unzip(chunks(), password=password):
                digest = hashlib.sha256()
                size = 0
                for piece in data:
                    if not members:  # only the first member is kept; others make the zip invalid below
                        out.write(piece)
                    digest.update(piece)
                    size += len(piece)
                name = raw_name.decode("utf-8", "replace")
                members.append(ZipMember(name, size, digest.hexdigest()))
    except (stream_unzip.UnzipError, zlib.error, EOFError, ValueError) as exc:
        raise IntegrityError(
            f"the evidence zip is not readable ({type(exc).__name__}: {exc or 'no details'}): "
            "the download was truncated or corrupted; collect the endpoint again"
        ) from exc
    if len(members) != 1:
        raise IntegrityError(
            f"the evidence zip holds {len(members)} members instead of one: "
            "the server packed the evidence wrongly; collect the endpoint again"
        )
    return members[0]


@dataclass
class _Claims:
    """What the collectors sharing one client hold: a connect lock per clientId, the connections they use."""

    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)

    def lock(self, client_id: str) -> asyncio.Lock:
        return self.locks.setdefault(client_id, asyncio.Lock())


# Keyed weakly by client: the claims of a client go with it.
_CLAIMS: weakref.WeakKeyDictionary[AsyncTaniumClient, _Claims] = weakref.WeakKeyDictionary()


def _claims(client: AsyncTaniumClient) -> _Claims:
    claims = _CLAIMS.get(client)
    if claims is None:
        claims = _CLAIMS[client] = _Claims()
    return claims


def _may_have_acted(attempts: AttemptLog, exc: BaseException | None) -> bool:
    """Whether a POST may have had effects we did not see: an ambiguous failure on any of its tries."""
    if attempts.ambiguous:
        return True
    if exc is None:
        return False
    if isinstance(exc, APIError) and 400 <= exc.status < 500:
        return False  # the server refused it (429 included)
    if isinstance(exc, TaniumError):
        return classify(exc) not in ("unsent", "refused")  # a bad answer means it did act
    return True  # cancelled mid-request: assume the worst


class EvidenceWorkflow:
    """One run of docs/api.md §7 for one endpoint; use :func:`collect_trace`. Remembers what to clean up."""

    def __init__(
        self,
        client: AsyncTaniumClient,
        client_id: str,
        *,
        dest: Path,
        path: str | None,
        deadline_s: float,
        poll: PollPolicy,
        clock: Clock,
        sleep: Sleep,
        cleanup_timeout_s: float,
        download_attempts: int = 3,
        out_name: str | None = None,
        cleanup_on_failure: bool = True,
        reconcile_duplicates: bool = True,
    ) -> None:
        self.client = client
        self.client_id = client_id
        self.dest = dest
        self.requested_path = path
        self.deadline_s = deadline_s
        self.poll = poll
        self.clock = clock
        self.sleep = sleep
        self.cleanup_timeout_s = cleanup_timeout_s
        self.download_attempts = max(1, download_attempts)
        self.out_name = out_name or f"{client_id}.cst.gz"
        self.cleanup_on_failure = cleanup_on_failure
        self.reconcile_duplicates = reconcile_duplicates
        self.started = clock()
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []
        # cleanup state
        self.connection: Connection | None = None
        self.closed = False
        self.claims = _claims(client)
        self.before: set[str] | None = None  # the endpoint's connection ids listed just before our connect
        self.remote_path: str | None = None
        self.task_id: int | None = None
        self.task_status: str | None = None
        self.uuid: str | None = None
        self.evidence_deleted = False
        self.temp_files: list[Path] = []
        # duplicates a retried or ambiguous POST may have left (see the module docstring)
        self.connect_unsure = False
        self.request_unsure = False
        self.cancelled = False

    # ------------------------------------------------------------------ the run

    async def run(self) -> CollectResult:
        try:
            result = await self._collect()
        except BaseException as exc:
            if not self.cleanup_on_failure:
                raise  # broken on purpose (QA): the connection, evidence and temporary files stay behind
            # Cancelled: clean up what we know without waiting for running tasks to end.
            self.cancelled = isinstance(exc, asyncio.CancelledError)
            await self._cleanup()
            for warning in self.warnings:
                exc.add_note(warning)
            raise
        await self._cleanup()
        self.timings["total_s"] = self.clock() - self.started
        return replace(result, timings=dict(self.timings), warnings=tuple(self.warnings))

    async def _collect(self) -> CollectResult:
        t0 = self.clock()
        async with self.claims.lock(self.client_id):  # see the module docstring: one connect at a time
            listed = await self.client.list_connections()
            self.before = {c.id for c in listed if c.client_id == self.client_id}
            with track_attempts() as attempts:
                try:
                    answer = await self.client.connect(self.client_id)
                except BaseException as exc:
                    self.connect_unsure = _may_have_acted(attempts, exc)
                    raise
                self.connect_unsure = _may_have_acted(attempts, None)
            conn = await self._wait_connected(answer)
        self.connection = conn
        self.timings["connect_s"] = self.clock() - t0

        t0 = self.clock()
        remote_path = self.requested_path or default_trace_path(conn.platform)
        self.remote_path = remote_path
        with track_attempts() as attempts:
            try:
                request = await self.client.request_file(conn.id, remote_path)
            except BaseException as exc:
                self.request_unsure = _may_have_acted(attempts, exc)
                raise
            self.request_unsure = _may_have_acted(attempts, None)
        self.task_id = request.task_id
        task = await self._wait_task(request.task_id)
        self.timings["task_s"] = self.clock() - t0

        file_result = task.results.file_results[0] if task.results.file_results else None
        evidence: Evidence | None = None
        expected: tuple[int, str | None]
        if file_result is not None:
            uuid = self.uuid = file_result.uuid
            expected = (file_result.total_bytes, file_result.transfer_hash)
        else:
            evidence = await self._find_evidence()
            if evidence is None:
                raise EvidenceMissing(
                    f"task {task.id} for {remote_path} on {conn.hostname} completed but no file evidence "
                    "names that path and host: check the evidence list in Threat Response"
                )
            uuid = self.uuid = evidence.uuid
            expected = (evidence.size, evidence.hash)
        await self._close_connection()

        t0 = self.clock()
        result = await self._download(conn, task.id, uuid, remote_path, expected)
        self.timings["download_s"] = self.clock() - t0
        return result

    # ------------------------------------------------------------------ waiting

    def _remaining(self) -> float:
        return self.deadline_s - (self.clock() - self.started)

    def _identify(self, listed: list[Connection], answer: str) -> Connection | None:
        """Our connection in ``listed``, None while it is not listed; ConnectionAmbiguous if unknowable.

        Once known it is followed by id. Else the id connect answered, if listed (a server may answer
        the real id; Tanium answers ``remote:undefined:<clientId>:``, never listed). Else the one id of
        the endpoint listed now and not before our connect, nor held by another collector of this client.
        """
        mine = [c for c in listed if c.client_id == self.client_id]
        known = self.connection.id if self.connection is not None else answer
        for conn in mine:
            if conn.id == known:
                return conn
        if self.connection is not None:
            return None
        before = self.before or set()
        new = [c for c in mine if c.id not in before and c.id not in self.claims.held]
        if len(new) > 1 and not self.connect_unsure:
            raise ConnectionAmbiguous(
                f"{len(new)} new connections to endpoint {self.client_id} appeared after our connect "
                f"({', '.join(sorted(c.id for c in new))}) and its answer {answer!r} names none of them: "
                "another client connected the endpoint at the same time; none was closed (ours times out "
                "when idle); collect the endpoint again, one collector at a time"
            )
        # A repeated connect (connect_unsure) may have made several: the newest is used, the others
        # are closed in cleanup (_close_strays).
        return max(reversed(new), key=lambda c: c.initiated_at, default=None)

    async def _wait_connected(self, answer: str) -> Connection:
        intervals = self.poll.intervals()
        last = "not listed"
        while True:
            ours = self._identify(await self.client.list_connections(), answer)
            if ours is not None:
                self.connection = ours
                self.claims.held.add(ours.id)
                last = ours.status
                if ours.status == "connected":
                    return ours
                if ours.status in ("timeout", "disconnected"):
                    raise ConnectionTimedOut(
                        f"endpoint {self.client_id} did not connect (status {ours.status}: "
                        f"{ours.message or 'no message'}): check that it is online and runs the "
                        "Threat Response agent, then collect it again"
                    )
            await self._pause(
                intervals,
                ConnectionTimedOut(
                    f"endpoint {self.client_id} did not connect within {self.deadline_s:g} s "
                    f"(last status: {last}): check that it is online, or allow a longer timeout"
                ),
            )

    async def _wait_task(self, task_id: int) -> Task:
        intervals = self.poll.intervals()
        while True:
            task = await self.client.get_task(task_id)
            self.task_status = task.status
            if task.terminal:
                break
            await self._pause(
                intervals,
                TaskFailed(
                    f"file task {task_id} did not end within {self.deadline_s:g} s (last status "
                    f"{task.status}): the endpoint may be slow or busy; allow a longer timeout"
                ),
            )
        if task.status != "COMPLETED":
            self.uuid = task.evidence_uuid  # a failed task may still have left evidence
            detail = task.error or ", ".join(task.results.failed) or "no details"
            raise TaskFailed(
                f"file task {task_id} for {self.remote_path} ended {task.status} ({detail}): "
                "check that the trace exists on the endpoint (or pass --trace-path)"
            )
        return task

    async def _pause(self, intervals: Iterator[float], timed_out: TaniumError) -> None:
        remaining = self._remaining()
        if remaining <= 0:
            raise timed_out
        await self.sleep(min(next(intervals), remaining))

    async def _find_evidence(self) -> Evidence | None:
        """The newest evidence for our path on our host (the fallback when fileResults is empty)."""
        hostname = self.connection.hostname if self.connection else None
        matches = [
            item
            async for item in self.client.iter_evidence()
            if item.path == self.remote_path and item.hostname == hostname
        ]
        return max(matches, key=lambda e: e.downloaded or "", default=None)

    # ------------------------------------------------------------------ download and checks

    async def _download(
        self,
        conn: Connection,
        task_id: int,
        uuid: str,
        remote_path: str,
        expected: tuple[int, str | None],
    ) -> CollectResult:
        """Stream the zip to disk, extract its member, check size and SHA-256 (``expected``)."""
        self.dest.mkdir(parents=True, exist_ok=True)
        zip_path = self.dest / f".{self.client_id}.{uuid}.zip.part"
        member_path = self.dest / f".{self.client_id}.cst.gz.part"
        final_path = self.dest / self.out_name
        self.temp_files += [zip_path, member_path]
        for fetch in range(1, self.download_attempts + 1):
            # A short, corrupt or mismatching download is fetched again: the evidence is still there.
            try:
                zip_bytes, member = await self._fetch_checked(uuid, zip_path, member_path, expected)
                break
            except (IntegrityError, TransportError) as exc:
                if fetch == self.download_attempts:
                    if fetch > 1:
                        exc.add_note(f"the download was fetched {fetch} times and failed each time")
                    raise
                log.info("download of %s failed its checks (%s); fetching it again", uuid, exc.reason)
                operation = route_name("GET", f"{TR_PREFIX}/filedownload/data/{uuid}")
                note_retry(operation, retry_reason(exc, download=True))  # for collect's report
        member_path.replace(final_path)
        return CollectResult(
            client_id=self.client_id,
            hostname=conn.hostname,
            platform=conn.platform,
            connection_id=conn.id,
            task_id=task_id,
            evidence_uuid=uuid,
            remote_path=remote_path,
            trace_path=final_path,
            bytes=member.size,
            sha256=member.sha256,
            zip_bytes=zip_bytes,
            timings=self.timings,
            warnings=tuple(self.warnings),
        )

    async def _fetch_checked(
        self, uuid: str, zip_path: Path, member_path: Path, expected: tuple[int, str | None]
    ) -> tuple[int, ZipMember]:
        """One download of the evidence, its member extracted and checked against ``expected``."""
        expected_size, expected_hash = expected
        zip_bytes = await self.client.download_evidence(uuid, zip_path)
        member = await asyncio.to_thread(extract_evidence_member, zip_path, member_path)
        if member.size != expected_size:
            raise IntegrityError(
                f"the trace in evidence {uuid} is {member.size} bytes, but the server announced "
                f"{expected_size}: the transfer was truncated or altered; collect the endpoint again"
            )
        if expected_hash and _SHA256.match(expected_hash) and member.sha256 != expected_hash.lower():
            raise IntegrityError(
                f"the SHA-256 of the trace in evidence {uuid} is {member.sha256[:12]}…, but the server "
                f"announced {expected_hash[:12].lower()}…: the file is corrupt; collect the endpoint again"
            )
        return zip_bytes, member

    # ------------------------------------------------------------------ cleanup

    async def _close_connection(self) -> None:
        conn = self.connection
        if conn is None or self.closed or conn.status in ("timeout", "disconnected"):
            return
        try:
            await self.client.close_connection(conn.id)
        except TaniumError as exc:
            self._warn(f"could not close connection {conn.id}: {exc}")
        else:
            self.closed = True

    async def _close_strays(self) -> None:
        """After an ambiguous connect: close the endpoint's live connections new since our listing.

        Ours are among them; those another collector of this client holds are not. The lock makes sure
        no such collector is between its connect and its claim while we list.
        """
        if self.before is None:
            return  # we never connected
        ours = self.connection.id if self.connection is not None else None
        async with self.claims.lock(self.client_id):
            try:
                listed = await self.client.list_connections()
            except TaniumError as exc:
                self._warn(f"could not list connections to close those of endpoint {self.client_id}: {exc}")
                return
            others = self.claims.held - {ours}
        for conn in listed:
            live = conn.status in ("waiting", "connected")
            new = conn.id not in self.before and conn.id not in others
            if conn.client_id == self.client_id and live and new and not (conn.id == ours and self.closed):
                try:
                    await self.client.close_connection(conn.id)
                except TaniumError as exc:
                    self._warn(f"could not close connection {conn.id}: {exc}")

    async def _settle(self, task_id: int) -> Task | None:
        """The task once terminal, polled within ``cleanup_timeout_s``; None if it did not end."""
        intervals = self.poll.intervals()
        started = self.clock()
        while True:
            try:
                task = await self.client.get_task(task_id)
            except TaniumError as exc:
                self._warn(f"could not learn how task {task_id} ended: {exc}")
                return None
            if task.terminal:
                return task
            if self.cancelled or self.clock() - started >= self.cleanup_timeout_s:
                return None
            await self.sleep(next(intervals))

    async def _delete_stray_tasks(self) -> None:
        """After an ambiguous file request: settle every other task on our connection, delete its evidence."""
        conn = self.connection
        if conn is None:
            return
        try:
            listed = await self.client.list_tasks()
        except TaniumError as exc:
            self._warn(f"could not list tasks to find duplicates on connection {conn.id}: {exc}")
            return
        for task in listed:
            if task.metadata is None or task.metadata.connection != conn.id or task.id == self.task_id:
                continue
            settled = task if task.terminal else await self._settle(task.id)
            uuid = settled.evidence_uuid if settled is not None else None
            if settled is None:
                self._warn(f"duplicate task {task.id} did not end: its evidence may be left behind")
            elif uuid is not None:
                try:
                    await self.client.delete_evidence([uuid])
                except TaniumError as exc:
                    self._warn(f"could not delete evidence {uuid} of duplicate task {task.id}: {exc}")

    async def _delete_evidence(self) -> None:
        if self.task_id is None or self.evidence_deleted:
            return
        if self.uuid is None and self.task_status not in ("COMPLETED", "ERROR", "INCOMPLETE"):
            # The task was still running when the workflow stopped: its evidence appears when it ends.
            settled = await self._settle(self.task_id)
            if settled is not None:
                self.task_status, self.uuid = settled.status, settled.evidence_uuid
        if self.uuid is None and self.task_status not in ("ERROR", "INCOMPLETE"):
            # The task exists but we never learnt its evidence (failure or cancellation mid-poll).
            try:
                found = await self._find_evidence()
            except TaniumError as exc:
                self._warn(f"could not look for the evidence of task {self.task_id}: {exc}")
                return
            self.uuid = found.uuid if found else None
        if self.uuid is None:
            return
        try:
            await self.client.delete_evidence([self.uuid])
        except TaniumError as exc:
            self._warn(f"could not delete evidence {self.uuid}: {exc}")
        else:
            self.evidence_deleted = True

    async def _cleanup(self) -> None:
        # Shielded so a cancelled collection still closes and deletes; bounded so it cannot hang.
        with anyio.move_on_after(self.cleanup_timeout_s, shield=True) as scope:
            await self._close_connection()
            if self.connect_unsure and self.reconcile_duplicates:
                await self._close_strays()
            await self._delete_evidence()
            if self.request_unsure and self.reconcile_duplicates:
                await self._delete_stray_tasks()
        if scope.cancelled_caught:
            self._warn(f"cleanup for endpoint {self.client_id} gave up after {self.cleanup_timeout_s:g} s")
        if self.connection is not None:
            self.claims.held.discard(self.connection.id)
        for temp in self.temp_files:
            temp.unlink(missing_ok=True)

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        self.warnings.append(message)


async def collect_trace(
    client: AsyncTaniumClient,
    client_id: str,
    *,
    dest: str | Path,
    path: str | None = None,
    deadline_s: float = 600.0,
    poll: PollPolicy = PollPolicy(),
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    cleanup_timeout_s: float = 60.0,
    download_attempts: int = 3,
    out_name: str | None = None,
    cleanup_on_failure: bool = True,
    reconcile_duplicates: bool = True,
) -> CollectResult:
    """Runs docs/api.md §7 for ``client_id``; writes ``dest/<client_id>.cst.gz`` and returns what happened.

    ``path`` defaults to the scanner's trace path for the endpoint's platform. ``deadline_s`` bounds
    the waits (connection, then task) from the start. A download failing its size, hash or zip check
    (or cut short) is fetched again, ``download_attempts`` times in all. Raises a
    :class:`~client._errors.TaniumError`: ``ConnectionTimedOut``, ``TaskFailed``, ``EvidenceMissing``,
    ``IntegrityError``, ``ConnectionAmbiguous`` (another client connected the endpoint at the same
    moment: no connection is known to be ours, so none is closed) or any API or transport error; else
    the connection is closed and the evidence deleted in every case. ``out_name`` replaces the file
    name ``<client_id>.cst.gz`` (diff pulls).

    Two switches exist only to build deliberately broken clients (``tanium-sim qa --client``), and a
    real caller leaves them on: ``cleanup_on_failure=False`` cleans up after a success only, leaving
    the connection, the evidence and the temporary files behind when the collection fails or is
    cancelled; ``reconcile_duplicates=False`` never hunts for the twin connection or task a retried or
    ambiguous POST may have created (see the module docstring).

    >>> result = await collect_trace(client, "123", dest=Path("out"), deadline_s=300)  # doctest: +SKIP
    """
    workflow = EvidenceWorkflow(
        client,
        client_id,
        dest=Path(dest),
        path=path,
        deadline_s=deadline_s,
        poll=poll,
        clock=clock,
        sleep=sleep,
        cleanup_timeout_s=cleanup_timeout_s,
        download_attempts=download_attempts,
        out_name=out_name,
        cleanup_on_failure=cleanup_on_failure,
        reconcile_duplicates=reconcile_duplicates,
    )
    return await workflow.run()


__all__ = [
    "LINUX_TRACE_PATH",
    "WINDOWS_TRACE_PATH",
    "CollectResult",
    "EvidenceWorkflow",
    "PollPolicy",
    "ZipMember",
    "collect_trace",
    "default_trace_path",
    "extract_evidence_member",
]
