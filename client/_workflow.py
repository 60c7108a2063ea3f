"""The AQtive Guard evidence workflow (spec §7): fetch one endpoint's CST trace, leave nothing behind.

>>> async with AsyncTaniumClient(url, token=token) as client:  # doctest: +SKIP
...     result = await collect_trace(client, "123", dest=Path("out"))
>>> result.trace_path, result.bytes, result.sha256  # doctest: +SKIP
(PosixPath('out/123.cst.gz'), 503502, '9f2c...')

Steps: connect; list connections until ours is ``connected``; request the trace file; poll the task
until it is terminal; find the evidence uuid (``fileResults[0].uuid``, else the evidence list); close
the connection; stream the zip to disk; decrypt its one member and check its size and SHA-256; write
``<dest>/<clientId>.cst.gz``; delete the evidence. Whatever fails, cancellation included, the
connection is closed and the evidence deleted on the way out (shielded, bounded by
``cleanup_timeout_s``). Waits go through the injected ``clock``/``sleep`` so tests run instantly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import stream_unzip

from client._client import AsyncTaniumClient
from client._errors import (
    ConnectionTimedOut,
    EvidenceMissing,
    IntegrityError,
    TaniumError,
    TaskFailed,
)
from client._models import Connection, Evidence, Task

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


class EvidenceWorkflow:
    """One run of spec §7 for one endpoint; use :func:`collect_trace`. Remembers what to clean up."""

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
        self.started = clock()
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []
        # cleanup state
        self.connection: Connection | None = None
        self.closed = False
        self.remote_path: str | None = None
        self.task_id: int | None = None
        self.task_status: str | None = None
        self.uuid: str | None = None
        self.evidence_deleted = False
        self.temp_files: list[Path] = []

    # ------------------------------------------------------------------ the run

    async def run(self) -> CollectResult:
        try:
            result = await self._collect()
        except BaseException as exc:
            await self._cleanup()
            for warning in self.warnings:
                exc.add_note(warning)
            raise
        await self._cleanup()
        self.timings["total_s"] = self.clock() - self.started
        return replace(result, timings=dict(self.timings), warnings=tuple(self.warnings))

    async def _collect(self) -> CollectResult:
        t0 = self.clock()
        await self.client.connect(self.client_id)
        conn = await self._wait_connected()
        self.connection = conn
        self.timings["connect_s"] = self.clock() - t0

        t0 = self.clock()
        remote_path = self.requested_path or default_trace_path(conn.platform)
        self.remote_path = remote_path
        request = await self.client.request_file(conn.id, remote_path)
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

    async def _wait_connected(self) -> Connection:
        intervals = self.poll.intervals()
        last = "not listed"
        while True:
            mine = [c for c in await self.client.list_connections() if c.client_id == self.client_id]
            if mine:
                # The server appends a new entry on connect: the newest is ours, older ones are history.
                newest = max(reversed(mine), key=lambda c: c.initiated_at)
                self.connection = newest
                last = newest.status
                if newest.status == "connected":
                    return newest
                if newest.status in ("timeout", "disconnected"):
                    raise ConnectionTimedOut(
                        f"endpoint {self.client_id} did not connect (status {newest.status}: "
                        f"{newest.message or 'no message'}): check that it is online and runs the "
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
        expected_size, expected_hash = expected
        self.dest.mkdir(parents=True, exist_ok=True)
        zip_path = self.dest / f".{self.client_id}.{uuid}.zip.part"
        member_path = self.dest / f".{self.client_id}.cst.gz.part"
        final_path = self.dest / f"{self.client_id}.cst.gz"
        self.temp_files += [zip_path, member_path]
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

    async def _delete_evidence(self) -> None:
        if self.task_id is None or self.evidence_deleted:
            return
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
            await self._delete_evidence()
        if scope.cancelled_caught:
            self._warn(f"cleanup for endpoint {self.client_id} gave up after {self.cleanup_timeout_s:g} s")
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
) -> CollectResult:
    """Runs spec §7 for ``client_id``; writes ``dest/<client_id>.cst.gz`` and returns what happened.

    ``path`` defaults to the scanner's trace path for the endpoint's platform. ``deadline_s`` bounds
    the waits (connection, then task) from the start. Raises a :class:`~client._errors.TaniumError`:
    ``ConnectionTimedOut``, ``TaskFailed``, ``EvidenceMissing``, ``IntegrityError`` or any API or
    transport error; the connection is closed and the evidence deleted in every case.

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
