"""Conformance: run a recorded session's requests against a target and compare the answers' shapes.

:func:`conform` sends each recorded request, in order, to a target (this simulator in-process, or any
URL) and compares what the target answers with what the recording holds, per operation of
:data:`simulator.operations.OPERATIONS`: the status code, the content type, and the JSON body
structurally (field names, value types, list element shapes, the envelope). Values are never compared:
ids, times and sizes differ from server to server; only their types count.

**Following ids.** The ids a recording uses in later requests (clientIds, connection ids, task ids,
evidence uuids, platform ids, login sessions) were handed out by the recorded server. Each answer is
walked beside the recorded one (:data:`ID_FIELDS` says where each operation hands out which kind of id)
and the recorded id is mapped to the target's, by position: lists pair their items from the end (the
newest items are last in Tanium's lists, and a recorded server may list older items the target never
had), which for lists of equal length is item by item. Later requests then carry the target's ids in
their path parameters, query and JSON body. A clientId the recording never saw listed (a session that
began with ``connect``) is mapped to the target's endpoints in order of first use, unless the target
has that endpoint itself.

**Polling.** A ``GET`` whose answer is not yet in the recorded state (the same status code and the same
values in every ``status`` field) is sent again, after ``poll_interval_s``, up to ``max_polls`` times;
a target that never gets there is a difference (``unreached``). Recorded polls in between (a task
``STARTED`` before ``COMPLETED``) are compared when the target shows the same state; a fast target that
skips them is no difference. Other methods are sent exactly once per recorded exchange.

**Credentials.** Recordings hold placeholders (``<session-1>``) where the credentials were: every
request carries the target's own ``session`` (its API token, or the session a replayed login got), and
a recorded login is replayed with the target's username and password (skipped when they are unknown).

>>> different(value_shape({"id": 1, "tags": []}), value_shape({"id": "1", "tags": [1]}))
[('type', '$.id', 'int', 'str')]
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote, urlencode

import httpx

from simulator.operations import Operation, match_operation
from simulator.record.har import Exchange

DEFAULT_MAX_POLLS = 60
DEFAULT_POLL_INTERVAL_S = 0.5
DEFAULT_ENDPOINTS = 25
# Listing the target's fleet: rows per system_status page (the simulator's default page), and at most
# this many pages (a million endpoints).
TARGET_PAGE_ROWS = 500
MAX_TARGET_PAGES = 2_000
REPORT_FORMAT = "tanium-sim-conformance"
REPORT_VERSION = 1
# JSON answers larger than this are compared by status and content type only (a stray huge listing).
MAX_JSON_BYTES = 64 << 20

Path = tuple[str | None, ...]  # JSON path: keys, None for "any item of a list"

# Where each operation hands out ids, by JSON path ("[]": every item), and which kind each is.
ID_FIELDS: dict[str, dict[str, str]] = {
    "login": {"$.data.session": "session"},
    "login_get": {"$.data.session": "session"},
    "system_status": {"$.data[].computer_id": "client"},
    "dec_endpoints": {"$.data[].clientId": "client"},
    "list_connections": {"$[].id": "connection", "$[].clientId": "client"},
    "get_connection": {"$.id": "connection", "$.clientId": "client"},
    "request_file": {"$.taskInfo.id": "task"},
    "get_task": {"$.data.id": "task", "$.data.results.fileResults[].uuid": "evidence"},
    "list_tasks": {"$.data[].id": "task", "$.data[].results.fileResults[].uuid": "evidence"},
    "list_evidence": {"$.fileEvidence[].uuid": "evidence"},
    "get_evidence": {"$.evidence.uuid": "evidence"},
    "create_question": {"$.data.id": "question"},
    "get_question": {"$.data.id": "question"},
    "create_group": {"$.data.id": "group"},
    "get_group": {"$.data.id": "group"},
    "create_action": {"$.data.id": "action"},
    "get_action": {"$.data.id": "action"},
    "create_saved_action": {"$.data.id": "saved_action"},
}
# The kind of id each path parameter carries (``{id}`` depends on the operation; ``{path:path}``,
# ``{name}``: none).
PARAM_KINDS = {"cid": "connection", "task_id": "task", "uuid": "evidence", "client_id": "client"}
ID_PARAM_KINDS = {
    "get_question": "question",
    "result_info_question": "question",
    "result_data_question": "question",
    "get_group": "group",
    "get_action": "action",
    "result_data_action": "action",
}
# The kind of id a request's JSON body or query field carries, by its key. Other keys that name an id
# (``id``, ``*_id``, ``*Id``) take any kind whose map holds the value, when exactly one does; the
# rest (counts, paths, options) are never rewritten.
BODY_KINDS = {"clientId": "client", "ids": "evidence", "uuid": "evidence", "session": "session"}
_ID_KEY = re.compile(r"(?:^|_)id\Z|Id\Z")
SESSION_OPERATIONS = ("login", "login_get", "validate", "logout", "current")
# Request headers never forwarded: the transport's own, and the recorded credentials.
_DROPPED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "accept-encoding",
        "session",
        "authorization",
        "cookie",
        "proxy-authorization",
        "proxy-connection",
    }
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# --------------------------------------------------------------------------- shapes


def type_name(value: object) -> str:
    """The JSON type of a value: null, bool, int, float, str, list or dict.

    >>> [type_name(v) for v in (None, True, 3, 2.5, "x", [], {})]
    ['null', 'bool', 'int', 'float', 'str', 'list', 'dict']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def json_path(path: Path) -> str:
    """A path as text: ``$.data[].id``; keys that are not identifiers as ``["a-b"]``.

    >>> json_path(("data", None, "id")), json_path((None, "x-y"))
    ('$.data[].id', '$[]["x-y"]')
    """
    out = ["$"]
    for key in path:
        if key is None:
            out.append("[]")
        elif _IDENT.match(key):
            out.append(f".{key}")
        else:
            out.append(f"[{json.dumps(key)}]")
    return "".join(out)


def _aligned(expected: list[Any], got: list[Any]) -> Iterator[tuple[Any, Any]]:
    """Items of two lists paired from their ends (item by item when the lengths are equal)."""
    n = min(len(expected), len(got))
    return zip(expected[len(expected) - n :], got[len(got) - n :], strict=True)


def value_shape(value: Any) -> Any:
    """A JSON value with every scalar replaced by its type name (what a report may show of it).

    >>> value_shape({"id": 7, "tags": ["a"], "error": None})
    {'id': 'int', 'tags': ['str'], 'error': 'null'}
    """
    if isinstance(value, dict):
        return {k: value_shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [value_shape(v) for v in value]
    return type_name(value)


def _shape_type(shape: Any) -> str:
    if isinstance(shape, dict):
        return "dict"
    if isinstance(shape, list):
        return "list"
    return str(shape)


def different(expected: Any, got: Any, path: Path = ()) -> list[tuple[str, str, str, str]]:
    """How shape ``got`` differs from shape ``expected`` (both from :func:`value_shape`).

    Each difference is ``(kind, path, expected, got)``: ``type`` (the types), ``missing`` (a field the
    target left out: its recorded type, and ``absent``) or ``extra`` (a field only the target has).
    Lists compare their items paired from the end; an empty list matches any list.

    >>> different({"a": "int", "b": ["str"]}, {"b": ["int"], "c": "null"})
    [('missing', '$.a', 'int', 'absent'), ('extra', '$.c', 'absent', 'null'), ('type', '$.b[]', 'str', 'int')]
    """
    out: list[tuple[str, str, str, str]] = []
    want, have = _shape_type(expected), _shape_type(got)
    if want != have:
        return [("type", json_path(path), want, have)]
    if isinstance(expected, dict) and isinstance(got, dict):
        out += [
            ("missing", json_path((*path, k)), _shape_type(v), "absent")
            for k, v in expected.items()
            if k not in got
        ]
        out += [
            ("extra", json_path((*path, k)), "absent", _shape_type(v))
            for k, v in got.items()
            if k not in expected
        ]
        for key, value in expected.items():
            if key in got:
                out += different(value, got[key], (*path, key))
    elif isinstance(expected, list) and isinstance(got, list):
        seen: set[tuple[str, str, str, str]] = set()
        for item, other in _aligned(expected, got):
            for diff in different(item, other, (*path, None)):
                if diff not in seen:
                    seen.add(diff)
                    out.append(diff)
    return out


def _leaf_pairs(recorded: Any, target: Any, path: Path = ()) -> Iterator[tuple[Path, Any, Any]]:
    """Scalars found at the same place in both values (lists paired from their ends)."""
    if isinstance(recorded, dict) and isinstance(target, dict):
        for key, value in recorded.items():
            if key in target:
                yield from _leaf_pairs(value, target[key], (*path, key))
    elif isinstance(recorded, list) and isinstance(target, list):
        for item, other in _aligned(recorded, target):
            yield from _leaf_pairs(item, other, (*path, None))
    elif not isinstance(recorded, dict | list) and not isinstance(target, dict | list):
        yield path, recorded, target


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Answer:
    """What one request got: status, content type, and the body as JSON (or its kind)."""

    status: int
    mime: str
    kind: str  # json | empty | text | binary | unknown (a recorded body left out)
    body: Any = None  # the parsed JSON when kind == "json"

    @classmethod
    def parse(cls, status: int, mime: str, body: bytes | None) -> Answer:
        mime = mime.split(";")[0].strip().lower()
        if body is None:
            return cls(status, mime, "unknown")
        if not body.strip():
            return cls(status, mime, "empty")
        if "json" in mime and len(body) <= MAX_JSON_BYTES:
            try:
                return cls(status, mime, "json", json.loads(body))
            except (ValueError, UnicodeDecodeError):
                return cls(status, mime, "text")
        return cls(status, mime, "text" if mime.startswith("text/") else "binary")

    @classmethod
    def of(cls, exchange: Exchange) -> Answer:
        return cls.parse(exchange.status, exchange.mime_type, exchange.response_body)


def _states(recorded: Answer, target: Answer) -> list[tuple[str, str, str]]:
    """Where the target is not in the recorded state: ``(path, recorded, target)`` per ``status`` field."""
    if recorded.status != target.status:
        return [("HTTP status", str(recorded.status), str(target.status))]
    if recorded.kind != "json" or target.kind != "json":
        return []
    return [
        (json_path(path), str(rec), str(tgt))
        for path, rec, tgt in _leaf_pairs(recorded.body, target.body)
        if path and path[-1] == "status" and rec != tgt
    ]


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Difference:
    """One way the target's answers differ from the recording's, for one operation."""

    operation: str
    kind: str  # status | content_type | body | type | missing | extra | unreached | no_answer
    path: str  # JSON path ("" for status, content type and body kind)
    expected: str  # what the recording shows (a status, content type, body kind or type names)
    got: str  # what the target answered
    entries: tuple[int, ...] = ()  # the recorded exchanges (1-based HAR entry numbers) showing it
    polls: int = 0  # unreached: how many times the target was asked

    def describe(self) -> str:
        where = f"{self.path} " if self.path else ""
        if self.kind == "missing":
            text = f"{where}missing in the target (recorded {self.expected})"
        elif self.kind == "extra":
            text = f"{where}only in the target ({self.got}; not in the recording)"
        elif self.kind == "unreached":
            text = (
                f"{where}never reached the recorded state: recorded {self.expected}, "
                f"target still {self.got} after {self.polls} polls"
            )
        else:
            label = {"content_type": "content type", "body": "body", "status": "status"}.get(
                self.kind, "type"
            )
            text = f"{where}{label}: recorded {self.expected}, target {self.got}"
        entries = ", ".join(str(e) for e in self.entries[:5]) + (", ..." if len(self.entries) > 5 else "")
        return f"{text} (entr{'y' if len(self.entries) == 1 else 'ies'} {entries})"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "expected": self.expected,
            "got": self.got,
            "entries": list(self.entries),
            **({"polls": self.polls} if self.kind == "unreached" else {}),
        }


@dataclass
class OperationReport:
    """One operation: how many recorded exchanges it had and its differences."""

    operation: str
    exchanges: int = 0
    requests: int = 0  # requests sent to the target (polls included)
    differences: list[Difference] = field(default_factory=list)

    def add(self, entry: int, kind: str, path: str, expected: str, got: str, *, polls: int = 0) -> None:
        for i, diff in enumerate(self.differences):
            if (diff.kind, diff.path, diff.expected, diff.got) == (kind, path, expected, got):
                if entry not in diff.entries:
                    self.differences[i] = replace(diff, entries=(*diff.entries, entry))
                return
        self.differences.append(Difference(self.operation, kind, path, expected, got, (entry,), polls))


@dataclass(frozen=True)
class Skipped:
    """A recorded exchange conform did not send, and why (a fixed sentence: never a recorded value)."""

    entry: int
    operation: str | None
    reason: str
    request: str = ""  # method and path, for the text report only (never in the JSON one)


@dataclass
class ConformReport:
    """Everything :func:`conform` found; :meth:`to_json` holds shapes only, no recorded values."""

    target: dict[str, Any]
    recorded: int = 0
    operations: dict[str, OperationReport] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def differences(self) -> list[Difference]:
        return [d for op in self.operations.values() for d in op.differences]

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def replayed(self) -> int:
        return sum(op.exchanges for op in self.operations.values())

    def operation(self, name: str) -> OperationReport:
        return self.operations.setdefault(name, OperationReport(name))

    def to_json(self) -> dict[str, Any]:
        """The report to send us: operation names, JSON paths, types, status codes, content types."""
        from simulator import __version__

        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "tool": f"tanium-sim {__version__}",
            "target": self.target,
            "recorded_exchanges": self.recorded,
            "replayed_exchanges": self.replayed,
            "differences": len(self.differences),
            "operations": [
                {
                    "operation": op.operation,
                    "exchanges": op.exchanges,
                    "requests": op.requests,
                    "differences": [d.to_json() for d in op.differences],
                }
                for op in self.operations.values()
            ],
            "skipped": [
                {"entry": s.entry, "operation": s.operation, "reason": s.reason} for s in self.skipped
            ],
        }

    def lines(self) -> list[str]:
        """The report as text, one line per operation, one per difference under it."""
        out = []
        width = max((len(name) for name in self.operations), default=0)
        for op in self.operations.values():
            count = f"{op.exchanges} exchange{'s' if op.exchanges != 1 else ''}"
            verdict = (
                "ok"
                if not op.differences
                else f"{len(op.differences)} difference" + ("s" if len(op.differences) != 1 else "")
            )
            out.append(f"  {op.operation:<{width}}  {count:<13} {verdict}")
            out += [f"      {d.describe()}" for d in op.differences]
        for s in self.skipped:
            what = f" ({s.operation})" if s.operation else ""
            out.append(f"  skipped entry {s.entry}{what}: {s.reason}: {s.request}")
        failing = sum(1 for op in self.operations.values() if op.differences)
        n = len(self.differences)
        out.append(
            f"{n} difference{'s' if n != 1 else ''} in {failing} operation{'s' if failing != 1 else ''}"
            if n
            else f"no differences: {len(self.operations)} operations, {self.replayed} exchanges"
        )
        return out


# --------------------------------------------------------------------------- requests to operations


# --------------------------------------------------------------------------- targets


Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Target:
    """Where the recorded requests go: an httpx client pointed at it, and its credentials."""

    client: httpx.AsyncClient
    token: str
    sleep: Sleep
    username: str | None = None  # for replaying recorded logins (None: they are skipped)
    password: str | None = None
    report: dict[str, Any] = field(default_factory=dict)  # how the JSON report names it (no URL)
    label: str = ""  # how the text report names it


@asynccontextmanager
async def simulator_target(seed: int = 0, endpoints: int = DEFAULT_ENDPOINTS) -> AsyncIterator[Target]:
    """This simulator in-process (no socket) on a manual clock: a wait between polls costs no time."""
    from simulator.app import create_app
    from simulator.clock import ManualClock, VirtualSleep
    from simulator.settings import Settings

    clock = ManualClock()
    sleep = VirtualSleep(clock)
    settings = Settings(seed=seed, endpoints=endpoints, journal=False)
    app = create_app(settings, clock=clock, sleep=sleep)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tanium-sim") as client:
        yield Target(
            client,
            settings.token,
            sleep,
            username=settings.username,
            password=settings.password,
            report={"kind": "simulator", "seed": seed, "endpoints": endpoints},
            label=f"the simulator in-process (seed {seed}, {endpoints} endpoints)",
        )


@asynccontextmanager
async def url_target(
    url: str,
    token: str,
    *,
    username: str | None = None,
    password: str | None = None,
    verify: Any = True,
    timeout_s: float = 60.0,
) -> AsyncIterator[Target]:
    """Any server at ``url`` (a running simulator, a Tanium): real waits between polls."""
    import asyncio

    async with httpx.AsyncClient(base_url=url.rstrip("/"), verify=verify, timeout=timeout_s) as client:
        yield Target(
            client,
            token,
            asyncio.sleep,
            username=username,
            password=password,
            report={"kind": "url"},
            label=url,
        )


def recorded_fleet_size(exchanges: Sequence[Exchange]) -> int | None:
    """The recorded server's fleet size, from its ``system_status`` (cache row count, else rows) or
    ``dec_endpoints`` answers (offset + rows); None when the recording has neither.
    """
    sizes: list[int] = []
    for exchange in exchanges:
        found = match_operation(exchange.method, exchange.path)
        if found is None or exchange.status != 200:
            continue
        answer = Answer.of(exchange)
        rows = answer.body.get("data") if answer.kind == "json" and isinstance(answer.body, dict) else None
        if not isinstance(rows, list):
            continue
        if found[0].name == "system_status":
            cached = [r["cache_row_count"] for r in rows if isinstance(r, dict) and "cache_row_count" in r]
            if cached and isinstance(cached[-1], int):
                sizes.append(cached[-1])
                continue
            options = _json_object(exchange.header("tanium-options", response=False) or "")
            start = options.get("row_start", 0)
            counted = sum(1 for r in rows if isinstance(r, dict) and "computer_id" in r)
            sizes.append((start if isinstance(start, int) else 0) + counted)
        elif found[0].name == "dec_endpoints":
            offset = dict(exchange.query).get("offset", "0")
            sizes.append((int(offset) if offset.isdigit() else 0) + len(rows))
    return max(sizes) if sizes else None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- the replay


class _Replay:
    """One run of a recording against a target: the id maps and the report."""

    def __init__(self, target: Target, report: ConformReport, max_polls: int, poll_interval_s: float) -> None:
        self.target = target
        self.report = report
        self.max_polls = max(1, max_polls)
        self.poll_interval_s = poll_interval_s
        self.ids: dict[str, dict[str, str]] = {}  # kind -> recorded id -> the target's
        self._target_clients: list[str] | None = None

    # -- ids ------------------------------------------------------------------------------------
    def learn(self, operation: str, recorded: Answer, target: Answer) -> None:
        """Map the ids the recorded answer handed out to the target's, where :data:`ID_FIELDS` says."""
        fields = ID_FIELDS.get(operation)
        if not fields or recorded.kind != "json" or target.kind != "json":
            return
        for path, rec, tgt in _leaf_pairs(recorded.body, target.body):
            kind = fields.get(json_path(path))
            if kind and rec is not None and tgt is not None:
                self.ids.setdefault(kind, {})[str(rec)] = str(tgt)

    def lookup(self, value: str, kind: str | None) -> str | None:
        """The target's id for a recorded one (of ``kind``, or of the only kind that maps it)."""
        if kind is not None:
            return self.ids.get(kind, {}).get(value)
        found = {ids[value] for ids in self.ids.values() if value in ids}
        return found.pop() if len(found) == 1 else None

    async def client_id(self, value: str) -> str:
        """A recorded clientId as the target knows it (mapped by order of first use when unseen)."""
        mapped = self.lookup(value, "client")
        if mapped is not None:
            return mapped
        if self._target_clients is None:
            self._target_clients = await self._list_target_clients()
        clients = self.ids.setdefault("client", {})
        if value in self._target_clients or not self._target_clients:
            clients[value] = value
            return value
        taken = set(clients.values())
        free = [c for c in self._target_clients if c not in taken]
        clients[value] = free[0] if free else value
        return clients[value]

    async def _list_target_clients(self) -> list[str]:
        """Every clientId the target's ``system_status`` lists, page by page: ``tanium-options``
        ``row_start``/``row_count`` (and the ``cache_id`` its first page named), until the cache-info
        element's ``filtered_row_count`` is reached (simulator/api/platform.py pages the same way: a
        request without options gets only the first page). A page that fails ends the listing."""
        clients: list[str] = []
        seen: set[str] = set()
        options: dict[str, Any] = {"row_start": 0, "row_count": TARGET_PAGE_ROWS}
        for _ in range(MAX_TARGET_PAGES):
            headers = {"session": self.target.token, "tanium-options": json.dumps(options)}
            try:
                r = await self.target.client.get("/api/v2/system_status", headers=headers)
                rows = r.json().get("data", []) if r.status_code == 200 else []
            except (httpx.HTTPError, ValueError, AttributeError):
                break
            if not isinstance(rows, list):
                break
            page = [str(row["computer_id"]) for row in rows if isinstance(row, dict) and "computer_id" in row]
            fresh = [c for c in page if c not in seen]
            if not fresh:  # an empty page, or a server that ignores row_start: the listing is complete
                break
            clients += fresh
            seen.update(fresh)
            info = next((row for row in reversed(rows) if isinstance(row, dict) and "cache_id" in row), {})
            total = info.get("filtered_row_count")
            options["row_start"] += len(page)
            if isinstance(info.get("cache_id"), int):
                options["cache_id"] = info["cache_id"]
            if not isinstance(total, int) or options["row_start"] >= total:
                break
        return clients

    async def _body(self, value: Any, key: str | None = None) -> Any:
        """A recorded JSON request body with the target's ids in it."""
        if isinstance(value, dict):
            return {k: await self._body(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [await self._body(v, key) for v in value]
        if isinstance(value, str | int) and not isinstance(value, bool):
            mapped = await self._field(key or "", str(value))
            if mapped is not None and mapped != str(value):
                return int(mapped) if isinstance(value, int) and mapped.isdigit() else mapped
        return value

    async def _field(self, key: str, value: str) -> str | None:
        """The target's id for the value of a body or query field ``key``; None: leave it as it is."""
        kind = BODY_KINDS.get(key)
        if kind == "client":
            return await self.client_id(value)
        if kind is None and not _ID_KEY.search(key):
            return None
        return self.lookup(value, kind)

    # -- one request ----------------------------------------------------------------------------
    async def request(
        self, exchange: Exchange, op: Operation, found: re.Match[str]
    ) -> httpx.Request | Skipped:
        """The request to send for a recorded exchange (ids, credentials) or why it is not sent."""
        path = exchange.path
        for name in reversed(list(found.re.groupindex)):  # right to left: earlier spans stay valid
            kind = PARAM_KINDS.get(name) or (ID_PARAM_KINDS.get(op.name) if name == "id" else None)
            if kind is None:
                continue
            raw = found[name]
            mapped = (
                await self.client_id(unquote(raw)) if kind == "client" else self.lookup(unquote(raw), kind)
            )
            if mapped is not None and mapped != unquote(raw):
                start, end = found.span(name)
                path = path[:start] + quote(mapped, safe=":") + path[end:]
        query = []
        for key, value in exchange.query:
            mapped = await self._field(key, value)
            query.append((key, mapped if mapped is not None else value))
        headers = [(k, v) for k, v in exchange.request_headers if k.lower() not in _DROPPED_HEADERS]
        recorded_session = exchange.header("session", response=False)
        session = self.lookup(recorded_session, "session") if recorded_session else None
        if op.name in ("login", "login_get"):
            if self.target.username is None or self.target.password is None:
                return Skipped(
                    0, op.name, "a login, and the target's username and password are not known", ""
                )
            credentials = {"username": self.target.username, "password": self.target.password}
            query = [(k, credentials.get(k, v)) for k, v in query if not (k == "domain" and _placeholder(v))]
        elif op.auth or recorded_session:
            headers.append(("session", session or self.target.token))
        content = exchange.request_body
        if content and ("json" in (exchange.header("content-type", response=False) or "json")):
            try:
                body = json.loads(content)
            except (ValueError, UnicodeDecodeError):
                body = None
            if body is not None:
                new = await self._body(body)
                if op.name == "login" and isinstance(new, dict):
                    new.update(username=self.target.username, password=self.target.password)
                    if _placeholder(new.get("domain")):  # the recording's <redacted>: the target's default
                        del new["domain"]
                elif op.name in ("validate", "logout") and isinstance(new, dict):
                    mine = self.lookup(str(body.get("session")), "session")
                    if op.name == "logout" and mine is None:
                        return Skipped(0, op.name, "a logout of a session conform did not open", "")
                    new["session"] = mine or self.target.token
                if new != body:
                    content = json.dumps(new, separators=(",", ":")).encode()
        url = path + (f"?{urlencode(query)}" if query else "")
        return self.target.client.build_request(
            exchange.method, url, headers=headers, content=content or None
        )

    async def send(self, request: httpx.Request) -> Answer | str:
        """The target's answer, or the name of the transport error it ended with."""
        try:
            response = await self.target.client.send(request, stream=True)
        except httpx.ConnectError:
            raise
        except httpx.HTTPError as exc:
            return type(exc).__name__
        try:
            mime = response.headers.get("content-type", "")
            textual = "json" in mime or mime.startswith("text/")
            if textual:
                body = await response.aread()
            else:  # a download: its first bytes tell its kind, the rest need not travel
                body = b""
                async for chunk in response.aiter_raw():
                    body = chunk
                    if body:
                        break
        except httpx.HTTPError as exc:
            return type(exc).__name__
        finally:
            await response.aclose()
        return Answer.parse(response.status_code, mime, body)

    # -- comparison -----------------------------------------------------------------------------
    def compare(self, entry: int, op: str, recorded: Answer, target: Answer) -> None:
        report = self.report.operation(op)
        if recorded.status != target.status:
            report.add(entry, "status", "", str(recorded.status), str(target.status))
            return  # an error answer's body says nothing about the success shape
        if recorded.mime != target.mime:
            report.add(entry, "content_type", "", recorded.mime or "none", target.mime or "none")
        if recorded.kind == "unknown":
            return
        if recorded.kind != target.kind:
            report.add(entry, "body", "", recorded.kind, target.kind)
        elif recorded.kind == "json":
            for kind, path, want, have in different(value_shape(recorded.body), value_shape(target.body)):
                report.add(entry, kind, path, want, have)

    async def replay(self, group: list[tuple[int, Exchange]], op: Operation, found: re.Match[str]) -> None:
        """One recorded exchange, or a run of identical recorded GETs (polls), against the target."""
        report = self.report.operation(op.name)
        report.exchanges += len(group)
        entry, last = group[-1]
        built = await self.request(last, op, found)
        if isinstance(built, Skipped):
            report.exchanges -= len(group)
            if not report.exchanges and not report.differences:
                del self.report.operations[op.name]
            request = f"{last.method} {last.path}"
            self.report.skipped += [Skipped(e, op.name, built.reason, request) for e, _ in group]
            return
        recorded = [(e, Answer.of(x)) for e, x in group]
        if op.method != "GET":  # never grouped, never repeated: one request per recorded exchange
            once = await self.send(built)
            report.requests += 1
            if isinstance(once, str):
                report.add(entry, "no_answer", "", str(recorded[0][1].status), once)
            else:
                self.compare(entry, op.name, recorded[0][1], once)
                self.learn(op.name, recorded[0][1], once)
            return
        terminal = recorded[-1][1]
        compared: set[int] = set()
        got: Answer | str = "no request sent"
        for poll in range(self.max_polls):
            if poll:
                await self.target.sleep(self.poll_interval_s)
                built = await self.request(last, op, found)  # ids learnt meanwhile
                assert not isinstance(built, Skipped)
            got = await self.send(built)
            report.requests += 1
            if isinstance(got, str):
                break
            for e, answer in recorded:
                if e not in compared and not _states(answer, got):
                    compared.add(e)
                    self.compare(e, op.name, answer, got)
                    self.learn(op.name, answer, got)
            if not _states(terminal, got):
                return
        if isinstance(got, str):
            report.add(entry, "no_answer", "", str(terminal.status), got)
            return
        for path, want, have in _states(terminal, got):
            if path == "HTTP status":
                report.add(entry, "status", "", want, have)
            else:
                report.add(entry, "unreached", path, want, have, polls=self.max_polls)


def _placeholder(value: object) -> bool:
    """A sanitized recording's stand-in for a credential (``<redacted>``, ``<session-1>``)."""
    return isinstance(value, str) and value.startswith("<") and value.endswith(">")


def _groups(exchanges: Sequence[Exchange]) -> Iterator[list[tuple[int, Exchange]]]:
    """Recorded exchanges in runs: identical consecutive GETs (polls) together, everything else alone."""
    run: list[tuple[int, Exchange]] = []
    for number, exchange in enumerate(exchanges, start=1):
        if run:
            first = run[-1][1]
            same = (exchange.method, exchange.url, exchange.request_body) == (
                first.method,
                first.url,
                first.request_body,
            )
            if exchange.method == "GET" and same:
                run.append((number, exchange))
                continue
            yield run
        run = [(number, exchange)]
    if run:
        yield run


async def conform(
    exchanges: Sequence[Exchange],
    target: Target,
    *,
    max_polls: int = DEFAULT_MAX_POLLS,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
) -> ConformReport:
    """Run the recorded requests against ``target`` in order and report how its answers differ.

    Not sent (listed in ``report.skipped``): exchanges the recording holds no answer for, requests that
    are no operation of the table, the simulator's own control routes (``/_sim/``), and logins or
    logouts the target's credentials cannot stand in for. ``httpx.ConnectError`` propagates: a target
    that cannot be reached is no conformance result.
    """
    report = ConformReport(target=dict(target.report), recorded=len(exchanges))
    replay = _Replay(target, report, max_polls, poll_interval_s)
    for group in _groups(exchanges):
        exchange = group[0][1]
        request = f"{exchange.method} {exchange.path}"
        found = match_operation(exchange.method, exchange.path)
        if exchange.status == 0:
            reason = "the recording holds no answer (the recorded server reset or hung)"
            report.skipped += [
                Skipped(e, found[0].name if found else None, reason, request) for e, _ in group
            ]
        elif found is None:
            reason = "not an operation of the Tanium API this simulator knows (simulator/operations.py)"
            report.skipped += [Skipped(e, None, reason, request) for e, _ in group]
        elif found[0].control:
            reason = "a control route of the simulator (/_sim/), not part of the Tanium API"
            report.skipped += [Skipped(e, found[0].name, reason, request) for e, _ in group]
        else:
            await replay.replay(group, found[0], found[1])
    return report


__all__ = [
    "DEFAULT_ENDPOINTS",
    "DEFAULT_MAX_POLLS",
    "DEFAULT_POLL_INTERVAL_S",
    "ID_FIELDS",
    "Answer",
    "ConformReport",
    "Difference",
    "OperationReport",
    "Skipped",
    "Target",
    "conform",
    "different",
    "json_path",
    "match_operation",
    "recorded_fleet_size",
    "simulator_target",
    "type_name",
    "url_target",
    "value_shape",
]
