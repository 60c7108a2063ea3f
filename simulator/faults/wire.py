"""Wire faults: connection reset, hang, truncated body and dribble, done on the real socket.

They need the connection's asyncio transport, which ASGI does not expose: :class:`TransportHttpToolsProtocol`
and :class:`TransportH11Protocol` (uvicorn protocol subclasses, passed as ``uvicorn.Config(http=...)``)
put it in each request's ``scope["state"]`` under :data:`TRANSPORT_KEY`. In-process (ASGITransport)
there is no socket; the functions then raise the error httpx raises for the same fault on a socket
(``ReadError`` for a reset, ``ReadTimeout`` for a hang, ``RemoteProtocolError`` for a truncation), the
nearest faithful stand-in.

>>> config = uvicorn.Config(app, host="127.0.0.1", port=0, http=TransportHttpToolsProtocol)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is part of uvicorn[standard]
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

TRANSPORT_KEY = "tanium_sim.transport"
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


def _expose(protocol: Any, transport: asyncio.BaseTransport) -> None:
    # Each request's scope["state"] is a copy of app_state: give this connection its own copy.
    protocol.app_state = {**protocol.app_state, TRANSPORT_KEY: transport}


class TransportH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing the transport to the app (see the module docstring)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _expose(self, transport)


if HttpToolsProtocol is not None:

    class TransportHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, exposing the transport to the app."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            _expose(self, transport)

    FAST_PROTOCOL: type[asyncio.Protocol] = TransportHttpToolsProtocol
else:  # pragma: no cover
    FAST_PROTOCOL = TransportH11Protocol


def transport_of(scope: dict[str, Any]) -> asyncio.Transport | None:
    state = scope.get("state")
    transport = state.get(TRANSPORT_KEY) if isinstance(state, dict) else None
    # uvloop's transports are not asyncio.Transport subclasses: check for what we use instead.
    return transport if hasattr(transport, "abort") and hasattr(transport, "get_extra_info") else None


async def until_disconnect(receive: Receive, limit: float | None = None) -> bool:
    """Drain ``receive`` until the client goes away (True) or ``limit`` seconds pass (False)."""

    async def drain() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(drain(), limit)
    except TimeoutError:
        return False
    return True


async def reset(scope: dict[str, Any], receive: Receive) -> None:
    """Answer with a TCP RST: SO_LINGER 0, then abort the transport."""
    transport = transport_of(scope)
    if transport is None:
        import httpx

        raise httpx.ReadError("simulated connection reset by peer")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await until_disconnect(receive, 5.0)


async def hang(scope: dict[str, Any], receive: Receive, max_s: float) -> None:
    """Accept the request and never answer: return when the client gives up (or after ``max_s``)."""
    transport = transport_of(scope)
    if transport is None:
        import httpx

        raise httpx.ReadTimeout("simulated hang: the server never answered")
    if not await until_disconnect(receive, max_s):
        transport.abort()  # bounded: a forgotten client must not pin the server forever
        await until_disconnect(receive, 5.0)


async def truncate(
    scope: dict[str, Any], receive: Receive, send: Send, start: Message, body: bytes, keep: int
) -> int:
    """Declare the full Content-Length, send ``keep`` bytes, close. Returns the bytes sent."""
    transport = transport_of(scope)
    keep = max(0, min(keep, len(body) - 1)) if body else 0
    if transport is None:
        import httpx

        raise httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body: "
            f"received {keep} bytes, expected {len(body)}"
        )
    await send(start)
    if keep:
        await send({"type": "http.response.body", "body": body[:keep], "more_body": True})
    transport.close()  # FIN after the buffered bytes: the client sees a short body
    await until_disconnect(receive, 5.0)
    return keep


async def dribble(
    send: Send, start: Message, body: bytes, chunk_bytes: int, interval_s: float, sleep: Sleep
) -> int:
    """Send the real answer ``chunk_bytes`` at a time, ``interval_s`` apart. Returns the bytes sent."""
    await send(start)
    sent = 0
    while sent < len(body):
        chunk = body[sent : sent + chunk_bytes]
        sent += len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": sent < len(body)})
        if sent < len(body):
            await sleep(interval_s)
    if not body:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    return sent


__all__ = [
    "FAST_PROTOCOL",
    "TRANSPORT_KEY",
    "TransportH11Protocol",
    "dribble",
    "hang",
    "reset",
    "transport_of",
    "truncate",
    "until_disconnect",
]
