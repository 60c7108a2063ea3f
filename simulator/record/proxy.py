"""The recording proxy behind ``tanium-sim record``: a reverse proxy that writes every exchange to a HAR.

A client pointed at the proxy talks to the upstream (a real Tanium, or any tanium-sim); each request is
forwarded with :class:`httpx.AsyncClient`, its answer streamed back as it arrives, and the exchange, once
answered, sanitized (:mod:`simulator.record.sanitize`) and appended to the HAR (:class:`HarWriter`).

- Request bodies are read whole (Tanium's are small JSON), up to :data:`REQUEST_BODY_LIMIT`; a larger
  one is answered 413 and not forwarded.
- Response bodies stream through and are never held whole: a binary body (an evidence zip) stays in
  memory up to the HAR's inline limit, past it goes on to a side file (``<stem>.bodies/<sha256>``,
  written under a temporary name, renamed when whole) while it streams; with ``max_body`` a body past
  that size keeps only its size and SHA-256 (``content._omitted``). Text bodies (JSON) are buffered up
  to :data:`TEXT_LIMIT` to be sanitized; a larger one is left out, since it cannot be sanitized.
- The last chunk of a body reaches the client only after the exchange is in the HAR, so every exchange a
  client saw complete is in the file, even if the proxy is killed the next moment.
- The upstream is asked for uncompressed bodies (``Accept-Encoding: identity``), so the recording holds
  them as they were; a body compressed anyway is decoded and sent on without ``Content-Encoding``.
- An upstream that cannot be reached (refused, DNS, TLS) is answered ``502`` in the vendor envelope and
  recorded as such; one that takes the request and resets or hangs is answered ``502`` and recorded with
  status 0 (no answer); one that breaks off mid-body is passed on as a broken-off body. A client that
  disconnects mid-exchange stops it: what arrived so far is recorded, with a comment saying so.

>>> proxy = RecordingProxy("http://127.0.0.1:8080", HarWriter(tmp / "s.har"))  # doctest: +SKIP
>>> uvicorn.Server(proxy_config(proxy, "127.0.0.1", 8081)).run()  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import json
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from simulator.record.har import Exchange, HarWriter
from simulator.record.sanitize import Sanitizer, sanitizable

REQUEST_BODY_LIMIT = 16 << 20  # Tanium request bodies are small JSON; larger ones are refused (413)
TEXT_LIMIT = 64 << 20  # text bodies are buffered up to this to be sanitized; larger ones are left out
UPSTREAM_TIMEOUT = httpx.Timeout(connect=30.0, read=600.0, write=600.0, pool=None)
GRACEFUL_SHUTDOWN_S = 10  # Ctrl-C: how long answers in flight may finish before they are cut
# Hop-by-hop headers (RFC 9110 §7.6.1) are the proxy's own business on each side, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
    }
)

# Request headers the proxy sets itself (accept-encoding: identity, see the module docstring) or has
# already dealt with (expect: uvicorn answers 100-continue, the body is read whole before forwarding).
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "accept-encoding", "expect"}


def proxy_config(app: RecordingProxy, host: str, port: int, **extra: Any) -> uvicorn.Config:
    """uvicorn for the proxy: the upstream's ``Date``/``Server`` headers pass through, no access log
    (it would print URLs), lifespan on (it opens and closes the upstream client)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        lifespan="on",
        access_log=False,
        server_header=False,
        date_header=False,
        proxy_headers=False,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        **extra,
    )


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one); OSError when it cannot bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def envelope(status: int, phrase: str, detail: str) -> bytes:
    """A vendor error body: ``{"text": "502 Bad Gateway: ..."}``."""
    return json.dumps({"text": f"{status} {phrase}: {detail}"}).encode()


class BodyKeeper:
    """What the recording keeps of one body as it streams by: in memory, a side file, or size and hash.

    Bytes stay in memory up to ``memory_limit``; past it they go on to a side file when ``spill`` (the
    buffered ones first), else they are dropped; past ``keep_limit`` (``--max-body``) nothing is kept.
    The size and SHA-256 of the whole body are always counted.
    """

    def __init__(self, har: HarWriter, *, memory_limit: int, keep_limit: int | None, spill: bool) -> None:
        self.har = har
        self.memory_limit = memory_limit
        self.keep_limit = keep_limit
        self.spill = spill and har.side_files
        self.size = 0
        self._hash = hashlib.sha256()
        self._chunks: list[bytes] | None = []
        self._partial: Path | None = None
        self._file: Any = None

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._hash.update(chunk)
        if self.keep_limit is not None and self.size > self.keep_limit:
            self.discard()
        elif self._file is not None:
            self._file.write(chunk)
        elif self._chunks is not None:
            self._chunks.append(chunk)
            if self.size > self.memory_limit:
                if self.spill:
                    self._partial = self.har.partial_side_file()
                    fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    self._file = open(fd, "wb")  # noqa: SIM115 (closed in finish/discard)
                    self._file.writelines(self._chunks)
                self._chunks = None

    @property
    def kept(self) -> bool:
        return self._chunks is not None or self._file is not None

    def discard(self) -> None:
        """Keep nothing more of this body (size and hash still count)."""
        self._chunks = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._partial is not None:
            with contextlib.suppress(FileNotFoundError):
                self._partial.unlink()
            self._partial = None

    def finish(self, exchange: Exchange) -> dict[str, Any] | None:
        """Fill the exchange's response body; a ready HAR ``content`` when the body is in a side file."""
        digest = self._hash.hexdigest()
        if self._chunks is not None:
            exchange.response_body = b"".join(self._chunks)
            return None
        if self._file is not None and self._partial is not None:
            self._file.close()
            self._file = None
            content = self.har.keep_side_file(self._partial, digest, self.size, exchange.mime_type)
            self._partial = None
            return content
        exchange.response_body, exchange.response_size, exchange.response_sha256 = None, self.size, digest
        return None


class RecordingProxy:
    """The ASGI app: forwards every request to ``upstream`` and records each exchange into ``har``.

    ``verify`` is httpx's (an SSL context trusting a CA bundle, False for ``--insecure``); ``max_body``
    the size past which a body's bytes are not kept; ``transport`` replaces the network (tests).
    """

    def __init__(
        self,
        upstream: str,
        har: HarWriter,
        *,
        sanitizer: Sanitizer | None = None,
        verify: ssl.SSLContext | bool = True,
        max_body: int | None = None,
        timeout: httpx.Timeout = UPSTREAM_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.upstream = httpx.URL(upstream.rstrip("/"))
        self.har = har
        self.sanitizer = sanitizer or Sanitizer()
        self.max_body = max_body
        self._client_options: dict[str, Any] = {
            "verify": verify,
            "timeout": timeout,
            "transport": transport,
            "trust_env": False,  # no proxies from the environment between the recorder and the upstream
            "limits": httpx.Limits(max_connections=None, max_keepalive_connections=64),
        }
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(**self._client_options)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._exchange(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ----------------------------------------------------------------------- one exchange

    def _url(self, scope: Scope) -> httpx.URL:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        target = self.upstream.raw_path.split(b"?")[0].rstrip(b"/") + raw_path
        query = scope.get("query_string") or b""
        return self.upstream.copy_with(raw_path=target + (b"?" + query if query else b""))

    def _record(self, exchange: Exchange, content: dict[str, Any] | None = None) -> None:
        exchange.time_ms = (time.time() - exchange.started) * 1000
        self.har.add(self.sanitizer.clean(exchange), content=content)

    async def _exchange(self, scope: Scope, receive: Receive, send: Send) -> None:
        url = self._url(scope)
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in _NOT_FORWARDED]
        headers.append((b"accept-encoding", b"identity"))
        exchange = Exchange(scope["method"], str(url), started=time.time())
        body, state = await _read_body(receive, REQUEST_BODY_LIMIT)
        if state == "gone":
            return  # the client left before it finished sending: nothing was forwarded
        request = httpx.Request(scope["method"], url, headers=headers, content=body)
        exchange.request_headers = list(request.headers.multi_items())
        exchange.request_body = body
        if state == "too large":
            detail = f"the recording proxy takes request bodies up to {REQUEST_BODY_LIMIT >> 20} MiB"
            exchange.comment = f"request body over {REQUEST_BODY_LIMIT} bytes: not forwarded"
            await self._answer(exchange, send, 413, "Payload Too Large", detail)
            return
        flow = _Flow()
        work = asyncio.ensure_future(self._forward(request, exchange, send, flow))
        watcher = asyncio.ensure_future(_disconnect(receive))
        try:
            done, _ = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if work not in done and not flow.answered:  # the client went away mid-exchange
                flow.gone = True
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
            else:
                await work
        except asyncio.CancelledError:  # Ctrl-C and answers still in flight past the grace period
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work  # it records what it got
            # Handled: returning without the last message makes uvicorn close the connection, where
            # re-raising would print a traceback for what is an ordinary stop.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        finally:
            watcher.cancel()

    async def _answer(self, exchange: Exchange, send: Send, status: int, phrase: str, detail: str) -> None:
        """Answer the client with a vendor error of the proxy's own, recorded as such."""
        body = envelope(status, phrase, detail)
        exchange.status, exchange.status_text = status, phrase
        exchange.response_headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        exchange.response_body = body
        self._record(exchange)
        await _reply(send, status, body)

    async def _forward(self, request: httpx.Request, exchange: Exchange, send: Send, flow: _Flow) -> None:
        try:
            response = await self.client().send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            exchange.comment = f"upstream unreachable: {_reason(exc)}"
            detail = f"cannot reach the upstream {self.upstream}: {_reason(exc)}"
            flow.answered = True
            await self._answer(exchange, send, 502, "Bad Gateway", detail)
            return
        except httpx.HTTPError as exc:  # it took the request, then reset or hung: recorded without answer
            exchange.comment = f"no answer from the upstream: {_reason(exc)}"
            self._record(exchange)
            detail = f"the upstream {self.upstream} gave no answer: {_reason(exc)}"
            flow.answered = True
            await _reply(send, 502, envelope(502, "Bad Gateway", detail))
            return
        except asyncio.CancelledError:
            exchange.comment = f"{flow.who} before the upstream answered"
            self._record(exchange)
            raise
        try:
            await self._relay(response, exchange, send, flow)
        finally:
            await response.aclose()

    async def _relay(self, response: httpx.Response, exchange: Exchange, send: Send, flow: _Flow) -> None:
        exchange.status, exchange.status_text = response.status_code, response.reason_phrase
        encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
        dropped = HOP_BY_HOP | ({"content-encoding", "content-length"} if encoded else set())
        raw = [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in dropped]
        exchange.response_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
        text = sanitizable(exchange.mime_type)
        keeper = BodyKeeper(
            self.har,
            memory_limit=TEXT_LIMIT if text else self.har.inline_limit,
            keep_limit=self.max_body,
            spill=not text,  # a text body past TEXT_LIMIT cannot be sanitized: it is left out
        )
        await send({"type": "http.response.start", "status": response.status_code, "headers": raw})
        pending: bytes | None = None  # one chunk held back until the exchange is recorded
        try:
            async for chunk in response.aiter_bytes():
                keeper.write(chunk)
                if pending is not None:
                    await send({"type": "http.response.body", "body": pending, "more_body": True})
                pending = chunk
        except (httpx.HTTPError, asyncio.CancelledError) as exc:
            expected = response.headers.get("content-length")
            of = f" of {expected}" if expected and not encoded else ""
            if isinstance(exc, asyncio.CancelledError):
                exchange.comment = f"{flow.who} after {keeper.size}{of} bytes"
            else:
                exchange.comment = f"the upstream broke off after {keeper.size}{of} bytes: {_reason(exc)}"
            self._record(exchange, keeper.finish(exchange))
            if isinstance(exc, asyncio.CancelledError):
                raise
            flow.answered = True
            if pending is not None:
                await send({"type": "http.response.body", "body": pending, "more_body": True})
            return  # without the last message: uvicorn closes the connection, as the upstream did
        if not keeper.kept:
            why = "--max-body" if self.max_body is not None and keeper.size > self.max_body else ""
            why = why or ("too large to sanitize" if text else "--no-side-files")
            exchange.comment = f"body of {keeper.size} bytes left out of the recording ({why})"
        self._record(exchange, keeper.finish(exchange))
        flow.answered = True
        await send({"type": "http.response.body", "body": pending or b"", "more_body": False})


class _Flow:
    """Where one exchange stands: answered (its last message is going out) or its client gone."""

    def __init__(self) -> None:
        self.answered = False
        self.gone = False

    @property
    def who(self) -> str:
        return "the client disconnected" if self.gone else "the recording stopped"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


async def _reply(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, str]:
    """The request body and ``whole``; ``too large`` past ``limit`` (the rest unread); ``gone``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", "gone"
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", "too large"
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), "whole"


async def _disconnect(receive: Receive) -> None:
    """Returns when the client has gone (or, with uvicorn, once the whole answer is sent)."""
    message: Message = {}
    while message.get("type") != "http.disconnect":
        message = await receive()


__all__ = [
    "GRACEFUL_SHUTDOWN_S",
    "REQUEST_BODY_LIMIT",
    "TEXT_LIMIT",
    "BodyKeeper",
    "RecordingProxy",
    "envelope",
    "listen_socket",
    "proxy_config",
]
