"""The console's data routes beyond the existing control ones: request rates per operation, the named
scenarios, one endpoint's records and its trace. All need the admin bearer token; all read the journal
and the store, none hooks a vendor request.

>>> rates([], now=100.0, window_s=20, bucket_s=10)["operations"]
{}
"""

from __future__ import annotations

import re
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from simulator.api.admin import require_admin, runtime
from simulator.api.http import JSONResponse, backend, query_int
from simulator.errors import BadRequest
from simulator.ids import parse_id
from simulator.journal import Journal, JournalEntry

WINDOW_S = 300  # the rates chart covers the last five minutes ...
BUCKET_S = 10  # ... in ten-second steps
MAX_BUCKETS = 720
RECENT_PER_ENDPOINT = 50  # journal entries an endpoint's page shows


def failed(entry: JournalEntry) -> bool:
    """An error for the rates chart: a 4xx/5xx answer, or none at all (a reset or hang)."""
    return entry.status is None or entry.status >= 400


def rates(entries: list[JournalEntry], *, now: float, window_s: int, bucket_s: int) -> dict[str, Any]:
    """Requests and errors per operation in ``bucket_s`` steps over the last ``window_s`` seconds.

    >>> e = JournalEntry(1, 95.0, "GET", "/t/1", "get_task", 503, "r", "http_error", 0.0, None, 0)
    >>> rates([e], now=100.0, window_s=20, bucket_s=10)["operations"]["get_task"]
    {'requests': [0, 1], 'errors': [0, 1], 'total': 1, 'error_total': 1}
    """
    count = max(1, window_s // bucket_s)
    start = now - count * bucket_s
    ops: dict[str, dict[str, Any]] = {}
    series: dict[str, tuple[list[int], list[int]]] = {}  # operation -> (requests, errors): the hot loop
    last = count - 1
    for entry in entries:  # up to the journal's capacity every poll: kept lean (failed() inlined)
        at = entry.at
        if at < start:
            continue
        slot = int((at - start) // bucket_s)
        if slot > last:
            slot = last
        row = series.get(entry.operation)
        if row is None:
            row = series[entry.operation] = ([0] * count, [0] * count)
            ops[entry.operation] = {"requests": row[0], "errors": row[1]}
        row[0][slot] += 1
        status = entry.status
        if status is None or status >= 400:
            row[1][slot] += 1
    for totals in ops.values():
        totals["total"], totals["error_total"] = sum(totals["requests"]), sum(totals["errors"])
    return {"start": start, "now": now, "window_s": count * bucket_s, "bucket_s": bucket_s, "operations": ops}


KEEP_S = 3600  # per-second counts kept for the rates: an hour (a longer window knows nothing older)
READ_BATCH = 10_000


class RateCounter:
    """Requests and errors per operation and second, fed from the journal by :meth:`Journal.read_since`:
    each poll of ``/_sim/stats`` counts only the entries since the last one (not the whole journal again),
    and the counts outlive the journal's ring, so the chart covers its window even when the ring holds
    only the last seconds of a load test. ``known_since`` is the start of what is counted: the first entry
    counted, or the first after entries the ring dropped before a poll saw them.

    >>> journal = Journal()
    >>> for at, status in ((92.5, 200), (96.2, 503), (99.9, 200)):
    ...     journal.record(method="GET", path="/t", operation="get_task", status=status, at=at)
    >>> counter = RateCounter()
    >>> row = counter.window(journal, now=100.0, window_s=10, bucket_s=5)["operations"]["get_task"]
    >>> row["requests"], row["errors"], counter.cursor
    ([1, 2], [0, 1], 3)
    """

    def __init__(self) -> None:
        self.cursor = 0
        self.epoch = -1
        self.known_since: float | None = None
        self.seconds: dict[int, dict[str, list[int]]] = {}

    def _reset(self, epoch: int) -> None:
        self.cursor, self.epoch, self.known_since = 0, epoch, None
        self.seconds.clear()

    def update(self, journal: Journal, now: float) -> None:
        """Count the entries since the last update (from scratch after a clear)."""
        if journal.epoch != self.epoch:
            self._reset(journal.epoch)
        for _ in range(max(1, journal.capacity // READ_BATCH) + 1):
            entries, newest = journal.read_since(self.cursor, READ_BATCH)
            if newest < self.cursor:  # a shared journal cleared by another process: numbers from 1 again
                self._reset(journal.epoch)
                continue
            if not entries:
                break
            if entries[0].seq != self.cursor + 1 or self.known_since is None:  # first, or entries dropped
                self.known_since = entries[0].at
                if self.seconds:
                    self.seconds.clear()  # counts with a hole in them would read as a quiet moment
            seconds = self.seconds
            for entry in entries:  # the hot loop: every request once
                second = int(entry.at)
                row = seconds.get(second)
                if row is None:
                    row = seconds[second] = {}
                counts = row.get(entry.operation)
                if counts is None:
                    counts = row[entry.operation] = [0, 0]
                counts[0] += 1
                status = entry.status
                if status is None or status >= 400:
                    counts[1] += 1
            self.cursor = entries[-1].seq
        oldest = int(now) - KEEP_S
        for second in [sec for sec in self.seconds if sec < oldest]:
            del self.seconds[second]

    def window(self, journal: Journal, *, now: float, window_s: int, bucket_s: int) -> dict[str, Any]:
        """:func:`rates` over the counts (entries counted by the second they started in)."""
        self.update(journal, now)
        count = max(1, window_s // bucket_s)
        start = now - count * bucket_s
        ops: dict[str, dict[str, Any]] = {}
        for second, row in self.seconds.items():
            if second < start - 1 or second > now:
                continue
            slot = min(count - 1, max(0, int((second - start) // bucket_s)))
            for operation, (requests, errors) in row.items():
                series = ops.get(operation)
                if series is None:
                    series = ops[operation] = {"requests": [0] * count, "errors": [0] * count}
                series["requests"][slot] += requests
                series["errors"][slot] += errors
        for series in ops.values():
            series["total"], series["error_total"] = sum(series["requests"]), sum(series["errors"])
        return {
            "start": start,
            "now": now,
            "window_s": count * bucket_s,
            "bucket_s": bucket_s,
            "operations": ops,
        }


def _counter(request: Request) -> RateCounter:
    counter: RateCounter | None = getattr(request.app.state, "console_rates", None)
    if counter is None:
        counter = request.app.state.console_rates = RateCounter()
    return counter


async def stats(request: Request) -> Response:
    """``GET /_sim/stats``: requests and errors per operation over time (``?window_s=&bucket_s=``), and
    the evidence bytes (what ``/_sim/state`` does not count)."""
    require_admin(request)
    bucket_s = query_int(request, "bucket_s", BUCKET_S, minimum=1) or BUCKET_S
    window_s = query_int(request, "window_s", WINDOW_S, minimum=1) or WINDOW_S
    if window_s // bucket_s > MAX_BUCKETS:
        raise BadRequest(f"window_s / bucket_s must be at most {MAX_BUCKETS} steps")
    rt = runtime(request)
    journal = rt.journal
    counter = _counter(request)
    doc = counter.window(journal, now=rt.clock.now(), window_s=window_s, bucket_s=bucket_s)
    doc["journal"] = {
        "enabled": journal.enabled,
        "capacity": journal.capacity,
        "last_seq": counter.cursor,
        "oldest_at": counter.known_since,  # rates before it are not known (before the first poll, or a gap)
    }
    doc["evidence_bytes"] = backend(request).evidence_bytes()
    return JSONResponse(doc)


async def scenarios(request: Request) -> Response:
    """``GET /_sim/scenarios``: the named scenarios ``PUT /_sim/scenario?name=`` accepts, with their
    opening sentence, and the running one's name."""
    from simulator.scenarios import available, leading_comment, resolve_name

    require_admin(request)
    rows = []
    for name in available():
        text = resolve_name(name).read_text(encoding="utf-8", errors="replace")
        rows.append({"name": name, "description": leading_comment(text)})
    return JSONResponse({"running": runtime(request).scenario.name, "scenarios": rows})


def _scan(request: Request) -> int | None:
    raw = request.query_params.get("scan")
    if not raw:
        return None
    scan = parse_id(raw)
    if scan is None or scan < 1:
        raise BadRequest("scan must be a positive integer")
    return scan


async def endpoint_history(request: Request) -> Response:
    """``GET /_sim/endpoints/{client_id}/history``: one endpoint, its connections, tasks and evidence,
    and its last requests in the journal."""
    require_admin(request)
    sim = backend(request)
    endpoint = sim.endpoint_or_404(str(request.path_params["client_id"]))
    records = sim.client_records(endpoint.client_id)
    recent = [e.to_dict() for e in runtime(request).journal.query() if e.client_id == endpoint.client_id]
    return JSONResponse(
        {
            "endpoint": {
                "index": endpoint.index,
                "clientId": endpoint.client_id,
                "hostname": endpoint.hostname,
                "ip": endpoint.ip,
                "platform": endpoint.platform,
                "os": endpoint.os,
                "profile": endpoint.profile,
                "online": endpoint.online,
                "hasTrace": endpoint.has_trace,
                "scan": sim.current_scan(endpoint),
            },
            **records,
            "requests": recent[-RECENT_PER_ENDPOINT:],
        }
    )


async def endpoint_trace(request: Request) -> Response:
    """``GET /_sim/endpoints/{client_id}/trace``: the endpoint's trace file as generated (``?scan=`` a
    past one; default the current one), the bytes a collection of it should end with."""
    require_admin(request)
    sim = backend(request)
    endpoint = sim.endpoint_or_404(str(request.path_params["client_id"]))
    current = sim.current_scan(endpoint)
    scan = _scan(request) or current
    if scan > current:  # a future scan is generated through every scan before it: minutes, not a page
        raise BadRequest(f"scan must be at most {current}, the endpoint's current scan")
    trace = await to_thread.run_sync(sim.trace, endpoint, scan)
    shown = scan
    base = sim.files.trace_path(endpoint).replace("\\", "/").rsplit("/", 1)[-1]  # Windows paths too
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{endpoint.hostname}-scan{shown}-{base}")
    return Response(
        trace.data,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


__all__ = ["RateCounter", "endpoint_history", "endpoint_trace", "failed", "rates", "scenarios", "stats"]
