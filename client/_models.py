"""Typed views of the Threat Response API's JSON, one frozen dataclass per shape (docs/api.md §2-§6).

Each model has ``from_api(obj)`` that checks every field it keeps and raises
:class:`~client._errors.ProtocolError` naming the field when one is missing or has the wrong type.
Field names are Pythonic; the API's mix of snake_case and camelCase stays on the wire. Times keep
the API's units: connection times are epoch **milliseconds** (ints), task and evidence times are
ISO-8601 strings. Ids are strings, except task ids (ints).

>>> conn = Connection.from_api({"id": "remote:web-01:123:2", "clientId": "123", "status": "connected",
...     "hostname": "web-01", "ip": "10.0.4.17", "platform": "Linux", "initiatedAt": 1631090906852})
>>> conn.is_connected, conn.platform
(True, 'Linux')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from client._errors import ProtocolError

T = TypeVar("T")

TERMINAL_TASK_STATUSES = frozenset({"COMPLETED", "INCOMPLETE", "ERROR"})

_MISSING = object()


def _type_name(tp: type | tuple[type, ...]) -> str:
    if isinstance(tp, tuple):
        return " or ".join(t.__name__ for t in tp)
    return tp.__name__


def _check(value: object, tp: type | tuple[type, ...], where: str) -> Any:
    # bool is an int subclass; the API never sends a bool where a number belongs.
    ok = isinstance(value, tp) and not (isinstance(value, bool) and bool not in _as_tuple(tp))
    if not ok:
        raise ProtocolError(
            f"the server's {where} is a {type(value).__name__}, not a {_type_name(tp)}: "
            "the server does not follow the Threat Response API (or this client is out of date)"
        )
    return value


def _as_tuple(tp: type | tuple[type, ...]) -> tuple[type, ...]:
    return tp if isinstance(tp, tuple) else (tp,)


def obj(value: object, where: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or ProtocolError."""
    return cast(Mapping[str, Any], _check(value, dict, where))


def req(data: Mapping[str, Any], key: str, tp: type[T] | tuple[type, ...], where: str) -> T:
    """The required field ``key`` of ``data``, checked against ``tp``."""
    value = data.get(key, _MISSING)
    if value is _MISSING:
        raise ProtocolError(
            f"the server's {where} has no {key!r} field: "
            "the server does not follow the Threat Response API (or this client is out of date)"
        )
    return cast(T, _check(value, tp, f"{where} field {key!r}"))


def opt(data: Mapping[str, Any], key: str, tp: type[T] | tuple[type, ...], where: str) -> T | None:
    """The optional (or nullable) field ``key`` of ``data``, checked against ``tp`` when present."""
    value = data.get(key)
    if value is None:
        return None
    return cast(T, _check(value, tp, f"{where} field {key!r}"))


def _str_list(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = opt(data, key, list, where) or []
    return tuple(_check(item, str, f"{where} field {key!r} item") for item in items)


@dataclass(frozen=True)
class Connection:
    """A Threat Response live connection (docs/api.md §4); several may exist for one ``client_id``."""

    id: str
    client_id: str
    status: str  # waiting | connected | disconnected | timeout (others are kept as sent)
    hostname: str
    ip: str
    platform: str
    initiated_at: int  # epoch ms
    message: str = ""
    user_id: str | None = None
    persona_id: int | None = None
    session_id: str | None = None
    eid: str | None = None
    connected_at: int | None = None  # epoch ms; absent for never-connected entries
    has_tools: bool | None = None

    @property
    def is_connected(self) -> bool:
        return self.status == "connected"

    @property
    def is_windows(self) -> bool:
        return self.platform.lower().startswith("win")

    @classmethod
    def from_api(cls, data: object) -> Connection:
        where = "connection object"
        d = obj(data, where)
        return cls(
            id=req(d, "id", str, where),
            client_id=req(d, "clientId", str, where),
            status=req(d, "status", str, where),
            hostname=req(d, "hostname", str, where),
            ip=req(d, "ip", str, where),
            platform=req(d, "platform", str, where),
            initiated_at=req(d, "initiatedAt", int, where),
            message=opt(d, "message", str, where) or "",
            user_id=opt(d, "userId", str, where),
            persona_id=opt(d, "personaId", int, where),
            session_id=opt(d, "sessionId", str, where),
            eid=opt(d, "eid", str, where),
            connected_at=opt(d, "connectedAt", int, where),
            has_tools=opt(d, "hasTools", bool, where),
        )


@dataclass(frozen=True)
class TaskMetadata:
    """What a file task was asked to fetch."""

    connection: str
    paths: tuple[str, ...]
    compress: str | None = None

    @classmethod
    def from_api(cls, data: object) -> TaskMetadata:
        where = "task metadata"
        d = obj(data, where)
        return cls(
            connection=req(d, "connection", str, where),
            paths=_str_list(d, "paths", where),
            compress=opt(d, "compress", str, where),
        )


@dataclass(frozen=True)
class FileResult:
    """One fetched file of a completed task: its evidence ``uuid`` and transfer facts."""

    uuid: str
    source: str
    total_bytes: int  # the original file's size
    transfer_hash: str  # 64 hex; SHA-256 of the file (INFERRED by the spec)
    target: str | None = None
    final_path: str | None = None
    total_time_ms: int | None = None
    avg_bytes_per_second: float | None = None

    @classmethod
    def from_api(cls, data: object) -> FileResult:
        where = "task fileResults item"
        d = obj(data, where)
        resp = obj(req(d, "response", dict, where), f"{where} response")
        rwhere = f"{where} response"
        avg = opt(resp, "avgBytesPerSecond", (int, float), rwhere)
        return cls(
            uuid=req(d, "uuid", str, where),
            source=req(resp, "source", str, rwhere),
            total_bytes=req(resp, "totalBytes", int, rwhere),
            transfer_hash=req(resp, "transferHash", str, rwhere),
            target=opt(resp, "target", str, rwhere),
            final_path=opt(d, "finalPath", str, where),
            total_time_ms=opt(resp, "totalTimeMs", int, rwhere),
            avg_bytes_per_second=float(avg) if avg is not None else None,
        )


@dataclass(frozen=True)
class TaskResults:
    """Which paths a task fetched, which failed, and the evidence it produced."""

    completed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    file_results: tuple[FileResult, ...] = ()

    @classmethod
    def from_api(cls, data: object) -> TaskResults:
        where = "task results"
        d = obj(data, where)
        raw = opt(d, "fileResults", list, where) or []
        return cls(
            completed=_str_list(d, "completed", where),
            failed=_str_list(d, "failed", where),
            file_results=tuple(FileResult.from_api(item) for item in raw),
        )


@dataclass(frozen=True)
class Task:
    """A ``fileDownload`` task (docs/api.md §5); ``terminal`` once COMPLETED, INCOMPLETE or ERROR."""

    id: int
    status: str
    type: str = "fileDownload"
    metadata: TaskMetadata | None = None
    results: TaskResults = field(default_factory=TaskResults)
    error: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_TASK_STATUSES

    @property
    def evidence_uuid(self) -> str | None:
        """``results.fileResults[0].uuid``, the direct way to the file evidence."""
        return self.results.file_results[0].uuid if self.results.file_results else None

    @classmethod
    def from_api(cls, data: object) -> Task:
        where = "task object"
        d = obj(data, where)
        meta = d.get("metadata")
        results = d.get("results")
        error = d.get("error")
        return cls(
            id=req(d, "id", int, where),
            status=req(d, "status", str, where),
            type=opt(d, "type", str, where) or "fileDownload",
            metadata=TaskMetadata.from_api(meta) if meta is not None else None,
            results=TaskResults.from_api(results) if results is not None else TaskResults(),
            # the API documents a string; keep anything else readable rather than failing a poll
            error=None if error is None else error if isinstance(error, str) else str(error),
            start_time=opt(d, "startTime", str, where),
            end_time=opt(d, "endTime", str, where),
            created_at=opt(d, "createdAt", str, where),
            updated_at=opt(d, "updatedAt", str, where),
        )


@dataclass(frozen=True)
class TaskInfo:
    """The ``taskInfo`` a file request returns: the new task's id, ``STARTED``."""

    id: int
    status: str
    metadata: TaskMetadata | None = None
    start_time: str | None = None

    @classmethod
    def from_api(cls, data: object) -> TaskInfo:
        where = "taskInfo"
        d = obj(data, where)
        meta = d.get("metadata")
        return cls(
            id=req(d, "id", int, where),
            status=req(d, "status", str, where),
            metadata=TaskMetadata.from_api(meta) if meta is not None else None,
            start_time=opt(d, "startTime", str, where),
        )


@dataclass(frozen=True)
class FileRequest:
    """The answer to ``POST /conns/{cid}/file``: ``{"taskInfo": {...}, "status": "ACCEPTED"}``."""

    task_info: TaskInfo
    status: str

    @property
    def task_id(self) -> int:
        return self.task_info.id

    @classmethod
    def from_api(cls, data: object) -> FileRequest:
        where = "file request answer"
        d = obj(data, where)
        return cls(
            task_info=TaskInfo.from_api(req(d, "taskInfo", dict, where)),
            status=req(d, "status", str, where),
        )


@dataclass(frozen=True)
class Evidence:
    """A file evidence item (docs/api.md §6); ``size`` is the original file's size, not the zip's."""

    uuid: str
    hostname: str
    path: str
    size: int
    downloaded: str | None = None
    hash: str | None = None
    evidence_type: str | None = None
    process_creation_time: str | None = None
    last_modified: str | None = None
    created_by: str | None = None
    tags: str | None = None
    comments: str | None = None
    username: str | None = None

    @classmethod
    def from_api(cls, data: object) -> Evidence:
        where = "file evidence"
        d = obj(data, where)
        return cls(
            uuid=req(d, "uuid", str, where),
            hostname=req(d, "hostname", str, where),
            path=req(d, "path", str, where),
            size=req(d, "size", int, where),
            downloaded=opt(d, "downloaded", str, where),
            hash=opt(d, "hash", str, where),
            evidence_type=opt(d, "evidenceType", str, where),
            process_creation_time=opt(d, "process_creation_time", str, where),
            last_modified=opt(d, "last_modified", str, where),
            created_by=opt(d, "created_by", str, where),
            tags=opt(d, "tags", str, where),
            comments=opt(d, "comments", str, where),
            username=opt(d, "username", str, where),
        )


@dataclass(frozen=True)
class EvidencePage:
    """One page of ``GET /filedownload``: ``fileEvidence`` items and the ``totalCount`` of all."""

    file_evidence: tuple[Evidence, ...]
    total_count: int

    @classmethod
    def from_api(cls, data: object) -> EvidencePage:
        where = "file evidence list"
        d = obj(data, where)
        items = req(d, "fileEvidence", list, where)
        return cls(
            file_evidence=tuple(Evidence.from_api(item) for item in items),
            total_count=req(d, "totalCount", int, where),
        )


def _int_field(data: Mapping[str, Any], key: str, where: str) -> int | None:
    """An optional integer field that a client would read with ``int()``: an int, or a string of digits."""
    value = data.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return opt(data, key, int, where)


@dataclass(frozen=True)
class FileInfo:
    """``GET /conns/{cid}/file/info/{path}``: a file on the endpoint. ``raw`` keeps every field of ``info``.

    ``path`` is the file's full path (``canonicalPath``, else ``name``); ``asked_path`` the path as the
    request named it. Dates are epoch **milliseconds** and ``permissions`` the mode bits (438 = 0o666).

    >>> FileInfo.from_api({"cid": "remote:web-01:123:2", "path": "/opt/t.gz", "info": {"name": "/opt/t.gz",
    ...     "canonicalPath": "/opt/t.gz", "permissions": 438, "createdDate": 1631090906852}}).permissions
    438
    """

    path: str
    name: str | None = None
    canonical_path: str | None = None
    size: int | None = None
    type: str | None = None
    permissions: int | None = None
    created_date: int | None = None
    modified_date: int | None = None
    session_id: str | None = None
    cid: str | None = None
    asked_path: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, data: object) -> FileInfo:
        """From the whole answer ``{"sessionId", "cid", "path", "info": {...}}``."""
        answer = obj(data, "file info answer")
        where = "file info"
        d = obj(req(answer, "info", dict, "file info answer"), where)
        canonical = opt(d, "canonicalPath", str, where)
        name = opt(d, "name", str, where)
        asked = opt(answer, "path", str, "file info answer")
        path = canonical or name or asked
        if path is None:
            raise ProtocolError(
                "the server's file info names no path (no canonicalPath, name or path): "
                "the server does not follow the Threat Response API (or this client is out of date)"
            )
        return cls(
            path=path,
            name=name,
            canonical_path=canonical,
            size=opt(d, "size", int, where),
            type=opt(d, "type", str, where),
            permissions=_int_field(d, "permissions", where),
            created_date=_int_field(d, "createdDate", where),
            modified_date=_int_field(d, "modifiedDate", where),
            session_id=opt(answer, "sessionId", str, "file info answer"),
            cid=opt(answer, "cid", str, "file info answer"),
            asked_path=asked,
            raw=dict(d),
        )


@dataclass(frozen=True)
class DirEntry:
    """One entry of ``GET /conns/{cid}/file/list/{path}``: ``name`` is the bare name; types as in FileInfo."""

    name: str
    type: str | None = None
    size: int | None = None
    permissions: int | None = None
    created_date: int | None = None
    modified_date: int | None = None

    @classmethod
    def from_api(cls, data: object) -> DirEntry:
        where = "directory entry"
        d = obj(data, where)
        return cls(
            name=req(d, "name", str, where),
            type=opt(d, "type", str, where),
            size=opt(d, "size", int, where),
            permissions=_int_field(d, "permissions", where),
            created_date=_int_field(d, "createdDate", where),
            modified_date=_int_field(d, "modifiedDate", where),
        )


@dataclass(frozen=True)
class SystemEndpoint:
    """One row of ``GET /api/v2/system_status``; ``computer_id`` is the Threat Response clientId."""

    computer_id: str
    host_name: str
    ipaddress_client: str
    ipaddress_server: str | None = None
    port_number: int | None = None
    status: str | None = None

    @classmethod
    def from_api(cls, data: object) -> SystemEndpoint:
        where = "system_status entry"
        d = obj(data, where)
        port = d.get("port_number")
        return cls(
            computer_id=req(d, "computer_id", str, where),
            host_name=req(d, "host_name", str, where),
            ipaddress_client=req(d, "ipaddress_client", str, where),
            ipaddress_server=opt(d, "ipaddress_server", str, where),
            # Tanium sends the port as a string on some versions and a number on others
            port_number=int(port) if isinstance(port, int | str) and str(port).isdigit() else None,
            status=opt(d, "status", str, where),
        )


__all__ = [
    "TERMINAL_TASK_STATUSES",
    "Connection",
    "DirEntry",
    "Evidence",
    "EvidencePage",
    "FileInfo",
    "FileRequest",
    "FileResult",
    "SystemEndpoint",
    "Task",
    "TaskInfo",
    "TaskMetadata",
    "TaskResults",
]
