"""The recording proxy in-process (simulator/record/proxy.py): a client drives the proxy through
``httpx.ASGITransport`` and the proxy talks to an ``httpx.MockTransport`` upstream, so each test decides
exactly what the upstream answers and reads back what was forwarded and what was recorded.

The socket-level behaviours (streaming, Ctrl-C, a killed proxy, memory) are in tests/sockets/test_record.py.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from simulator.record import proxy as proxy_module
from simulator.record.har import HarWriter, iter_bodies, read_har
from simulator.record.proxy import RecordingProxy

pytestmark = pytest.mark.anyio
TOKEN = "token-0123456789abcdef"
Handler = Callable[[httpx.Request], httpx.Response]


class Upstream:
    """A mock upstream that keeps every request it was sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


async def through(
    tmp_path: Path,
    handler: Handler,
    method: str = "GET",
    path: str = "/api/v2/system_status",
    *,
    upstream_url: str = "https://tanium.example",
    inline_limit: int = 1 << 20,
    max_body: int | None = None,
    **request: object,
) -> tuple[httpx.Response, Upstream, Path]:
    """One request through a fresh proxy: the client's response, the upstream's log, the HAR."""
    upstream = Upstream(handler)
    har_path = tmp_path / "s.har"
    with HarWriter(har_path, inline_limit=inline_limit) as har:
        proxy = RecordingProxy(upstream_url, har, max_body=max_body, transport=httpx.MockTransport(upstream))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=proxy), base_url="http://proxy"
        ) as client:
            request.setdefault("headers", {"session": TOKEN})
            response = await client.request(method, path, **request)  # type: ignore[arg-type]
        await proxy.aclose()
    return response, upstream, har_path


async def test_a_request_is_forwarded_as_sent_and_recorded_without_its_token(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"computer_id": "1"}]}, headers={"x-upstream": "yes"})

    cid = "remote:web-01:123:2"
    response, upstream, har = await through(
        tmp_path,
        answer,
        "POST",
        f"/plugin/products/threat-response/api/v1/conns/{cid}/file/info/%2Fopt%2Fa%20b?x=1&y=%2F",
        upstream_url="https://tanium.example:8443/base/",
        json={"path": "/opt/a b"},
        headers={"session": TOKEN, "connection": "keep-alive, x-hop", "accept-encoding": "gzip"},
    )
    assert response.status_code == 200 and response.json() == {"data": [{"computer_id": "1"}]}
    assert response.headers["x-upstream"] == "yes"
    (sent,) = upstream.requests
    assert str(sent.url) == (
        f"https://tanium.example:8443/base/plugin/products/threat-response/api/v1/conns/{cid}"
        "/file/info/%2Fopt%2Fa%20b?x=1&y=%2F"
    )
    assert sent.headers["session"] == TOKEN  # the upstream gets the real credential
    assert sent.headers["accept-encoding"] == "identity"  # the recording holds bodies as they were
    assert "connection" not in sent.headers  # hop-by-hop headers are the proxy's own business
    assert json.loads(sent.content) == {"path": "/opt/a b"}
    (e,) = read_har(har)
    assert (e.method, e.status, e.url) == ("POST", 200, str(sent.url))
    assert e.header("session", response=False) == "<session-1>"
    assert json.loads(e.request_body) == {"path": "/opt/a b"}
    assert TOKEN not in har.read_text()


async def test_an_upstream_that_gives_no_answer_is_a_502_recorded_without_answer(tmp_path: Path) -> None:
    def hang_up(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    response, _, har = await through(tmp_path, hang_up)
    assert response.status_code == 502
    assert response.json()["text"].startswith("502 Bad Gateway: the upstream https://tanium.example gave no")
    (e,) = read_har(har)
    assert e.status == 0 and e.comment.startswith("no answer from the upstream: Server disconnected")


async def test_an_unreachable_upstream_is_a_502_recorded_as_such(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    response, _, har = await through(tmp_path, refuse)
    assert response.status_code == 502
    reason = "[Errno 111] Connection refused"
    assert response.json() == {
        "text": f"502 Bad Gateway: cannot reach the upstream https://tanium.example: {reason}"
    }
    (e,) = read_har(har)
    assert (e.status, e.comment) == (502, "upstream unreachable: [Errno 111] Connection refused")
    assert json.loads(e.response_body or b"") == response.json()


async def test_a_request_body_over_the_limit_is_refused_413(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxy_module, "REQUEST_BODY_LIMIT", 1000)
    response, upstream, har = await through(
        tmp_path, lambda r: httpx.Response(200), "POST", content=b"x" * 1001
    )
    assert response.status_code == 413
    assert response.json()["text"].startswith("413 Payload Too Large: ")
    assert upstream.requests == []
    (e,) = read_har(har)
    assert e.status == 413 and "not forwarded" in e.comment


async def test_a_compressed_answer_is_decoded_for_the_client_and_the_recording(tmp_path: Path) -> None:
    body = json.dumps({"data": {"session": "1-2-abcdef0123456789"}}).encode()

    def gzipped(request: httpx.Request) -> httpx.Response:
        headers = {"content-encoding": "gzip", "content-type": "application/json"}
        return httpx.Response(200, content=gzip.compress(body), headers=headers)

    response, _, har = await through(tmp_path, gzipped)
    assert response.content == body
    assert "content-encoding" not in response.headers
    (e,) = read_har(har)
    assert e.header("content-encoding") is None
    assert json.loads(e.response_body or b"") == {"data": {"session": "<session-2>"}}


async def test_a_binary_body_past_the_inline_limit_goes_to_a_side_file(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 40  # 10,240 bytes

    def zipped(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Chunks(blob, 1000), headers={"content-type": "application/zip"})

    response, _, har = await through(tmp_path, zipped, inline_limit=4096)
    assert response.content == blob
    (e,) = read_har(har)
    assert e.response_body == blob
    digest = hashlib.sha256(blob).hexdigest()
    assert [p.name for p in iter_bodies(har)] == [digest]
    assert sorted(p.name for p in (tmp_path / "s.bodies").iterdir()) == [digest]  # no partial file left


async def test_max_body_keeps_only_size_and_hash(tmp_path: Path) -> None:
    blob = b"z" * 5000

    def zipped(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Chunks(blob, 512), headers={"content-type": "application/zip"})

    response, _, har = await through(tmp_path, zipped, inline_limit=1024, max_body=2048)
    assert response.content == blob
    (e,) = read_har(har)
    assert (e.response_body, e.size, e.response_sha256) == (None, 5000, hashlib.sha256(blob).hexdigest())
    assert e.comment == "body of 5000 bytes left out of the recording (--max-body)"
    assert list(iter_bodies(har)) == []
    assert list((tmp_path / "s.bodies").iterdir()) == []  # the partial side file was removed


async def test_a_text_body_too_large_to_sanitize_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxy_module, "TEXT_LIMIT", 2000)
    text = json.dumps({"data": [{"session": TOKEN}] * 100}).encode()

    def big(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Chunks(text, 700), headers={"content-type": "application/json"})

    response, _, har = await through(tmp_path, big, inline_limit=1024)
    assert response.content == text  # the client gets it all the same
    (e,) = read_har(har)
    assert e.response_body is None and e.size == len(text)
    assert e.comment.endswith("(too large to sanitize)")
    assert TOKEN not in har.read_text() and list(iter_bodies(har)) == []


class Chunks(httpx.AsyncByteStream):
    """A response body that arrives in chunks of ``size`` bytes."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.size):
            yield self.data[start : start + self.size]


async def test_an_exchange_is_in_the_har_before_its_client_gets_the_last_chunk(tmp_path: Path) -> None:
    """So a proxy killed right after a client saw an answer still has that answer recorded."""
    har_path, seen = tmp_path / "s.har", []
    requests = iter([{"type": "http.request", "body": b"", "more_body": False}])
    answered = asyncio.Event()

    async def receive() -> dict[str, object]:
        message = next(requests, None)
        if message is None:
            await answered.wait()
            return {"type": "http.disconnect"}
        return message

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.body":
            seen.append((message["body"], message.get("more_body", False), len(read_har(har_path))))
            if not message.get("more_body", False):
                answered.set()

    with HarWriter(har_path) as har:
        upstream = httpx.MockTransport(lambda r: httpx.Response(200, stream=Chunks(b"abcdef", 2)))
        proxy = RecordingProxy("https://tanium.example", har, transport=upstream)
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/x",
            "raw_path": b"/x",
            "query_string": b"",
            "headers": [],
        }
        await proxy(scope, receive, send)  # type: ignore[arg-type]
        await proxy.aclose()
    assert seen == [(b"ab", True, 0), (b"cd", True, 0), (b"ef", False, 1)]
