"""HTTP-level faults: vendor error answers, and spoiled real answers (empty, malformed, wrong type, corrupt).

Error answers use the vendor's envelope (``{"text": "503 Service Unavailable"}``) and, for 429/503,
``Retry-After``; they are sent instead of running the operation, so the operation changes nothing. The
session faults mean what a real server means by them, though: :func:`end_session` expires
(``session_expired``, 403) or forgets (``session_invalid``, 401) the login session the request carried,
so that session keeps failing after a new login, as on a real server. A ``status`` fault of 401 or 403
is only an answer (a proxy's, say) and leaves every session alone. The other faults run the operation
and then spoil its answer, the way a broken proxy or disk would.

>>> start, body = error_answer(Fault("status", status=429, retry_after_s=2))
>>> start["status"], body, dict(start["headers"])[b"retry-after"]
(429, b'{"text":"429 Too Many Requests: injected by the scenario"}', b'2')
"""

from __future__ import annotations

import math
import random
from typing import Any

import orjson

from simulator.errors import error_text
from simulator.faults.rules import Fault
from simulator.state.sessions import expire_session, invalidate_session
from simulator.state.store import Store

Message = dict[str, Any]
Headers = list[tuple[bytes, bytes]]


def error_answer(fault: Fault) -> tuple[Message, bytes]:
    """The response start and body for a ``status``/``session_invalid``/``session_expired`` fault."""
    if fault.type == "session_invalid":
        status, detail = 401, fault.text or "invalid session"
    elif fault.type == "session_expired":
        status, detail = 403, fault.text or "session expired"
    else:
        status, detail = int(fault.status or 500), fault.text or "injected by the scenario"
    body = orjson.dumps({"text": error_text(status, detail)})
    headers: Headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if fault.retry_after_s is not None and status in (429, 503):
        headers.append((b"retry-after", f"{math.ceil(fault.retry_after_s)}".encode()))
    return {"type": "http.response.start", "status": status, "headers": headers}, body


def end_session(fault: Fault, store: Store | None, session: str | None, now: float) -> bool:
    """End the login ``session`` a ``session_expired``/``session_invalid`` fault answers for.

    Expired at ``now`` (403 from then on) or forgotten (401), in the store, so every process sharing it
    agrees. True when a session was ended; a request without a session header, with an unknown one or
    with the API token (configured, not a login session), and every other fault type, change nothing.

    >>> end_session(Fault("session_expired"), None, "1-1-ab", now=0.0)
    False
    """
    if store is None or not session:
        return False
    if fault.type == "session_expired":
        return expire_session(store, session, now)
    if fault.type == "session_invalid":
        return invalidate_session(store, session)
    return False


def with_length(start: Message, length: int, *, content_type: bytes | None = None) -> Message:
    """``start`` with its Content-Length (and optionally Content-Type) replaced."""
    headers: Headers = []
    for name, value in start.get("headers", []):
        lower = name.lower()
        if lower == b"content-length" or (content_type is not None and lower == b"content-type"):
            continue
        headers.append((name, value))
    headers.append((b"content-length", str(length).encode()))
    if content_type is not None:
        headers.append((b"content-type", content_type))
    return {**start, "headers": headers}


def spoil(fault: Fault, start: Message, body: bytes, rng: random.Random) -> tuple[Message, bytes]:
    """Apply an ``empty``/``malformed_json``/``content_type``/``corrupt`` fault to a captured answer."""
    if fault.type == "empty":
        return with_length({**start, "status": fault.status or start["status"]}, 0), b""
    if fault.type == "malformed_json":
        # Cut mid-document: always invalid JSON, whatever the original was.
        cut = body[: max(1, len(body) // 2)] if len(body) > 1 else b"{"
        if cut.rstrip().endswith((b"}", b"]")):
            cut = cut.rstrip()[:-1] or b"{"
        return with_length(start, len(cut)), cut
    if fault.type == "content_type":
        return with_length(start, len(body), content_type=fault.content_type.encode()), body
    if fault.type == "corrupt":
        return start, corrupt(body, fault.bytes, rng)
    return start, body


def corrupt(body: bytes, count: int, rng: random.Random) -> bytes:
    """``body`` with ``count`` bytes flipped at positions drawn from ``rng`` (same stream, same bytes)."""
    if not body:
        return body
    data = bytearray(body)
    for _ in range(count):
        pos = rng.randrange(len(data))
        data[pos] ^= 0xFF
    return bytes(data)


def truncation_point(fault: Fault, size: int) -> int:
    """How many bytes a ``truncate`` fault lets through (always fewer than ``size``)."""
    keep = fault.at_byte if fault.at_byte is not None else int(size * (fault.fraction or 0.0))
    return max(0, min(keep, size - 1))


__all__ = ["corrupt", "end_session", "error_answer", "spoil", "truncation_point", "with_length"]
