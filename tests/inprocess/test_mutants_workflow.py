"""Tests that kill mutmut's survivors in client/_workflow.py (docs/testing.md, "Mutation testing").

The workflow runs against a scripted in-memory client (no HTTP): each test sets what every call
answers or raises and then checks the exact calls, timings, warnings and messages.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from client._errors import (
    BadRequest,
    ConnectError,
    ConnectionAmbiguous,
    ConnectionTimedOut,
    EvidenceMissing,
    IntegrityError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    TaniumError,
    TaskFailed,
    TimeoutError_,
    TransportError,
)
from client._models import Connection, Evidence, FileRequest, Task
from client._retry import AttemptLog, note_attempt
from client._retry_log import record_retries
from client._workflow import (
    EVIDENCE_PASSWORD,
    LINUX_TRACE_PATH,
    WINDOWS_TRACE_PATH,
    CollectResult,
    EvidenceWorkflow,
    PollPolicy,
    ZipMember,
    _claims,
    _may_have_acted,
    collect_trace,
    default_trace_path,
    extract_evidence_member,
)
from tests.inprocess.tanium_fakes import (
    CLIENT_ID,
    CONN_ID,
    TRACE,
    UUID,
    FakeClock,
    conn,
    evidence,
    task,
    zipcrypto_zip,
)
from tests.inprocess.tanium_fakes import evidence_zip as make_zip

pytestmark = pytest.mark.anyio
POLL = PollPolicy(interval_s=1.0, max_interval_s=4.0, multiplier=2.0)
SHA = hashlib.sha256(TRACE).hexdigest()


def C(status: str, **kw: Any) -> Connection:
    return Connection.from_api(conn(status, **kw))


def T(status: str, **kw: Any) -> Task:
    return Task.from_api(task(status, **kw)["data"])


def E(**kw: Any) -> Evidence:
    return Evidence.from_api(evidence(**kw))


class Fake:
    """A duck-typed AsyncTaniumClient; every list is consumed one item per call, the last repeats."""

    def __init__(self, tmp: Path | None = None) -> None:
        self.conns: list[Any] = [[], [C("waiting")], [C("connected")]]
        self.connect_answer: Any = f"remote:undefined:{CLIENT_ID}:"
        self.file_answer: Any = FileRequest.from_api(
            {"taskInfo": {"id": 833, "status": "STARTED"}, "status": "ACCEPTED"}
        )
        self.tasks: list[Any] = [T("STARTED", uuid=None), T("COMPLETED")]
        self.task_list: Any = []
        self.evidence: Any = [E()]
        self.zips: list[Any] = [make_zip("trace.cst.gz", TRACE)]
        self.close_result: Any = None
        self.delete_result: Any = None
        self.calls: list[tuple[Any, ...]] = []
        self.on_connect: Any = None

    @staticmethod
    def _next(queue: list[Any]) -> Any:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, BaseException):
            raise item
        return item

    async def list_connections(self) -> list[Connection]:
        self.calls.append(("list_connections",))
        return list(self._next(self.conns))

    async def connect(self, client_id: str) -> str:
        self.calls.append(("connect", client_id))
        if self.on_connect is not None:
            self.on_connect()
        if isinstance(self.connect_answer, BaseException):
            raise self.connect_answer
        return str(self.connect_answer)

    async def request_file(self, connection_id: str, path: str) -> FileRequest:
        self.calls.append(("request_file", connection_id, path))
        if isinstance(self.file_answer, BaseException):
            raise self.file_answer
        return self.file_answer  # type: ignore[no-any-return]

    async def get_task(self, task_id: int) -> Task:
        self.calls.append(("get_task", task_id))
        return self._next(self.tasks)  # type: ignore[no-any-return]

    async def list_tasks(self) -> list[Task]:
        self.calls.append(("list_tasks",))
        if isinstance(self.task_list, BaseException):
            raise self.task_list
        return list(self.task_list)

    async def iter_evidence(self) -> AsyncIterator[Evidence]:
        self.calls.append(("iter_evidence",))
        if isinstance(self.evidence, BaseException):
            raise self.evidence
        for item in self.evidence:
            yield item

    async def download_evidence(self, uuid: str, dest: Path) -> int:
        self.calls.append(("download_evidence", uuid, dest.name))
        data = self._next(self.zips)
        await asyncio.to_thread(dest.write_bytes, data)
        return len(data)

    async def close_connection(self, connection_id: str) -> None:
        self.calls.append(("close_connection", connection_id))
        if isinstance(self.close_result, BaseException):
            raise self.close_result

    async def delete_evidence(self, ids: list[str]) -> None:
        self.calls.append(("delete_evidence", list(ids)))
        if isinstance(self.delete_result, BaseException):
            raise self.delete_result

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]


def listing(folder: Path) -> list[str]:
    """The names in ``folder``, sorted (temporary files start with a dot)."""
    return sorted(p.name for p in folder.iterdir())


async def go(fake: Fake, dest: Path, clock: FakeClock | None = None, **kw: Any) -> CollectResult:
    clock = clock or FakeClock()
    options: dict[str, Any] = {"deadline_s": 60.0, "poll": POLL, "clock": clock, "sleep": clock.sleep}
    options.update(kw)
    return await collect_trace(fake, CLIENT_ID, dest=dest, **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- small pieces


def test_constants_and_default_paths() -> None:
    assert LINUX_TRACE_PATH == "/opt/cryptosense/traces/trace.cst.gz"
    assert WINDOWS_TRACE_PATH == "C:\\ProgramData\\Cryptosense\\traces\\trace.cst.gz"
    assert EVIDENCE_PASSWORD == b"infected"
    assert default_trace_path("Windows") == WINDOWS_TRACE_PATH
    assert default_trace_path("WIN32") == WINDOWS_TRACE_PATH
    assert default_trace_path("Linux") == LINUX_TRACE_PATH
    assert default_trace_path("darwin") == LINUX_TRACE_PATH


def test_poll_policy_defaults_and_growth() -> None:
    policy = PollPolicy()
    assert (policy.interval_s, policy.max_interval_s, policy.multiplier) == (2.0, 30.0, 1.5)
    it = PollPolicy(1.0, 4.0, 2.0).intervals()
    assert [next(it) for _ in range(5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    it = PollPolicy().intervals()
    assert [next(it) for _ in range(3)] == [2.0, 3.0, 4.5]


def test_collect_result_to_dict() -> None:
    result = CollectResult(
        client_id="1",
        hostname="h",
        platform="Linux",
        connection_id="c",
        task_id=9,
        evidence_uuid="u",
        remote_path="/p",
        trace_path=Path("out/1.cst.gz"),
        bytes=10,
        sha256="ab",
        zip_bytes=20,
        timings={"total_s": 1.5},
        warnings=("w",),
    )
    assert result.to_dict() == {
        "client_id": "1",
        "hostname": "h",
        "platform": "Linux",
        "connection_id": "c",
        "task_id": 9,
        "evidence_uuid": "u",
        "remote_path": "/p",
        "trace_path": "out/1.cst.gz",
        "bytes": 10,
        "sha256": "ab",
        "zip_bytes": 20,
        "timings": {"total_s": 1.5},
        "warnings": ["w"],
    }
    bare = CollectResult("1", "h", "L", "c", 9, "u", "/p", Path("x"), 1, "s", 2)
    assert bare.timings == {} and bare.warnings == ()


def test_extract_member(tmp_path: Path) -> None:
    zip_path = tmp_path / "e.zip"
    zip_path.write_bytes(make_zip("trace.cst.gz", TRACE))
    out = tmp_path / "out"
    member = extract_evidence_member(zip_path, out)
    assert member == ZipMember("trace.cst.gz", len(TRACE), SHA)
    assert out.read_bytes() == TRACE


def test_extract_member_large_and_non_utf8_name(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000  # more than one 64 KiB read
    zip_path = tmp_path / "e.zip"
    zip_path.write_bytes(
        zipcrypto_zip({"n\udcff".encode("utf-8", "surrogateescape").decode("latin-1"): data})
    )
    member = extract_evidence_member(zip_path, tmp_path / "out")
    assert member.size == len(data) and member.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "out").read_bytes() == data


def test_extract_member_errors(tmp_path: Path) -> None:
    zip_path = tmp_path / "e.zip"
    zip_path.write_bytes(zipcrypto_zip({"a": b"one", "b": b"two"}))
    with pytest.raises(IntegrityError) as caught:
        extract_evidence_member(zip_path, tmp_path / "out")
    assert str(caught.value) == (
        "the evidence zip holds 2 members instead of one: the server packed the evidence wrongly; "
        "collect the endpoint again"
    )
    assert (tmp_path / "out").read_bytes() == b"one"  # only the first member is written
    zip_path.write_bytes(zipcrypto_zip({"a": b"one"}, password=b"wrong"))
    with pytest.raises(IntegrityError) as caught:
        extract_evidence_member(zip_path, tmp_path / "out")
    assert str(caught.value).startswith("the evidence zip is not readable (")
    assert str(caught.value).endswith(
        "): the download was truncated or corrupted; collect the endpoint again"
    )
    assert isinstance(caught.value.__cause__, Exception)
    zip_path.write_bytes(zipcrypto_zip({"a": b"one"}, password=b"wrong"))
    member = extract_evidence_member(zip_path, tmp_path / "o2", password=b"wrong")
    assert member.size == 3
    zip_path.write_bytes(b"")
    with pytest.raises(IntegrityError, match=r"^the evidence zip is not readable \(TruncatedDataError: \): "):
        extract_evidence_member(zip_path, tmp_path / "out")
    zip_path.write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(IntegrityError, match="holds 0 members"):
        extract_evidence_member(zip_path, tmp_path / "out")


def test_may_have_acted() -> None:
    clean = AttemptLog()
    assert _may_have_acted(AttemptLog(failures=["ambiguous"]), None)
    assert _may_have_acted(AttemptLog(failures=["ambiguous"]), BadRequest(400, "x"))
    assert not _may_have_acted(clean, None)
    assert not _may_have_acted(clean, BadRequest(400, "x"))
    assert not _may_have_acted(clean, RateLimited(429, "x"))
    assert not _may_have_acted(clean, NotFound(404, "x"))
    assert not _may_have_acted(clean, BadRequest(499, "x"))
    assert _may_have_acted(clean, ServerError(500, "x"))
    assert not _may_have_acted(clean, ServerError(503, "x"))
    assert _may_have_acted(clean, BadRequest(399, "x"))
    assert not _may_have_acted(clean, ConnectError("x"))
    assert _may_have_acted(clean, TransportError("x"))
    assert _may_have_acted(clean, ProtocolError("x"))
    assert _may_have_acted(clean, asyncio.CancelledError())


def test_claims_per_client() -> None:
    a, b = Fake(), Fake()
    assert _claims(a) is _claims(a)
    assert _claims(a) is not _claims(b)
    claims = _claims(a)
    assert claims.lock("1") is claims.lock("1")
    assert claims.lock("1") is not claims.lock("2")
    assert claims.held == set()


# --------------------------------------------------------------------------- the happy path


async def test_happy_path_calls_timings_and_result(tmp_path: Path) -> None:
    fake = Fake()
    clock = FakeClock()
    result = await go(fake, tmp_path, clock)
    assert fake.calls == [
        ("list_connections",),
        ("connect", CLIENT_ID),
        ("list_connections",),
        ("list_connections",),
        ("request_file", CONN_ID, LINUX_TRACE_PATH),
        ("get_task", 833),
        ("get_task", 833),
        ("close_connection", CONN_ID),
        ("download_evidence", UUID, f".{CLIENT_ID}.{UUID}.zip.part"),
        ("delete_evidence", [UUID]),
    ]
    assert clock.sleeps == [1.0, 1.0]
    assert result.timings == {"connect_s": 1.0, "task_s": 1.0, "download_s": 0.0, "total_s": 2.0}
    assert result.client_id == CLIENT_ID and result.connection_id == CONN_ID
    assert result.hostname == "web-01" and result.platform == "Linux"
    assert result.task_id == 833 and result.evidence_uuid == UUID
    assert result.remote_path == LINUX_TRACE_PATH
    assert result.trace_path == tmp_path / f"{CLIENT_ID}.cst.gz"
    assert result.trace_path.read_bytes() == TRACE
    assert result.bytes == len(TRACE) and result.sha256 == SHA
    assert result.zip_bytes == len(make_zip("trace.cst.gz", TRACE))
    assert result.warnings == ()
    assert listing(tmp_path) == [f"{CLIENT_ID}.cst.gz"]
    assert _claims(fake).held == set()  # type: ignore[arg-type]


async def test_out_name_path_and_windows(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected", platform="Windows")]]
    result = await go(fake, tmp_path / "sub", out_name="x.gz")
    assert result.trace_path == tmp_path / "sub" / "x.gz" and result.trace_path.exists()
    assert fake.named("request_file") == [("request_file", CONN_ID, WINDOWS_TRACE_PATH)]
    fake = Fake()
    result = await go(fake, tmp_path, path="/tmp/t.gz")
    assert fake.named("request_file") == [("request_file", CONN_ID, "/tmp/t.gz")]
    assert result.remote_path == "/tmp/t.gz"


async def test_the_connect_answer_is_followed_if_listed(tmp_path: Path) -> None:
    fake = Fake()
    fake.connect_answer = "remote:mine"
    # Two new ones: the answer names one, so it is no ambiguity.
    fake.conns = [[], [C("connected", id="remote:other"), C("connected", id="remote:mine")]]
    result = await go(fake, tmp_path)
    assert result.connection_id == "remote:mine"
    assert fake.named("close_connection") == [("close_connection", "remote:mine")]


async def test_other_endpoints_and_old_connections_are_not_ours(tmp_path: Path) -> None:
    fake = Fake()
    old = C("connected", id="old")
    fake.conns = [
        [old, C("connected", id="x", client_id="999")],
        [old, C("connected", id="x", client_id="999"), C("connected")],
    ]
    result = await go(fake, tmp_path)
    assert result.connection_id == CONN_ID


async def test_once_known_the_connection_is_followed_by_id(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [
        [],
        [C("waiting")],
        [C("waiting"), C("connected", id="late", initiated_at=1_800_000_000_000)],
        [C("connected"), C("connected", id="late", initiated_at=1_800_000_000_000)],
    ]
    clock = FakeClock()
    result = await go(fake, tmp_path, clock)
    assert result.connection_id == CONN_ID
    assert clock.sleeps[:2] == [1.0, 2.0]


async def test_two_new_connections_are_ambiguous(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("waiting", id="b"), C("waiting", id="a")]]
    with pytest.raises(ConnectionAmbiguous) as caught:
        await go(fake, tmp_path)
    assert str(caught.value) == (
        f"2 new connections to endpoint {CLIENT_ID} appeared after our connect (a, b) and its answer "
        f"'remote:undefined:{CLIENT_ID}:' names none of them: another client connected the endpoint at "
        "the same time; none was closed (ours times out when idle); collect the endpoint again, one "
        "collector at a time"
    )
    assert fake.named("close_connection") == []


async def test_an_unsure_connect_takes_the_newest_and_closes_the_others(tmp_path: Path) -> None:
    fake = Fake()
    fake.on_connect = lambda: note_attempt(TransportError("reset"))  # as a retrying policy would
    newer = C("connected", id="newer", initiated_at=1_700_000_000_500)
    older = C("connected", id="older", initiated_at=1_700_000_000_000)
    same = C("connected", id="same", initiated_at=1_700_000_000_500)
    fake.conns = [[], [older, newer, same]]
    result = await go(fake, tmp_path)
    assert result.connection_id == "same"  # the newest; of equals, the one listed last
    closed = [c[1] for c in fake.named("close_connection")]
    assert closed == ["same", "older", "newer"]


# --------------------------------------------------------------------------- waiting


@pytest.mark.parametrize("status", ["timeout", "disconnected"])
async def test_connection_that_ends_is_a_timeout(tmp_path: Path, status: str) -> None:
    fake = Fake()
    fake.conns = [[], [C(status)]]
    with pytest.raises(ConnectionTimedOut) as caught:
        await go(fake, tmp_path)
    assert str(caught.value) == (
        f"endpoint {CLIENT_ID} did not connect (status {status}: no message): check that it is online "
        "and runs the Threat Response agent, then collect it again"
    )
    assert fake.named("close_connection") == []
    assert fake.named("list_tasks") == []  # no file was requested: no duplicate task to hunt


async def test_connection_message_is_quoted(tmp_path: Path) -> None:
    fake = Fake()
    body = conn("timeout")
    body["message"] = "agent offline"
    fake.conns = [[], [Connection.from_api(body)]]
    with pytest.raises(ConnectionTimedOut, match=r"\(status timeout: agent offline\)"):
        await go(fake, tmp_path)


async def test_connect_deadline(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("waiting")]]
    clock = FakeClock()
    with pytest.raises(ConnectionTimedOut) as caught:
        await go(fake, tmp_path, clock, deadline_s=10.0)
    assert str(caught.value) == (
        f"endpoint {CLIENT_ID} did not connect within 10 s (last status: waiting): check that it is "
        "online, or allow a longer timeout"
    )
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]
    assert clock.now == 10.0
    assert fake.named("close_connection") == [("close_connection", CONN_ID)]


async def test_connect_deadline_never_listed(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[]]
    with pytest.raises(ConnectionTimedOut, match=r"within 2.5 s \(last status: not listed\)"):
        await go(fake, tmp_path, deadline_s=2.5)


async def test_task_deadline_and_statuses(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("STARTED", uuid=None)]
    clock = FakeClock()
    with pytest.raises(TaskFailed) as caught:
        await go(fake, tmp_path, clock, deadline_s=5.0)
    assert str(caught.value) == (
        "file task 833 did not end within 5 s (last status STARTED): the endpoint may be slow or busy; "
        "allow a longer timeout"
    )
    assert clock.sleeps[:3] == [1.0, 2.0, 2.0]


async def test_task_error_detail(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("ERROR", error="no such file")]
    with pytest.raises(TaskFailed) as caught:
        await go(fake, tmp_path)
    assert str(caught.value) == (
        f"file task 833 for {LINUX_TRACE_PATH} ended ERROR (no such file): check that the trace exists "
        "on the endpoint (or pass --trace-path)"
    )
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("ERROR")]
    with pytest.raises(TaskFailed, match=rf"ended ERROR \({LINUX_TRACE_PATH}\)"):
        await go(fake, tmp_path)
    bare = T("ERROR")
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [replace(bare, results=type(bare.results)())]
    with pytest.raises(TaskFailed, match=r"ended ERROR \(no details\)"):
        await go(fake, tmp_path)


async def test_incomplete_task_evidence_is_deleted(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("INCOMPLETE")]
    with pytest.raises(TaskFailed):
        await go(fake, tmp_path)
    assert fake.named("delete_evidence") == [("delete_evidence", [UUID])]
    assert fake.named("iter_evidence") == []


# --------------------------------------------------------------------------- evidence and download


async def test_evidence_found_through_the_list(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("COMPLETED", uuid=None)]
    fake.evidence = [
        E(uuid="other-host", hostname="db-02"),
        E(uuid="other-path", path="/x"),
        E(uuid="old", downloaded="2022-01-01T00:00:00Z"),
        E(uuid=UUID, downloaded="2022-02-01T00:00:00Z"),
        E(uuid="older", downloaded="2021-01-01T00:00:00Z"),
    ]
    result = await go(fake, tmp_path)
    assert result.evidence_uuid == UUID
    assert fake.named("delete_evidence") == [("delete_evidence", [UUID])]


async def test_no_evidence_is_evidence_missing(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("COMPLETED", uuid=None)]
    fake.evidence = [E(hostname="db-02")]
    with pytest.raises(EvidenceMissing) as caught:
        await go(fake, tmp_path)
    assert str(caught.value) == (
        f"task 833 for {LINUX_TRACE_PATH} on web-01 completed but no file evidence names that path and "
        "host: check the evidence list in Threat Response"
    )
    assert fake.named("close_connection") == [("close_connection", CONN_ID)]
    # cleanup knows the task completed: it does not poll it again, it only searches the list again
    assert fake.named("get_task") == [("get_task", 833)]
    assert fake.named("iter_evidence") == [("iter_evidence",)] * 2


async def test_size_mismatch_is_fetched_again_then_fails(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.zips = [make_zip("t", TRACE + b"x")]
    with record_retries() as retries, pytest.raises(IntegrityError) as caught:
        await go(fake, tmp_path)
    assert len(fake.named("download_evidence")) == 3
    assert str(caught.value) == (
        f"the trace in evidence {UUID} is {len(TRACE) + 1} bytes, but the server announced {len(TRACE)}: "
        "the transfer was truncated or altered; collect the endpoint again"
    )
    assert caught.value.__notes__ == ["the download was fetched 3 times and failed each time"]
    assert [e.to_dict() for e in retries.events] == [
        {
            "operation": f"GET /filedownload/data/{UUID}",
            "reason": "corrupt",
            "wait_s": 0.0,
            "retry_after_s": None,
        }
    ] * 2
    assert not [name for name in listing(tmp_path) if name.startswith(".")]


async def test_one_download_attempt_has_no_note(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.zips = [make_zip("t", TRACE + b"x")]
    with pytest.raises(IntegrityError) as caught:
        await go(fake, tmp_path, download_attempts=1)
    assert len(fake.named("download_evidence")) == 1
    assert not hasattr(caught.value, "__notes__")
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.zips = [make_zip("t", TRACE + b"x")]
    with pytest.raises(IntegrityError):
        await go(fake, tmp_path, download_attempts=0)  # at least one
    assert len(fake.named("download_evidence")) == 1


async def test_hash_mismatch_then_good(tmp_path: Path) -> None:
    other = bytes(len(TRACE))
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.zips = [make_zip("t", other), make_zip("t", TRACE)]
    result = await go(fake, tmp_path)
    assert result.sha256 == SHA
    assert len(fake.named("download_evidence")) == 2
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.zips = [make_zip("t", other)]
    with pytest.raises(IntegrityError) as caught:
        await go(fake, tmp_path, download_attempts=1)
    assert str(caught.value) == (
        f"the SHA-256 of the trace in evidence {UUID} is {hashlib.sha256(other).hexdigest()[:12]}…, but "
        f"the server announced {SHA[:12]}…: the file is corrupt; collect the endpoint again"
    )


async def test_hash_compare_is_case_insensitive_and_skips_non_hashes(tmp_path: Path) -> None:
    for announced in (SHA.upper(), "not-a-sha", "", None, SHA[:-1]):
        fake = Fake()
        fake.conns = [[], [C("connected")]]
        fake.tasks = [T("COMPLETED", uuid=None)]
        item = E()
        fake.evidence = [Evidence(item.uuid, item.hostname, item.path, item.size, item.downloaded, announced)]
        fake.zips = (
            [make_zip("t", bytes(len(TRACE)))]
            if announced in (None, "", "not-a-sha", SHA[:-1])
            else fake.zips
        )
        result = await go(fake, tmp_path, download_attempts=1)
        assert result.bytes == len(TRACE)
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("COMPLETED", uuid=None)]
    item = E()
    upper_other = hashlib.sha256(b"x").hexdigest().upper()
    fake.evidence = [Evidence(item.uuid, item.hostname, item.path, item.size, item.downloaded, upper_other)]
    with pytest.raises(IntegrityError, match=rf"announced {upper_other[:12].lower()}…"):
        await go(fake, tmp_path, download_attempts=1)


async def test_a_cut_download_is_noted_as_truncated(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    good = make_zip("t", TRACE)

    calls: list[int] = []
    original = fake.download_evidence

    async def flaky(uuid: str, dest: Path) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise TransportError("cut")
        return await original(uuid, dest)

    fake.download_evidence = flaky  # type: ignore[method-assign]
    fake.zips = [good]
    with record_retries() as retries:
        await go(fake, tmp_path)
    assert [e.reason for e in retries.events] == ["truncated"]


# --------------------------------------------------------------------------- cleanup


async def test_failure_notes_warnings_and_cleans(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("INCOMPLETE")]
    fake.close_result = ServerError(500, "boom")
    fake.delete_result = NotFound(404, "gone")
    with pytest.raises(TaskFailed) as caught:
        await go(fake, tmp_path)
    assert caught.value.__notes__ == [
        f"could not close connection {CONN_ID}: the server answered 500: boom",
        f"could not delete evidence {UUID}: the server answered 404: gone",
    ]


async def test_warnings_reach_a_successful_result(tmp_path: Path) -> None:
    fake = Fake()
    fake.delete_result = ServerError(500, "boom")
    result = await go(fake, tmp_path)
    assert result.warnings == (f"could not delete evidence {UUID}: the server answered 500: boom",)


async def test_no_cleanup_on_failure_when_switched_off(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("ERROR")]
    with pytest.raises(TaskFailed):
        await go(fake, tmp_path, cleanup_on_failure=False)
    assert fake.named("close_connection") == [] and fake.named("delete_evidence") == []


async def test_close_not_repeated_and_not_for_ended_connections(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.zips = [b"not a zip"]
    with pytest.raises(IntegrityError):
        await go(fake, tmp_path)
    assert fake.named("close_connection") == [("close_connection", CONN_ID)]
    assert fake.named("delete_evidence") == [("delete_evidence", [UUID])]
    assert not [name for name in listing(tmp_path) if name.startswith(".")]


async def test_failure_before_connect_cleans_nothing(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [ServerError(500, "x")]
    with pytest.raises(ServerError):
        await go(fake, tmp_path)
    assert [c[0] for c in fake.calls] == ["list_connections"]


async def test_request_failure_leaves_no_task_to_clean(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.file_answer = BadRequest(400, "bad path")
    with pytest.raises(BadRequest):
        await go(fake, tmp_path)
    assert [c[0] for c in fake.calls][-1] == "close_connection"
    assert fake.named("list_tasks") == []


async def test_running_task_is_settled_then_its_evidence_deleted(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("STARTED", uuid=None), T("STARTED", uuid=None), T("COMPLETED")]
    clock = FakeClock()
    with pytest.raises(TaskFailed):
        await go(fake, tmp_path, clock, deadline_s=1.0)
    # cleanup polled the task until it ended and deleted what it left
    assert fake.named("delete_evidence") == [("delete_evidence", [UUID])]


async def test_settle_gives_up_after_the_cleanup_timeout(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("STARTED", uuid=None)]
    fake.evidence = []
    clock = FakeClock()
    with pytest.raises(TaskFailed):
        await go(fake, tmp_path, clock, deadline_s=1.0, cleanup_timeout_s=5.0)
    # 1 s of deadline, then settle: 1+2+4 > 5 → stops; then looks in the evidence list
    assert clock.sleeps == [1.0, 1.0, 2.0, 4.0]
    assert fake.named("iter_evidence") == [("iter_evidence",)]
    assert fake.named("delete_evidence") == []


async def test_settled_task_without_evidence_falls_back_to_the_list(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("STARTED", uuid=None), T("STARTED", uuid=None), T("COMPLETED", uuid=None)]
    with pytest.raises(TaskFailed):
        await go(fake, tmp_path, deadline_s=1.0)
    assert fake.named("iter_evidence") == [("iter_evidence",)]
    assert fake.named("delete_evidence") == [("delete_evidence", [UUID])]


async def test_settle_error_and_evidence_list_error_are_warnings(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("STARTED", uuid=None), T("STARTED", uuid=None), ServerError(500, "t")]
    fake.evidence = ServerError(500, "e")
    with pytest.raises(TaskFailed) as caught:
        await go(fake, tmp_path, deadline_s=1.0)
    assert caught.value.__notes__ == [
        "could not learn how task 833 ended: the server answered 500: t",
        "could not look for the evidence of task 833: the server answered 500: e",
    ]


async def test_cleanup_timeout_warning(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("ERROR")]

    async def hang(connection_id: str) -> None:
        await asyncio.sleep(10)

    fake.close_connection = hang  # type: ignore[method-assign]
    with pytest.raises(TaskFailed) as caught:
        await go(fake, tmp_path, cleanup_timeout_s=0.05)
    assert caught.value.__notes__ == [f"cleanup for endpoint {CLIENT_ID} gave up after 0.05 s"]


# --------------------------------------------------------------------------- duplicates


async def test_unsure_request_deletes_duplicate_tasks(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.file_answer = TransportError("reset after send")
    dup_done = T("COMPLETED", task_id=900, uuid="dup-1")
    dup_running = T("STARTED", task_id=901, uuid=None)
    other_conn = Task.from_api(
        {**task("COMPLETED", task_id=902, uuid="x")["data"], "metadata": {"connection": "z", "paths": []}}
    )
    no_meta = Task.from_api({**task("COMPLETED", task_id=903, uuid="y")["data"], "metadata": None})
    dup_no_uuid = T("ERROR", task_id=904, uuid=None)
    fake.task_list = [dup_done, dup_running, other_conn, no_meta, dup_no_uuid]
    fake.tasks = [T("STARTED", task_id=901, uuid=None), T("COMPLETED", task_id=901, uuid="dup-2")]
    with pytest.raises(TransportError):
        await go(fake, tmp_path)
    assert fake.named("delete_evidence") == [("delete_evidence", ["dup-1"]), ("delete_evidence", ["dup-2"])]
    assert fake.named("get_task") == [("get_task", 901), ("get_task", 901)]


async def test_unsure_request_not_reconciled_when_switched_off(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.file_answer = TransportError("reset after send")
    with pytest.raises(TransportError):
        await go(fake, tmp_path, reconcile_duplicates=False)
    assert fake.named("list_tasks") == []


async def test_sure_request_failure_lists_no_tasks(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.file_answer = ConnectError("refused")
    with pytest.raises(ConnectError):
        await go(fake, tmp_path)
    assert fake.named("list_tasks") == []


async def test_duplicate_task_warnings(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.file_answer = TransportError("reset")
    fake.task_list = [T("STARTED", task_id=900, uuid=None), T("COMPLETED", task_id=901, uuid="d")]
    fake.tasks = [T("STARTED", task_id=900, uuid=None)]
    fake.delete_result = ServerError(500, "no")
    with pytest.raises(TransportError) as caught:
        await go(fake, tmp_path, cleanup_timeout_s=3.0)
    assert caught.value.__notes__ == [
        "duplicate task 900 did not end: its evidence may be left behind",
        "could not delete evidence d of duplicate task 901: the server answered 500: no",
    ]
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.file_answer = TransportError("reset")
    fake.task_list = ServerError(500, "list")
    with pytest.raises(TransportError) as caught:
        await go(fake, tmp_path)
    assert caught.value.__notes__ == [
        f"could not list tasks to find duplicates on connection {CONN_ID}: the server answered 500: list"
    ]


async def test_our_own_task_is_not_a_duplicate(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.on_connect = None
    fake.file_answer = FileRequest.from_api(
        {"taskInfo": {"id": 833, "status": "STARTED"}, "status": "ACCEPTED"}
    )
    fake.tasks = [T("ERROR", uuid=None)]
    fake.task_list = [T("COMPLETED")]
    clock = FakeClock()
    wf = EvidenceWorkflow(
        fake,  # type: ignore[arg-type]
        CLIENT_ID,
        dest=tmp_path,
        path=None,
        deadline_s=10.0,
        poll=POLL,
        clock=clock,
        sleep=clock.sleep,
        cleanup_timeout_s=5.0,
    )
    wf.request_unsure = True
    with pytest.raises(TaskFailed):
        await wf._collect()
    await wf._delete_stray_tasks()
    assert fake.named("delete_evidence") == []


async def test_unsure_connect_failure_closes_new_live_connections(tmp_path: Path) -> None:
    fake = Fake()
    fake.connect_answer = TimeoutError_("no answer")
    theirs = C("connected", id="theirs")
    fake.conns = [
        [C("connected", id="old")],
        [
            C("connected", id="old"),
            C("waiting", id="new1"),
            C("connected", id="new2"),
            C("disconnected", id="gone"),
            C("connected", id="elsewhere", client_id="9"),
            theirs,
        ],
    ]
    _claims(fake).held.add("theirs")  # type: ignore[arg-type]
    with pytest.raises(TimeoutError_):
        await go(fake, tmp_path)
    assert [c[1] for c in fake.named("close_connection")] == ["new1", "new2"]
    _claims(fake).held.discard("theirs")  # type: ignore[arg-type]


async def test_sure_connect_failure_closes_nothing(tmp_path: Path) -> None:
    for error in (ConnectError("refused"), RateLimited(429, "slow"), BadRequest(400, "bad")):
        fake = Fake()
        fake.connect_answer = error
        fake.conns = [[], [C("connected", id="new")]]
        with pytest.raises(TaniumError):
            await go(fake, tmp_path)
        assert fake.named("close_connection") == []
        assert [c[0] for c in fake.calls] == ["list_connections", "connect"]


async def test_strays_not_closed_when_switched_off(tmp_path: Path) -> None:
    fake = Fake()
    fake.connect_answer = TimeoutError_("no answer")
    fake.conns = [[], [C("connected", id="new")]]
    with pytest.raises(TimeoutError_):
        await go(fake, tmp_path, reconcile_duplicates=False)
    assert fake.named("close_connection") == []


async def test_stray_listing_and_close_errors_are_warnings(tmp_path: Path) -> None:
    fake = Fake()
    fake.connect_answer = TimeoutError_("no answer")
    fake.conns = [[], ServerError(500, "l")]
    with pytest.raises(TimeoutError_) as caught:
        await go(fake, tmp_path)
    assert caught.value.__notes__ == [
        f"could not list connections to close those of endpoint {CLIENT_ID}: the server answered 500: l"
    ]
    fake = Fake()
    fake.connect_answer = TimeoutError_("no answer")
    fake.conns = [[], [C("connected", id="new")]]
    fake.close_result = ServerError(500, "c")
    with pytest.raises(TimeoutError_) as caught:
        await go(fake, tmp_path)
    assert caught.value.__notes__ == ["could not close connection new: the server answered 500: c"]


async def test_unsure_connect_success_does_not_close_ours_twice(tmp_path: Path) -> None:
    fake = Fake()
    fake.on_connect = lambda: note_attempt(TransportError("reset"))
    fake.conns = [[], [C("connected")], [C("connected"), C("waiting", id="twin")]]
    result = await go(fake, tmp_path)
    assert result.connection_id == CONN_ID
    assert [c[1] for c in fake.named("close_connection")] == [CONN_ID, "twin"]


async def test_cancellation_cleans_up_without_settling(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("STARTED", uuid=None)]
    fake.evidence = []
    clock = FakeClock()
    started = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if started.is_set():  # after the cancellation: fake time, so no mutant can hang the test
            await clock.sleep(seconds)
            return
        started.set()
        await asyncio.sleep(3600)

    job = asyncio.ensure_future(go(fake, tmp_path, clock, sleep=sleep))
    waiter = asyncio.ensure_future(started.wait())
    await asyncio.wait([job, waiter], return_when=asyncio.FIRST_COMPLETED)
    assert started.is_set(), "the workflow ended before it first waited"
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert fake.named("close_connection") == [("close_connection", CONN_ID)]
    # settle polled once and stopped at once (cancelled), then the evidence list was searched
    assert fake.named("get_task") == [("get_task", 833), ("get_task", 833)]
    assert fake.named("iter_evidence") == [("iter_evidence",)]


async def test_evidence_without_a_date_ranks_last(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("COMPLETED", uuid=None)]
    undated = E(uuid="undated")
    fake.evidence = [
        Evidence(undated.uuid, undated.hostname, undated.path, undated.size, None, undated.hash),
        E(uuid=UUID, downloaded="2022-02-01T00:00:00Z"),
    ]
    result = await go(fake, tmp_path)
    assert result.evidence_uuid == UUID


async def test_an_unsure_connect_retries_closing_ours_after_a_failed_close(tmp_path: Path) -> None:
    fake = Fake()
    fake.on_connect = lambda: note_attempt(TransportError("reset"))
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("ERROR", uuid=None)]
    fake.close_result = ServerError(500, "no")
    with pytest.raises(TaskFailed) as caught:
        await go(fake, tmp_path)
    assert fake.named("close_connection") == [("close_connection", CONN_ID)] * 2
    assert (
        caught.value.__notes__ == [f"could not close connection {CONN_ID}: the server answered 500: no"] * 2
    )


async def test_stray_hunt_waits_for_the_connect_lock(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[C("connected", id="x")]]
    clock = FakeClock()
    wf = EvidenceWorkflow(
        fake,  # type: ignore[arg-type]
        CLIENT_ID,
        dest=tmp_path,
        path=None,
        deadline_s=10.0,
        poll=POLL,
        clock=clock,
        sleep=clock.sleep,
        cleanup_timeout_s=5.0,
    )
    wf.before = set()
    lock = _claims(fake).lock(CLIENT_ID)  # type: ignore[arg-type]
    await lock.acquire()
    job = asyncio.ensure_future(wf._close_strays())
    for _ in range(5):
        await asyncio.sleep(0)
    assert fake.calls == []  # another collector of this client is between its connect and its claim
    lock.release()
    await job
    assert fake.calls == [("list_connections",), ("close_connection", "x")]


async def test_settle_stops_exactly_at_the_cleanup_timeout(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("STARTED", uuid=None)]
    fake.evidence = []
    clock = FakeClock()
    with pytest.raises(TaskFailed):
        await go(fake, tmp_path, clock, deadline_s=1.0, cleanup_timeout_s=3.0)
    assert clock.sleeps == [1.0, 1.0, 2.0]  # the deadline's sleep, then 1 + 2 = 3 s of settling


async def test_warnings_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = Fake()
    fake.delete_result = ServerError(500, "boom")
    with caplog.at_level("WARNING", logger="client._workflow"):
        await go(fake, tmp_path)
    assert [r.getMessage() for r in caplog.records if r.name == "client._workflow"] == [
        f"could not delete evidence {UUID}: the server answered 500: boom"
    ]


async def test_two_failed_fetches_are_noted(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.zips = [make_zip("t", TRACE + b"x")]
    with pytest.raises(IntegrityError) as caught:
        await go(fake, tmp_path, download_attempts=2)
    assert caught.value.__notes__ == ["the download was fetched 2 times and failed each time"]


async def test_a_refetch_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.zips = [make_zip("t", TRACE + b"x"), make_zip("t", TRACE)]
    with caplog.at_level("INFO", logger="client._workflow"):
        await go(fake, tmp_path)
    assert [r.getMessage() for r in caplog.records if r.name == "client._workflow"] == [
        f"download of {UUID} failed its checks (integrity); fetching it again"
    ]


def test_extract_member_with_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    data = zipcrypto_zip({"ab": b"payload"}).replace(b"ab", b"\xff\xfe")
    zip_path = tmp_path / "e.zip"
    zip_path.write_bytes(data)
    member = extract_evidence_member(zip_path, tmp_path / "out")
    assert member == ZipMember("\ufffd\ufffd", 7, hashlib.sha256(b"payload").hexdigest())


async def test_a_failed_task_without_evidence_is_not_polled_again(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("ERROR", uuid=None)]
    with pytest.raises(TaskFailed):
        await go(fake, tmp_path)
    assert fake.named("get_task") == [("get_task", 833)]
    assert fake.named("iter_evidence") == [] and fake.named("delete_evidence") == []


async def test_failed_paths_are_listed(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    bare = T("ERROR")
    fake.tasks = [replace(bare, results=replace(bare.results, failed=("/a", "/b")))]
    with pytest.raises(TaskFailed, match=r"ended ERROR \(/a, /b\)"):
        await go(fake, tmp_path)


async def test_an_incomplete_task_without_evidence_is_left_alone(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("INCOMPLETE", uuid=None)]
    with pytest.raises(TaskFailed):
        await go(fake, tmp_path)
    assert fake.named("get_task") == [("get_task", 833)]
    assert fake.named("iter_evidence") == [] and fake.named("delete_evidence") == []


def test_workflow_defaults(tmp_path: Path) -> None:
    clock = FakeClock()
    wf = EvidenceWorkflow(
        Fake(),  # type: ignore[arg-type]
        CLIENT_ID,
        dest=tmp_path,
        path=None,
        deadline_s=1.0,
        poll=POLL,
        clock=clock,
        sleep=clock.sleep,
        cleanup_timeout_s=1.0,
    )
    assert wf.download_attempts == 3
    assert wf.cleanup_on_failure is True
    assert wf.reconcile_duplicates is True
    assert wf.out_name == f"{CLIENT_ID}.cst.gz"


async def test_timings_are_differences_of_the_clock(tmp_path: Path) -> None:
    fake = Fake()
    clock = FakeClock()
    clock.now = 1000.0
    wf = EvidenceWorkflow(
        fake,  # type: ignore[arg-type]
        CLIENT_ID,
        dest=tmp_path,
        path=None,
        deadline_s=60.0,
        poll=POLL,
        clock=clock,
        sleep=clock.sleep,
        cleanup_timeout_s=5.0,
    )
    result = await wf.run()
    assert result.timings == {"connect_s": 1.0, "task_s": 1.0, "download_s": 0.0, "total_s": 2.0}
    assert result.timings is not wf.timings  # a copy: the result does not move with the workflow


async def test_collect_waits_for_the_connect_lock(tmp_path: Path) -> None:
    fake = Fake()
    lock = _claims(fake).lock(CLIENT_ID)  # type: ignore[arg-type]
    await lock.acquire()
    job = asyncio.ensure_future(go(fake, tmp_path))
    for _ in range(5):
        await asyncio.sleep(0)
    assert fake.calls == []  # another collector of this client is connecting the endpoint
    lock.release()
    assert (await job).connection_id == CONN_ID


async def test_collect_trace_default_deadline(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("waiting")]]
    clock = FakeClock()
    with pytest.raises(ConnectionTimedOut, match=r"within 600 s"):
        await collect_trace(fake, CLIENT_ID, dest=tmp_path, poll=POLL, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert clock.now == 600.0


async def test_collect_trace_default_cleanup_timeout(tmp_path: Path) -> None:
    fake = Fake()
    fake.conns = [[], [C("connected")]]
    fake.tasks = [T("STARTED", uuid=None)]
    fake.evidence = []
    clock = FakeClock()
    with pytest.raises(TaskFailed):
        await collect_trace(
            fake,  # type: ignore[arg-type]
            CLIENT_ID,
            dest=tmp_path,
            deadline_s=1.0,
            poll=PollPolicy(1.0, 1.0, 1.0),
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps == [1.0] * 61  # the deadline's one second, then 60 s of settling
