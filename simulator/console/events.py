"""``GET /_sim/events``: the request journal as Server-Sent Events, for the console's live journal.

The stream polls the journal's ``since`` cursor (every :data:`POLL_S`), so it sees every process's
requests when several workers share a Redis store (:class:`~simulator.shared.SharedJournal`) and adds
no work to a vendor request. An ``EventSource`` cannot send headers and the admin token must never sit
in a URL, so the page reads the stream with ``fetch()`` and ``Authorization: Bearer``; a stream ends
after :data:`STREAM_S` and the page reconnects with ``since=`` its last id.

Without ``Accept: text/event-stream`` the answer is the entries so far, once, in the same format
(``curl`` and in-process tests need an answer that ends).

>>> print(event_bytes("request", {"seq": 3}, 3).decode(), end="")
id: 3
event: request
data: {"seq":3}
<BLANKLINE>
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from simulator.api.admin import require_admin, runtime
from simulator.api.http import query_int
from simulator.journal import Journal, JournalEntry

POLL_S = 0.5  # how often a stream looks for new entries
HEARTBEAT_S = 5.0  # a comment line this often: proxies keep the stream, a gone client is noticed
STREAM_S = 60.0  # a stream ends after this; the page reconnects from its last id
BACKLOG = 100  # entries sent first when the page gives no ``since``
MAX_BATCH = 1000  # entries per poll at most (a burst beyond waits for the next poll)
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def event_bytes(kind: str, data: Any, seq: int | None = None) -> bytes:
    """One Server-Sent Event."""
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def entry_filter(request: Request) -> Callable[[JournalEntry], bool]:
    """What ``?operation=&status=&client_id=`` keep (the cursor still moves past the others)."""
    operation = request.query_params.get("operation") or None
    client_id = request.query_params.get("client_id") or None
    status = query_int(request, "status", None)

    def keep(entry: JournalEntry) -> bool:
        return (
            (operation is None or entry.operation == operation)
            and (client_id is None or entry.client_id == client_id)
            and (status is None or entry.status == status)
        )

    return keep


def read_since(journal: Journal, cursor: int) -> tuple[list[JournalEntry], int, bool]:
    """Entries after ``cursor``, the new cursor, and whether the journal was cleared meanwhile.

    A shared journal numbers entries from 1 again after a clear: when nothing is newer than the
    cursor and the newest entry is older, the stream starts over from 0 (and says so).
    """
    entries = journal.query(since=cursor)[:MAX_BATCH]
    if entries:
        return entries, entries[-1].seq, False
    newest = journal.query(limit=1)
    if newest and newest[0].seq < cursor:
        entries = journal.query(since=0)[:MAX_BATCH]
        return entries, entries[-1].seq if entries else 0, True
    return [], cursor, False


async def events(request: Request) -> Response:
    """``GET /_sim/events``: journal entries as Server-Sent Events.

    ``?since=`` the last id seen (default: the last :data:`BACKLOG` entries first); ``?operation=``,
    ``?status=``, ``?client_id=`` keep only the matching entries.
    """
    require_admin(request)
    journal = runtime(request).journal
    keep = entry_filter(request)
    since = query_int(request, "since", None)
    if since is None:
        first = journal.query(limit=BACKLOG)
        cursor = first[0].seq - 1 if first else 0
    else:
        cursor = since
    follow = "text/event-stream" in request.headers.get("accept", "")
    hello = {"enabled": journal.enabled, "capacity": journal.capacity, "follow": follow}

    def batch(entries: list[JournalEntry]) -> bytes:
        return b"".join(event_bytes("request", e.to_dict(), e.seq) for e in entries if keep(e))

    if not follow:
        entries, cursor, _ = read_since(journal, cursor)
        body = event_bytes("hello", hello) + batch(entries)
        return Response(body, media_type="text/event-stream", headers=STREAM_HEADERS)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal cursor
        yield b"retry: 1000\n\n" + event_bytes("hello", hello)
        started = last_sent = anyio.current_time()
        while True:
            entries, cursor, cleared = read_since(journal, cursor)
            chunk = (event_bytes("reset", {"cursor": cursor}) if cleared else b"") + batch(entries)
            now = anyio.current_time()
            if not chunk and now - last_sent >= HEARTBEAT_S:
                chunk = b": keep-alive\n\n"
            if chunk:
                yield chunk
                last_sent = now
            if now - started >= STREAM_S:
                return
            await anyio.sleep(POLL_S)  # real time, also on the manual clock: this is the page's refresh

    return StreamingResponse(stream(), media_type="text/event-stream", headers=STREAM_HEADERS)


__all__ = ["POLL_S", "STREAM_S", "entry_filter", "event_bytes", "events", "read_since"]
