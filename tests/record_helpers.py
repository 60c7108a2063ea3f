"""Recording a session without the recording proxy: an httpx transport that keeps every exchange.

What replay tests replay: wrap the transport a client uses (``httpx.ASGITransport(app)`` in-process,
``httpx.AsyncHTTPTransport()`` on a socket) in a :class:`RecordingTransport`, drive the client, then
:meth:`RecordingTransport.write` the exchanges as HAR with :class:`~simulator.record.har.HarWriter`.
Like the recording proxy's sanitizer, it writes ``<session-1>`` in place of the ``session`` header.

>>> recorder = RecordingTransport(httpx.ASGITransport(app=app))  # doctest: +SKIP
>>> async with httpx.AsyncClient(transport=recorder, base_url="http://sim") as http: ...  # doctest: +SKIP
>>> recorder.write(tmp_path / "session.har")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from client import CollectOptions, EndpointOutcome, collect_many
from simulator.record.har import Exchange, HarWriter

SESSION_PLACEHOLDER = "<session-1>"


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to ``inner`` and keeps each request with its whole answer, in finishing order.

    ``clock`` measures each exchange's ``time_ms`` (default: real time; a manual clock measures the
    simulated latency of an app on a virtual sleep).
    """

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started, wall = self.clock(), time.time()
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        raw = b"".join([chunk async for chunk in response.aiter_raw()])  # as sent: still encoded
        await response.aclose()
        headers = [
            (name, SESSION_PLACEHOLDER if name.lower() == "session" else value)
            for name, value in request.headers.multi_items()
        ]
        self.exchanges.append(
            Exchange(
                method=request.method,
                url=str(request.url),
                status=response.status_code,
                request_headers=headers,
                request_body=body,
                response_headers=list(response.headers.multi_items()),
                response_body=raw,
                time_ms=(self.clock() - started) * 1000,
                started=wall,
            )
        )
        return httpx.Response(response.status_code, headers=response.headers, content=raw, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def write(self, path: Path) -> Path:
        """The exchanges so far as a HAR file (side files for bodies over 1 MiB)."""
        with HarWriter(path) as har:
            for exchange in self.exchanges:
                har.add(exchange)
        return path


async def record_collect(options: CollectOptions, har: Path) -> list[EndpointOutcome]:
    """Run :func:`client.collect_many` (what ``tanium-sim collect`` runs) over a socket, recording it
    into ``har``; returns the outcomes."""
    recorder = RecordingTransport(httpx.AsyncHTTPTransport(verify=options.verify()))
    outcomes, fatal = await collect_many(options, transport=recorder)
    assert fatal is None, fatal
    recorder.write(har)
    return outcomes


__all__ = ["SESSION_PLACEHOLDER", "RecordingTransport", "record_collect"]
