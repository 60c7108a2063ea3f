"""The docs/api.md §7 workflow against respx: every branch, the typed error, and that cleanup
still happened."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from client._client import AsyncTaniumClient
from client._errors import (
    APIError,
    BadRequest,
    ConnectError,
    ConnectionTimedOut,
    EvidenceMissing,
    IntegrityError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    SessionExpired,
    TaskFailed,
    TimeoutError_,
    TransportError,
    Unauthorized,
)
from client._workflow import (
    LINUX_TRACE_PATH,
    WINDOWS_TRACE_PATH,
    CollectResult,
    PollPolicy,
    collect_trace,
    default_trace_path,
    extract_evidence_member,
)
from tests.inprocess.tanium_fakes import (
    BASE,
    CLIENT_ID,
    CONN_ID,
    TOKEN,
    TR,
    TRACE,
    UUID,
    FakeClock,
    FakeTanium,
    conn,
    evidence,
    ok,
    plays,
    task,
    zip_response,
    zipcrypto_zip,
)

pytestmark = pytest.mark.anyio
POLL = PollPolicy(interval_s=1.0, max_interval_s=4.0, multiplier=2.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def tanium() -> AsyncIterator[AsyncTaniumClient]:
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        yield client


async def collect(
    tanium: AsyncTaniumClient,
    clock: FakeClock,
    dest: Path,
    *,
    deadline_s: float = 60.0,
    path: str | None = None,
) -> CollectResult:
    return await collect_trace(
        tanium,
        CLIENT_ID,
        dest=dest,
        path=path,
        deadline_s=deadline_s,
        poll=POLL,
        clock=clock,
        sleep=clock.sleep,
    )


def json_body(route: respx.Route) -> object:
    return json.loads(route.calls.last.request.content)


def assert_cleaned(fake: FakeTanium, dest: Path, *, closed: bool = True, deleted: bool = True) -> None:
    assert fake.close.called is closed
    assert fake.delete.called is deleted
    if deleted:
        assert json_body(fake.delete) == {"ids": [UUID]}
    assert not list(dest.glob(".*")), "temporary files left behind"


# --------------------------------------------------------------------------- the happy path


async def test_happy_path_writes_the_trace_and_leaves_nothing(
    fake: FakeTanium, mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    result = await collect(tanium, clock, tmp_path)
    assert (tmp_path / f"{CLIENT_ID}.cst.gz").read_bytes() == TRACE
    assert result.trace_path == tmp_path / f"{CLIENT_ID}.cst.gz"
    assert (result.bytes, result.sha256) == (len(TRACE), hashlib.sha256(TRACE).hexdigest())
    assert (result.connection_id, result.task_id, result.evidence_uuid) == (CONN_ID, 833, UUID)
    assert result.remote_path == LINUX_TRACE_PATH and result.zip_bytes == len(fake.zip)
    assert set(result.timings) == {"connect_s", "task_s", "download_s", "total_s"}
    assert result.warnings == ()
    assert json_body(fake.connect) == {"target": {"clientId": CLIENT_ID}}
    assert json_body(fake.request_file) == {"path": LINUX_TRACE_PATH}
    assert fake.conns.call_count == 3 and fake.task.call_count == 2  # one listing before connect
    assert not fake.evidence_list.called  # fileResults named the uuid
    assert clock.sleeps == [1.0, 1.0]  # one wait for the connection, one for the task
    order = [c.request.method + " " + c.request.url.path.rsplit("/api/v1", 1)[-1] for c in mock.calls]
    assert order.index(f"DELETE /conns/close/{CONN_ID}") < order.index(f"GET /filedownload/data/{UUID}")
    assert order[-1] == "DELETE /filedownload"
    assert_cleaned(fake, tmp_path)
    assert all(c.request.headers["session"] == TOKEN for c in mock.calls)


async def test_picks_the_new_entry_among_historical_ones(
    fake: FakeTanium, mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    old_conn, other = "remote:web-01:123:1", "remote:db-01:999:1"
    history = [
        conn("connected", id=old_conn, initiated_at=1_600_000_000_000),  # a stale live one: not ours
        conn("disconnected", id="remote:web-01:123:0", initiated_at=1_500_000_000_000),
        conn("connected", id=other, client_id="999", initiated_at=1_800_000_000_000),
    ]
    fake.conns.side_effect = plays(
        ok(history), ok([*history, conn("waiting")]), ok([*history, conn("connected")])
    )
    old = mock.post(f"{TR}/conns/{old_conn}/file")
    await collect(tanium, clock, tmp_path)
    assert not old.called and fake.request_file.called
    assert fake.conns.call_count == 3


async def test_windows_default_path_and_explicit_path(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake = FakeTanium(mock, platform="Windows")
    await collect(tanium, clock, tmp_path)
    assert json_body(fake.request_file) == {"path": WINDOWS_TRACE_PATH}
    fake.conns.side_effect = plays(ok([]), ok([conn("connected", platform="Windows")]))  # a new connection
    await collect(tanium, clock, tmp_path, path="/tmp/other.cst.gz")
    assert json_body(fake.request_file) == {"path": "/tmp/other.cst.gz"}
    assert default_trace_path("Linux") == LINUX_TRACE_PATH
    assert default_trace_path("windows") == WINDOWS_TRACE_PATH


async def test_unknown_task_statuses_keep_polling_with_backoff(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    statuses = ["STARTED", "QUEUED", "RUNNING", "TRANSFERRING", "STARTED"]
    fake.task.side_effect = plays(*[ok(task(s, uuid=None)) for s in statuses], ok(task("COMPLETED")))
    fake.conns.side_effect = plays(ok([]), ok([conn("connected")]))
    await collect(tanium, clock, tmp_path)
    assert fake.task.call_count == 6
    assert clock.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert_cleaned(fake, tmp_path)


async def test_relogin_on_403_mid_workflow(mock: respx.MockRouter, clock: FakeClock, tmp_path: Path) -> None:
    fake = FakeTanium(mock)
    fake.login.side_effect = plays(ok({"data": {"session": "s1"}}), ok({"data": {"session": "s2"}}))
    fake.task.side_effect = plays(httpx.Response(403, json={"text": "403 Forbidden"}), ok(task("COMPLETED")))
    async with AsyncTaniumClient(BASE, username="u", password="p") as client:
        result = await collect(client, clock, tmp_path)
    assert result.bytes == len(TRACE)
    assert fake.login.call_count == 2
    assert fake.delete.calls.last.request.headers["session"] == "s2"


# --------------------------------------------------------------------------- connection phase


async def test_connection_timeout_status_gives_up(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.conns.side_effect = plays(
        ok([]), ok([conn("waiting")]), ok([conn("timeout") | {"message": "The connection has timed out."}])
    )
    with pytest.raises(ConnectionTimedOut, match="status timeout: The connection has timed out") as info:
        await collect(tanium, clock, tmp_path)
    assert info.value.reason == "connection_timeout"
    assert not fake.request_file.called
    assert_cleaned(fake, tmp_path, closed=False, deleted=False)  # nothing live to close


async def test_connection_deadline_closes_the_waiting_connection(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.conns.side_effect = plays(ok([]), ok([conn("waiting")]))
    with pytest.raises(ConnectionTimedOut, match=r"within 10 s \(last status: waiting\)"):
        await collect(tanium, clock, tmp_path, deadline_s=10.0)
    assert clock.now == 10.0 and clock.sleeps == [1.0, 2.0, 4.0, 3.0]
    assert_cleaned(fake, tmp_path, closed=True, deleted=False)


async def test_connect_refused_leaves_nothing_to_clean(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.connect.side_effect = httpx.ConnectError("[Errno 111] Connection refused")
    with pytest.raises(ConnectError, match="connection refused"):
        await collect(tanium, clock, tmp_path)
    assert fake.conns.call_count == 1  # the listing before connect only
    assert_cleaned(fake, tmp_path, closed=False, deleted=False)


# --------------------------------------------------------------------------- task phase


@pytest.mark.parametrize(
    ("status", "error", "cls"),
    [
        (400, "400 Bad Request: path", BadRequest),
        (401, "401 Unauthorized", Unauthorized),
        (403, "403 Forbidden", SessionExpired),
        (404, "404 Item Not Found", NotFound),
        (429, "429 Too Many Requests", RateLimited),
        (500, "500 Internal Server Error", ServerError),
        (503, "503 Service Unavailable", ServerError),
    ],
)
async def test_error_status_on_file_request_still_closes(
    fake: FakeTanium,
    tanium: AsyncTaniumClient,
    clock: FakeClock,
    tmp_path: Path,
    status: int,
    error: str,
    cls: type[APIError],
) -> None:
    fake.request_file.side_effect = plays(
        httpx.Response(status, json={"text": error}, headers={"Retry-After": "3"})
    )
    with pytest.raises(cls) as info:
        await collect(tanium, clock, tmp_path)
    assert info.value.status == status and info.value.text == error
    if isinstance(info.value, RateLimited):
        assert info.value.retry_after == 3.0
    assert not fake.task.called and not fake.evidence_list.called  # no task, so no evidence to hunt
    assert_cleaned(fake, tmp_path, closed=True, deleted=False)


async def test_task_error_is_task_failed(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("STARTED", uuid=None)), ok(task("ERROR", error="file not found")))
    with pytest.raises(TaskFailed, match="ended ERROR \\(file not found\\)") as info:
        await collect(tanium, clock, tmp_path)
    assert info.value.reason == "task_failed"
    assert not fake.evidence_list.called and not fake.download.called
    assert_cleaned(fake, tmp_path, closed=True, deleted=False)


async def test_incomplete_task_deletes_the_evidence_it_left(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("INCOMPLETE")))
    with pytest.raises(TaskFailed, match=f"ended INCOMPLETE \\({LINUX_TRACE_PATH}\\)"):
        await collect(tanium, clock, tmp_path)
    assert not fake.download.called
    assert_cleaned(fake, tmp_path, closed=True, deleted=True)


async def test_task_deadline_still_hunts_and_deletes_the_evidence(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("STARTED", uuid=None)))
    with pytest.raises(TaskFailed, match="did not end within 20 s"):
        await collect(tanium, clock, tmp_path, deadline_s=20.0)
    assert fake.evidence_list.called
    assert_cleaned(fake, tmp_path, closed=True, deleted=True)


@pytest.mark.parametrize(
    ("effect", "error", "match"),
    [
        (httpx.Response(500, json={"text": "500 Internal Server Error"}), ServerError, "retry later"),
        (httpx.ReadTimeout("timed out"), TimeoutError_, "read timeout"),
        (httpx.RemoteProtocolError("peer closed"), TransportError, "broke before a complete answer"),
        (
            httpx.Response(200, content=b'{"data": {"id": 8', headers={"content-type": "application/json"}),
            ProtocolError,
            "not valid JSON",
        ),
        (httpx.Response(200, html="<html>proxy login</html>"), ProtocolError, "text/html, not JSON"),
        (ok({"data": {"id": "833", "status": "STARTED"}}), ProtocolError, "'id' is a str, not a int"),
    ],
)
async def test_failure_while_polling_the_task_still_cleans_up(
    fake: FakeTanium,
    tanium: AsyncTaniumClient,
    clock: FakeClock,
    tmp_path: Path,
    effect: httpx.Response | Exception,
    error: type[Exception],
    match: str,
) -> None:
    fake.task.side_effect = plays(ok(task("STARTED", uuid=None)), effect)
    with pytest.raises(error, match=match) as info:
        await collect(tanium, clock, tmp_path)
    if isinstance(effect, Exception):
        assert info.value.__cause__ is effect
    # the task exists but its uuid is unknown: the evidence is found by path + hostname and deleted
    assert fake.evidence_list.called
    assert_cleaned(fake, tmp_path, closed=True, deleted=True)


async def test_malformed_connection_list_fails_before_anything_is_open(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.conns.side_effect = plays(
        httpx.Response(200, content=b"[{", headers={"content-type": "application/json"})
    )
    with pytest.raises(ProtocolError, match="not valid JSON"):
        await collect(tanium, clock, tmp_path)
    assert_cleaned(fake, tmp_path, closed=False, deleted=False)


# --------------------------------------------------------------------------- evidence lookup


async def test_missing_file_results_falls_back_to_the_evidence_list(
    mock: respx.MockRouter, fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("COMPLETED", uuid=None)))
    items = [
        evidence(uuid="older", downloaded="2020-01-01T00:00:00.000Z"),
        evidence(uuid="other-host", hostname="db-01", downloaded="2030-01-01T00:00:00.000Z"),
        evidence(uuid="other-path", path="/etc/passwd", downloaded="2030-01-01T00:00:00.000Z"),
        evidence(),
    ]
    fake.evidence_list.side_effect = plays(ok({"fileEvidence": items, "totalCount": 4}))
    result = await collect(tanium, clock, tmp_path)
    assert result.evidence_uuid == UUID and result.bytes == len(TRACE)
    assert_cleaned(fake, tmp_path)


async def test_no_file_results_and_no_listed_evidence_is_evidence_missing(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("COMPLETED", uuid=None)))
    fake.evidence_list.side_effect = plays(
        ok({"fileEvidence": [evidence(hostname="db-01")], "totalCount": 1})
    )
    with pytest.raises(EvidenceMissing, match="no file evidence names that path and host") as info:
        await collect(tanium, clock, tmp_path)
    assert info.value.reason == "evidence_missing"
    assert_cleaned(fake, tmp_path, closed=True, deleted=False)


# --------------------------------------------------------------------------- download and integrity


async def test_download_wrong_content_type(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.download.side_effect = plays(httpx.Response(200, html="<html>login</html>"))
    with pytest.raises(ProtocolError, match="not a zip"):
        await collect(tanium, clock, tmp_path)
    assert_cleaned(fake, tmp_path)
    assert not (tmp_path / f"{CLIENT_ID}.cst.gz").exists()


async def test_download_shorter_than_its_content_length(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    cut = fake.zip[: len(fake.zip) // 2]
    fake.download.side_effect = plays(zip_response(cut, **{"Content-Length": str(len(fake.zip))}))
    with pytest.raises(TransportError, match=f"stopped after {len(cut)} of {len(fake.zip)} bytes"):
        await collect(tanium, clock, tmp_path)
    assert_cleaned(fake, tmp_path)
    assert not (tmp_path / f"{CLIENT_ID}.cst.gz").exists()


async def test_truncated_zip_is_an_integrity_error(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.download.side_effect = plays(zip_response(fake.zip[:60]))
    with pytest.raises(IntegrityError, match="not readable") as info:
        await collect(tanium, clock, tmp_path)
    assert info.value.reason == "integrity"
    assert_cleaned(fake, tmp_path)


async def test_hash_mismatch_is_an_integrity_error(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    tampered = TRACE[:-1] + bytes([TRACE[-1] ^ 1])
    fake.download.side_effect = plays(zip_response(zipcrypto_zip({"trace.cst.gz": tampered})))
    with pytest.raises(IntegrityError, match="SHA-256"):
        await collect(tanium, clock, tmp_path)
    assert_cleaned(fake, tmp_path)
    assert not (tmp_path / f"{CLIENT_ID}.cst.gz").exists()


async def test_size_mismatch_is_an_integrity_error(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.download.side_effect = plays(zip_response(zipcrypto_zip({"trace.cst.gz": TRACE + b"\0"})))
    with pytest.raises(IntegrityError, match=f"announced {len(TRACE)}"):
        await collect(tanium, clock, tmp_path)
    assert_cleaned(fake, tmp_path)


def test_extract_rejects_two_members_and_a_wrong_password(tmp_path: Path) -> None:
    two = tmp_path / "two.zip"
    two.write_bytes(zipcrypto_zip({"a": b"1", "b": b"2"}))
    with pytest.raises(IntegrityError, match="2 members instead of one"):
        extract_evidence_member(two, tmp_path / "out")
    wrong = tmp_path / "wrong.zip"
    wrong.write_bytes(zipcrypto_zip({"a": b"1" * 100}, password=b"other"))
    with pytest.raises(IntegrityError, match="not readable"):
        extract_evidence_member(wrong, tmp_path / "out")


# --------------------------------------------------------------------------- cleanup itself


async def test_failed_close_and_delete_become_warnings(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.close.side_effect = plays(httpx.Response(500, json={"text": "500 Internal Server Error"}))
    fake.delete.side_effect = plays(httpx.Response(503, json={"text": "503 Service Unavailable"}))
    result = await collect(tanium, clock, tmp_path)
    assert result.bytes == len(TRACE)
    assert fake.close.call_count == 2  # once in step 5, once more on the way out
    expected = [f"could not close connection {CONN_ID}:"] * 2 + [f"could not delete evidence {UUID}:"]
    assert [w[: len(e)] for w, e in zip(result.warnings, expected, strict=True)] == expected


async def test_cleanup_notes_are_attached_to_the_primary_error(
    fake: FakeTanium, tanium: AsyncTaniumClient, clock: FakeClock, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("INCOMPLETE")))
    fake.delete.side_effect = plays(httpx.Response(500, json={"text": "500"}))
    with pytest.raises(TaskFailed) as info:
        await collect(tanium, clock, tmp_path)
    assert any(f"could not delete evidence {UUID}" in note for note in info.value.__notes__)


async def test_cancellation_while_polling_still_closes_and_deletes(
    fake: FakeTanium, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    polling = asyncio.Event()
    clock = FakeClock()

    async def sleep(seconds: float) -> None:
        if fake.task.called:
            polling.set()
            await asyncio.Event().wait()  # hang here until cancelled
        await clock.sleep(seconds)

    fake.task.side_effect = plays(ok(task("STARTED", uuid=None)))
    job = asyncio.create_task(
        collect_trace(tanium, CLIENT_ID, dest=tmp_path, poll=POLL, clock=clock, sleep=sleep)
    )
    await asyncio.wait_for(polling.wait(), 30)  # a bound on a hang; polling starts at once
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert fake.evidence_list.called
    assert_cleaned(fake, tmp_path, closed=True, deleted=True)
