"""``GET /_sim/events``: the request journal as Server-Sent Events, for the console's live journal.

The stream polls the journal's ``since`` cursor (every :data:`POLL_S`, reading only the entries after
it), so it sees every process's requests when several workers share a Redis store
(:class:`~simulator.shared.SharedJournal`) and adds no work to a vendor request; without a filter it
sends at most :data:`LIVE_BATCH` entries a poll (:func:`read_live`). An ``EventSource`` cannot send
headers and the admin token must never sit in a URL, so the page reads the stream with ``fetch()`` and
``Authorization: Bearer``; a stream ends after :data:`STREAM_S` and the page reconnects with ``since=``
its last id.

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
# A following stream with no filter sends at most this many entries per poll (500 a second): the page
# shows the newest 200. Under a load test the requests outrun any reader, so the stream jumps to the
# newest entries (``event: skipped``) instead of encoding every one: its cost stays flat, whatever the load.
LIVE_BATCH = 250
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def event_bytes(kind: str, data: Any, seq: int | None = None) -> bytes:
    """One Server-Sent Event."""
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n"


def entry_event(entry: JournalEntry) -> bytes:
    """:func:`event_bytes` of one journal entry, encoded straight from the entry (no dict on the way).

    >>> e = JournalEntry(3, 0.0, "GET", "/x", "get_task", 200, None, None, 0.0, None, 2)
    >>> entry_event(e) == event_bytes("request", e.to_dict(), 3)
    True
    """
    return b"id: %d\nevent: request\ndata: %s\n\n" % (entry.seq, entry.to_json())


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

    Each poll reads only the entries after the cursor (:meth:`Journal.read_since`; on a shared store one
    script on Redis), never the whole journal. A shared journal numbers entries from 1 again after a
    clear: when nothing is newer than the cursor and the newest number is below it, the stream starts
    over from 0 (and says so).
    """
    entries, newest = journal.read_since(cursor, MAX_BATCH)
    if entries:
        return entries, entries[-1].seq, False
    if newest < cursor:
        entries, _ = journal.read_since(0, MAX_BATCH)
        return entries, entries[-1].seq if entries else 0, True
    return [], cursor, False


def read_live(journal: Journal, cursor: int) -> tuple[list[JournalEntry], int, bool, int]:
    """:func:`read_since` for a live view: when more than :data:`LIVE_BATCH` entries wait after the cursor,
    only the newest :data:`LIVE_BATCH` are read; the fourth value counts the numbers jumped over."""
    newest = journal.read_since(cursor, 0)[1]  # the newest number only: nothing is read
    skipped = 0
    if newest - cursor > LIVE_BATCH:
        skipped, cursor = newest - LIVE_BATCH - cursor, newest - LIVE_BATCH
    entries, cursor, cleared = read_since(journal, cursor)
    if len(entries) > LIVE_BATCH:  # more arrived between the two reads, or a cleared journal restarts
        entries = entries[:LIVE_BATCH]
        cursor = entries[-1].seq
    return entries, cursor, cleared, skipped


async def events(request: Request) -> Response:
    """``GET /_sim/events``: journal entries as Server-Sent Events.

    ``?since=`` the last id seen (default: the last :data:`BACKLOG` entries first); ``?operation=``,
    ``?status=``, ``?client_id=`` keep only the matching entries.
    """
    require_admin(request)
    journal = runtime(request).journal
    keep = entry_filter(request)
    filtered = any(request.query_params.get(name) for name in ("operation", "status", "client_id"))
    since = query_int(request, "since", None)
    # default: the newest number, less the backlog
    cursor = max(0, journal.read_since(0, 0)[1] - BACKLOG) if since is None else since
    follow = "text/event-stream" in request.headers.get("accept", "")
    hello = {"enabled": journal.enabled, "capacity": journal.capacity, "follow": follow}

    def batch(entries: list[JournalEntry]) -> bytes:
        return b"".join(entry_event(e) for e in entries if keep(e))

    if not follow:
        entries, cursor, _ = read_since(journal, cursor)
        body = event_bytes("hello", hello) + batch(entries)
        return Response(body, media_type="text/event-stream", headers=STREAM_HEADERS)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal cursor
        yield b"retry: 1000\n\n" + event_bytes("hello", hello)
        started = last_sent = anyio.current_time()
        while True:
            skipped = 0
            if filtered:  # a filtered stream sends every match: reading on is cheap, only matches are encoded
                entries, cursor, cleared = read_since(journal, cursor)
            else:
                entries, cursor, cleared, skipped = read_live(journal, cursor)
            chunk = (event_bytes("reset", {"cursor": cursor}) if cleared else b"") + (
                event_bytes("skipped", {"count": skipped}) if skipped else b""
            )
            chunk += batch(entries)
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


__all__ = [
    "LIVE_BATCH",
    "POLL_S",
    "STREAM_S",
    "entry_event",
    "entry_filter",
    "event_bytes",
    "events",
    "read_live",
    "read_since",
]
