"""Every AsyncTaniumClient call: method, path, body, ``session`` header, shape parsing, error translation."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from client._client import AsyncTaniumClient
from client._errors import (
    APIError,
    BadRequest,
    ConnectError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    SessionExpired,
    TimeoutError_,
    TLSError,
    TransportError,
    Unauthorized,
)
from client._models import Connection, Task
from client._policy import RequestContext
from client._responses import retry_after_seconds, status_error, transport_error
from tests.inprocess.tanium_fakes import (
    BASE,
    CONN_ID,
    TOKEN,
    TR,
    UUID,
    conn,
    evidence,
    ok,
    plays,
    task,
    zip_response,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def mock() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def tanium() -> AsyncIterator[AsyncTaniumClient]:
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        yield client


def body_of(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


# --------------------------------------------------------------------------- platform


async def test_login_posts_credentials_and_uses_the_session(mock: respx.MockRouter) -> None:
    login = mock.post(f"{BASE}/api/v2/session/login").mock(return_value=ok({"data": {"session": "1-2-abc"}}))
    status = mock.get(f"{BASE}/api/v2/system_status").mock(return_value=ok({"data": []}))
    async with AsyncTaniumClient(BASE, username="u", password="p", domain="corp") as client:
        assert await client.system_status() == []
    assert body_of(login) == {"username": "u", "password": "p", "domain": "corp"}
    assert "session" not in login.calls.last.request.headers
    assert status.calls.last.request.headers["session"] == "1-2-abc"


async def test_explicit_login_returns_the_session(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    login = mock.post(f"{BASE}/api/v2/session/login").mock(return_value=ok({"data": {"session": "1-2-x"}}))
    assert await tanium.login("me", "pw") == "1-2-x"
    assert body_of(login) == {"username": "me", "password": "pw"}


async def test_login_answer_without_session_is_a_protocol_error(
    mock: respx.MockRouter, tanium: AsyncTaniumClient
) -> None:
    mock.post(f"{BASE}/api/v2/session/login").mock(return_value=ok({"data": {}}))
    with pytest.raises(ProtocolError, match="'session'"):
        await tanium.login("me", "pw")


async def test_validate_current_logout(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    validate = mock.post(f"{BASE}/api/v2/session/validate").mock(
        side_effect=plays(ok({"data": {"session": TOKEN}}), httpx.Response(401, json={"text": "401"}))
    )
    current = mock.get(f"{BASE}/api/v2/session/current").mock(return_value=ok({"data": {"id": 1}}))
    logout = mock.post(f"{BASE}/api/v2/session/logout").mock(return_value=ok({}))
    assert await tanium.validate() is True
    assert body_of(validate) == {"session": TOKEN}
    assert await tanium.validate("other") is False
    assert await tanium.current() == {"id": 1}
    assert current.calls.last.request.headers["session"] == TOKEN
    await tanium.logout()
    assert body_of(logout) == {"session": TOKEN}


async def test_system_status_pages_and_drops_the_cache_info(
    mock: respx.MockRouter, tanium: AsyncTaniumClient
) -> None:
    rows = [
        {"computer_id": str(i), "host_name": f"h{i}", "ipaddress_client": "10.0.0.2", "port_number": "17472"}
        for i in range(5)
    ]
    cache = {
        "cache_id": 1,
        "cache_row_count": 5,
        "filtered_row_count": 5,
        "page_row_count": 2,
        "expiration": "",
    }

    def page(request: httpx.Request) -> httpx.Response:
        options = json.loads(request.headers["tanium-options"])
        start, count = options["row_start"], options["row_count"]
        return ok({"data": [*rows[start : start + count], cache]})

    route = mock.get(f"{BASE}/api/v2/system_status").mock(side_effect=page)
    endpoints = await tanium.system_status(page_size=2)
    assert [e.computer_id for e in endpoints] == ["0", "1", "2", "3", "4"]
    assert (endpoints[0].host_name, endpoints[0].ipaddress_client, endpoints[0].port_number) == (
        "h0",
        "10.0.0.2",
        17472,
    )
    assert route.call_count == 3 and route.calls.last.request.headers["session"] == TOKEN


# --------------------------------------------------------------------------- connections


async def test_connect_sends_the_target_and_decodes_the_json_string(
    mock: respx.MockRouter, tanium: AsyncTaniumClient
) -> None:
    route = mock.post(f"{TR}/conns/connect").mock(
        return_value=httpx.Response(
            200, content=b'"remote:undefined:123:"', headers={"content-type": "application/json"}
        )
    )
    assert await tanium.connect("123") == "remote:undefined:123:"
    assert body_of(route) == {"target": {"clientId": "123"}}
    assert route.calls.last.request.headers["session"] == TOKEN
    await tanium.connect("123", hostname="web-01", platform="Linux")
    assert body_of(route) == {"target": {"clientId": "123", "hostname": "web-01", "platform": "Linux"}}


async def test_connect_answer_that_is_not_a_string(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    mock.post(f"{TR}/conns/connect").mock(return_value=ok({"id": 1}))
    with pytest.raises(ProtocolError, match="not a JSON string"):
        await tanium.connect("123")


async def test_connections_list_get_close_delete(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    mock.get(f"{TR}/conns").mock(return_value=ok([conn("waiting"), conn("connected")]))
    one = mock.get(f"{TR}/conns/{CONN_ID}").mock(return_value=ok(conn("connected")))
    close = mock.delete(f"{TR}/conns/close/{CONN_ID}").mock(return_value=ok({}))
    delete = mock.delete(f"{TR}/conns/delete/{CONN_ID}").mock(return_value=httpx.Response(200))
    waiting, connected = await tanium.list_connections()
    assert waiting.eid is None and waiting.connected_at is None and not waiting.is_connected
    assert connected == Connection(
        id=CONN_ID,
        client_id="123",
        status="connected",
        hostname="web-01",
        ip="10.0.4.17",
        platform="Linux",
        initiated_at=1_700_000_000_000,
        message="",
        user_id="1",
        persona_id=0,
        session_id=None,
        eid="2",
        connected_at=1_700_000_005_000,
        has_tools=True,
    )
    assert (await tanium.get_connection(CONN_ID)).is_connected
    assert one.calls.last.request.url.path.endswith("/conns/remote:web-01:123:2")
    await tanium.close_connection(CONN_ID)
    await tanium.delete_connection(CONN_ID)  # an empty body is a fine acknowledgement
    assert close.calls.last.request.headers["session"] == TOKEN
    assert delete.called


async def test_connection_list_that_is_not_an_array(
    mock: respx.MockRouter, tanium: AsyncTaniumClient
) -> None:
    mock.get(f"{TR}/conns").mock(return_value=ok({"data": []}))
    with pytest.raises(ProtocolError, match="not an array"):
        await tanium.list_connections()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"clientId": 123}, "'clientId' is a int, not a str"),
        ({"initiatedAt": "1631090906852"}, "'initiatedAt' is a str, not a int"),
        ({"initiatedAt": True}, "'initiatedAt' is a bool"),
        ({"status": None}, "no 'status' field"),
    ],
)
async def test_mistyped_connection_fields_are_protocol_errors(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, change: dict[str, Any], match: str
) -> None:
    body = {k: v for k, v in {**conn("connected"), **change}.items() if v is not None}
    mock.get(f"{TR}/conns").mock(return_value=ok([body]))
    with pytest.raises(ProtocolError, match=match):
        await tanium.list_connections()


# --------------------------------------------------------------------------- files and tasks


async def test_request_file(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    answer = {
        "taskInfo": {
            "id": 833,
            "status": "STARTED",
            "metadata": {"connection": CONN_ID, "paths": ["/x"], "compress": "true"},
            "startTime": "2021-09-05T13:46:16.606Z",
        },
        "status": "ACCEPTED",
    }
    route = mock.post(f"{TR}/conns/{CONN_ID}/file").mock(return_value=ok(answer))
    req = await tanium.request_file(CONN_ID, "/x")
    assert body_of(route) == {"path": "/x"}
    assert (req.task_id, req.status, req.task_info.status) == (833, "ACCEPTED", "STARTED")
    assert req.task_info.metadata is not None and req.task_info.metadata.paths == ("/x",)


async def test_file_info_and_list_quote_the_path(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    path = "C:\\a b\\t.gz"
    info = mock.get(url__regex=rf".*/conns/{CONN_ID}/file/info/.*").mock(
        return_value=ok(
            {
                "sessionId": "s-1",
                "cid": CONN_ID,
                "path": path,
                "info": {
                    "type": "FILE",
                    "name": path,
                    "permissions": 438,
                    "size": 5,
                    "createdDate": 1631090906852,
                    "modifiedDate": 1631090912528,
                    "canonicalPath": path,
                    "extra": True,
                },
            }
        )
    )
    listing = mock.get(url__regex=rf".*/conns/{CONN_ID}/file/list/.*").mock(
        return_value=ok(
            {
                "sessionId": "s-1",
                "cid": CONN_ID,
                "path": "/opt/cryptosense/traces",
                "entries": [
                    {"name": "t.gz", "size": 5, "type": "FILE", "permissions": 438, "createdDate": 1}
                ],
            }
        )
    )
    fi = await tanium.file_info(CONN_ID, path)
    assert info.calls.last.request.url.raw_path.endswith(b"/file/info/C%3A%5Ca%20b%5Ct.gz")
    assert (fi.path, fi.canonical_path, fi.size, fi.raw["extra"]) == (path, path, 5, True)
    assert (fi.permissions, fi.created_date, fi.modified_date) == (438, 1631090906852, 1631090912528)
    assert (fi.session_id, fi.cid, fi.asked_path) == ("s-1", CONN_ID, path)
    [entry] = await tanium.file_list(CONN_ID, "/opt/cryptosense/traces")
    assert listing.calls.last.request.url.raw_path.endswith(b"/file/list/%2Fopt%2Fcryptosense%2Ftraces")
    assert (entry.name, entry.type, entry.size, entry.permissions, entry.created_date) == (
        "t.gz",
        "FILE",
        5,
        438,
        1,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("permissions", "-rw-r-----"), ("createdDate", "2021-09-05T13:46:16.606Z"), ("modifiedDate", 1.5)],
)
async def test_file_info_refuses_what_int_cannot_read(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, field: str, value: object
) -> None:
    answer = {"cid": CONN_ID, "path": "/x", "info": {"name": "/x", "canonicalPath": "/x", field: value}}
    mock.get(url__regex=rf".*/conns/{CONN_ID}/file/info/.*").mock(return_value=ok(answer))
    with pytest.raises(ProtocolError, match=field):
        await tanium.file_info(CONN_ID, "/x")


async def test_get_and_list_tasks(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    mock.get(f"{TR}/tasks/833").mock(return_value=ok(task("COMPLETED")))
    mock.get(f"{TR}/tasks").mock(return_value=ok({"data": [task("STARTED", uuid=None)["data"]]}))
    t = await tanium.get_task(833)
    assert t.terminal and t.evidence_uuid == UUID
    fr = t.results.file_results[0]
    assert fr.total_bytes > 0 and len(fr.transfer_hash) == 64 and fr.final_path is not None
    [started] = await tanium.list_tasks()
    assert isinstance(started, Task) and not started.terminal and started.evidence_uuid is None


# --------------------------------------------------------------------------- evidence


async def test_list_evidence_passes_paging_and_sort(
    mock: respx.MockRouter, tanium: AsyncTaniumClient
) -> None:
    route = mock.get(f"{TR}/filedownload").mock(
        return_value=ok({"fileEvidence": [evidence()], "totalCount": 7})
    )
    page = await tanium.list_evidence(limit=1, offset=3, sort="-downloaded")
    assert dict(route.calls.last.request.url.params) == {"limit": "1", "offset": "3", "sort": "-downloaded"}
    assert page.total_count == 7 and page.file_evidence[0].uuid == UUID
    assert page.file_evidence[0].evidence_type == "file"
    await tanium.list_evidence()
    assert not route.calls.last.request.url.params


async def test_iter_evidence_walks_every_page(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    items = [evidence(uuid=f"u{i}") for i in range(5)]

    def page(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return ok({"fileEvidence": items[offset : offset + limit], "totalCount": len(items)})

    route = mock.get(f"{TR}/filedownload").mock(side_effect=page)
    assert [e.uuid async for e in tanium.iter_evidence(page_size=2)] == [f"u{i}" for i in range(5)]
    assert route.call_count == 3


async def test_get_and_delete_evidence(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    mock.get(f"{TR}/filedownload/{UUID}").mock(return_value=ok({"evidence": evidence()}))
    bulk = mock.delete(f"{TR}/filedownload").mock(return_value=ok({}))
    one = mock.delete(f"{TR}/filedownload/{UUID}").mock(return_value=ok({}))
    assert (await tanium.get_evidence(UUID)).hostname == "web-01"
    await tanium.delete_evidence([UUID, "other"])
    assert body_of(bulk) == {"ids": [UUID, "other"]}
    assert bulk.calls.last.request.headers["session"] == TOKEN
    await tanium.delete_evidence_one(UUID)
    assert one.called


async def test_download_evidence_streams_to_a_file(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    content = bytes(range(256)) * 1000
    route = mock.get(f"{TR}/filedownload/data/{UUID}").mock(return_value=zip_response(content))
    written = await tanium.download_evidence(UUID, tmp_path / "e.zip", chunk_size=4096)
    assert written == len(content) and (tmp_path / "e.zip").read_bytes() == content
    assert route.calls.last.request.headers["session"] == TOKEN
    chunks = [c async for c in tanium.stream_evidence(UUID)]
    assert b"".join(chunks) == content


async def test_download_with_wrong_content_type(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    mock.get(f"{TR}/filedownload/data/{UUID}").mock(
        return_value=httpx.Response(200, html="<html>login</html>")
    )
    with pytest.raises(ProtocolError, match="text/html, not a zip"):
        await tanium.download_evidence(UUID, tmp_path / "e.zip")


async def test_download_shorter_than_content_length(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    mock.get(f"{TR}/filedownload/data/{UUID}").mock(
        return_value=zip_response(b"PK" * 10, **{"Content-Length": "99"})
    )
    with pytest.raises(TransportError, match="stopped after 20 of 99 bytes"):
        await tanium.download_evidence(UUID, tmp_path / "e.zip")


async def test_module_status(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    mock.get(f"{TR}/status").mock(return_value=ok({"status": "ok"}))
    assert await tanium.module_status() == {"status": "ok"}


# --------------------------------------------------------------------------- errors and re-login


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (400, BadRequest, "bad_request"),
        (401, Unauthorized, "unauthorized"),
        (403, SessionExpired, "session_expired"),
        (404, NotFound, "not_found"),
        (429, RateLimited, "rate_limited"),
        (500, ServerError, "server_error"),
        (503, ServerError, "server_error"),
        (418, APIError, "api"),
    ],
)
async def test_error_statuses_map_to_the_tree(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, status: int, error: type[APIError], reason: str
) -> None:
    mock.get(f"{TR}/tasks/1").mock(return_value=httpx.Response(status, json={"text": f"{status} Something"}))
    with pytest.raises(error) as info:
        await tanium.get_task(1)
    assert type(info.value) is error and info.value.reason == reason
    assert info.value.status == status and info.value.text == f"{status} Something"
    assert str(info.value).count(":") >= 1 and "\n" not in str(info.value)


async def test_rate_limited_carries_retry_after(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    mock.get(f"{TR}/tasks/1").mock(
        return_value=httpx.Response(429, json={"text": "429 Too Many"}, headers={"Retry-After": "7"})
    )
    with pytest.raises(RateLimited) as info:
        await tanium.get_task(1)
    assert info.value.retry_after == 7.0
    assert "retry after 7 s" in str(info.value)


@pytest.mark.parametrize(("status", "header"), [(503, "4"), (500, "4"), (503, None), (418, "4")])
async def test_server_errors_carry_their_retry_after(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, status: int, header: str | None
) -> None:
    headers = {"Retry-After": header} if header is not None else {}
    mock.get(f"{TR}/tasks/1").mock(
        return_value=httpx.Response(status, json={"text": f"{status} Unavailable"}, headers=headers)
    )
    with pytest.raises(APIError) as info:
        await tanium.get_task(1)
    if status >= 500 and header is not None:
        assert isinstance(info.value, ServerError) and info.value.retry_after == 4.0
        assert "retry after 4 s" in str(info.value)
    else:  # no header, or a status whose Retry-After means nothing to a retry (418)
        assert info.value.retry_after is None
        assert "retry after" not in str(info.value)


def test_retry_after_parses_seconds_and_dates() -> None:
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0) == 60.0


async def test_non_json_error_body_keeps_the_raw_text(
    mock: respx.MockRouter, tanium: AsyncTaniumClient
) -> None:
    mock.get(f"{TR}/tasks/1").mock(return_value=httpx.Response(502, text="Bad gateway from nginx"))
    with pytest.raises(ServerError, match="Bad gateway from nginx"):
        await tanium.get_task(1)


async def test_malformed_json_and_wrong_content_type(
    mock: respx.MockRouter, tanium: AsyncTaniumClient
) -> None:
    route = mock.get(f"{TR}/tasks/1").mock(
        side_effect=plays(
            httpx.Response(200, content=b'{"data": {', headers={"content-type": "application/json"}),
            httpx.Response(200, html="<html></html>"),
        )
    )
    with pytest.raises(ProtocolError, match="not valid JSON") as info:
        await tanium.get_task(1)
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(ProtocolError, match="text/html, not JSON"):
        await tanium.get_task(1)
    assert route.call_count == 2


async def test_403_logs_in_again_once_and_retries(mock: respx.MockRouter) -> None:
    login = mock.post(f"{BASE}/api/v2/session/login").mock(
        side_effect=plays(ok({"data": {"session": "s1"}}), ok({"data": {"session": "s2"}}))
    )
    route = mock.get(f"{TR}/tasks/1").mock(
        side_effect=plays(httpx.Response(403, json={"text": "403 Forbidden"}), ok(task("STARTED")))
    )
    async with AsyncTaniumClient(BASE, username="u", password="p") as client:
        assert (await client.get_task(1)).status == "STARTED"
    assert login.call_count == 2
    assert [c.request.headers["session"] for c in route.calls] == ["s1", "s2"]


async def test_second_403_is_session_expired(mock: respx.MockRouter) -> None:
    login = mock.post(f"{BASE}/api/v2/session/login").mock(return_value=ok({"data": {"session": "s"}}))
    route = mock.get(f"{TR}/tasks/1").mock(return_value=httpx.Response(403, json={"text": "403 Forbidden"}))
    async with AsyncTaniumClient(BASE, username="u", password="p") as client:
        with pytest.raises(SessionExpired, match="logging in again did not help"):
            await client.get_task(1)
    assert (login.call_count, route.call_count) == (2, 2)


async def test_403_with_a_token_does_not_log_in(mock: respx.MockRouter, tanium: AsyncTaniumClient) -> None:
    login = mock.post(f"{BASE}/api/v2/session/login")
    route = mock.get(f"{TR}/tasks/1").mock(return_value=httpx.Response(403, json={"text": "403 Forbidden"}))
    with pytest.raises(SessionExpired, match="new API token"):
        await tanium.get_task(1)
    assert not login.called and route.call_count == 1


async def test_401_is_unauthorized_without_relogin(mock: respx.MockRouter) -> None:
    login = mock.post(f"{BASE}/api/v2/session/login").mock(return_value=ok({"data": {"session": "s"}}))
    mock.get(f"{TR}/tasks/1").mock(return_value=httpx.Response(401, json={"text": "401 Unauthorized"}))
    async with AsyncTaniumClient(BASE, username="u", password="p") as client:
        with pytest.raises(Unauthorized, match="check the API token"):
            await client.get_task(1)
    assert login.call_count == 1


@pytest.mark.parametrize(
    ("exc", "error", "match"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ConnectError, r"connection refused\): is the"),
        (httpx.ConnectError("[Errno -2] Name or service not known"), ConnectError, "host name not found"),
        (httpx.ConnectTimeout("timed out"), TimeoutError_, r"within 10 s \(connect timeout\)"),
        (httpx.ReadTimeout("timed out"), TimeoutError_, r"within 60 s \(read timeout\)"),
        (
            httpx.RemoteProtocolError("peer closed connection"),
            TransportError,
            "broke before a complete answer",
        ),
        (httpx.ReadError("reset by peer"), TransportError, "reset by peer"),
    ],
)
async def test_transport_errors_are_translated_and_chained(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, exc: Exception, error: type[Exception], match: str
) -> None:
    mock.get(f"{TR}/tasks/1").mock(side_effect=exc)
    with pytest.raises(error, match=match) as info:
        await tanium.get_task(1)
    assert info.value.__cause__ is exc
    assert BASE in str(info.value)


def test_tls_failure_is_a_tls_error() -> None:
    exc = httpx.ConnectError("handshake failed")
    exc.__cause__ = ssl.SSLCertVerificationError("CERTIFICATE_VERIFY_FAILED")
    err = transport_error(exc, url="https://h", timeout=httpx.Timeout(5.0))
    assert isinstance(err, TLSError) and err.reason == "tls"


def test_status_error_names_the_route_without_prefix() -> None:
    response = httpx.Response(404, json={"text": "404 Item Not Found"})
    err = status_error(response, method="GET", path="/plugin/products/threat-response/api/v1/tasks/9")
    assert str(err).startswith("GET /tasks/9 found nothing (404 Item Not Found)")


async def test_policy_seam_sees_every_request_and_can_rerun_it(mock: respx.MockRouter) -> None:
    seen: list[RequestContext] = []

    class RetryOnce:
        async def execute(self, context: RequestContext, attempt: Any) -> httpx.Response:
            seen.append(context)
            try:
                response: httpx.Response = await attempt()
            except ServerError:
                response = await attempt()
            return response

    route = mock.get(f"{TR}/tasks/1").mock(side_effect=plays(httpx.Response(503), ok(task("STARTED"))))
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=RetryOnce()) as client:
        assert (await client.get_task(1)).status == "STARTED"
    assert route.call_count == 2
    assert seen == [RequestContext("GET", "/plugin/products/threat-response/api/v1/tasks/1", True)]


async def test_repr_and_bad_url_never_show_the_token() -> None:
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        assert TOKEN not in repr(client)
    with pytest.raises(ValueError, match="not an http"):
        AsyncTaniumClient("ftp://x", token=TOKEN)


async def test_timeout_object_is_passed_to_httpx(mock: respx.MockRouter) -> None:
    route = mock.get(f"{TR}/status").mock(return_value=ok({}))
    timeout = httpx.Timeout(3.0, connect=1.0)
    async with AsyncTaniumClient(BASE, token=TOKEN, timeout=timeout) as client:
        await client.module_status()
    assert route.calls.last.request.extensions["timeout"] == timeout.as_dict()
