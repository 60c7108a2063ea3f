"""The control view of the world: ``GET``/``POST /_sim/clock``, ``GET /_sim/tasks/{task_id}`` and
``GET /_sim/endpoints`` (the fleet, a page at a time).

On the manual clock (``serve --clock manual``) the simulated time moves only when advanced, so a QA
runner driving a server it did not start (``tanium-sim qa --url``) waits minutes of polls and backoffs
in milliseconds, exactly as the in-process matrix does. ``/_sim/tasks/{id}`` reads a task without
counting as a poll and without the scenario's faults: the ground truth a check compares with.

>>> # curl -X POST -H "Authorization: Bearer $ADMIN" -d '{"advance_s": 30}' http://127.0.0.1:8080/_sim/clock
"""

from __future__ import annotations

import math

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from simulator.api.admin import require_admin
from simulator.api.http import JSONResponse, backend, query_int, read_object
from simulator.clock import StoreClock, iso_ms
from simulator.errors import BadRequest, Conflict
from simulator.state.fleet import Endpoint

MAX_ADVANCE_S = 366 * 24 * 3600.0  # one call moves the clock by at most a year
MAX_PAGE = 1000  # endpoints per page of GET /_sim/endpoints


def _clock_doc(request: Request) -> dict[str, object]:
    clock = backend(request).clock
    now = clock.now()
    mode = "manual" if isinstance(clock, StoreClock) else "system"
    return {"mode": mode, "now": now, "iso": iso_ms(now)}


async def clock_get(request: Request) -> Response:
    """``GET /_sim/clock``: the simulated time and whether it is the real one."""
    require_admin(request)
    return JSONResponse(_clock_doc(request))


async def clock_advance(request: Request) -> Response:
    """``POST /_sim/clock`` with ``{"advance_s": seconds}``: move the manual clock forward."""
    require_admin(request)
    body = await read_object(request)
    seconds = body.get("advance_s")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise BadRequest('send {"advance_s": <seconds>}: how far to move the clock forward')
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_ADVANCE_S):
        raise BadRequest(f"advance_s must be between 0 and {MAX_ADVANCE_S:.0f} seconds")
    clock = backend(request).clock
    if not isinstance(clock, StoreClock):
        raise Conflict(
            "this simulator runs on the real clock; start it with 'serve --clock manual' to move time"
        )
    clock.advance(float(seconds))
    return JSONResponse(_clock_doc(request))


async def task(request: Request) -> Response:
    """``GET /_sim/tasks/{task_id}``: a task as stored, not counted as a poll, no faults."""
    require_admin(request)
    return JSONResponse(backend(request).peek_task(str(request.path_params["task_id"])))


def _matches(endpoint: Endpoint, q: str) -> bool:
    """``q`` (lower case) in the hostname, clientId or IP, or naming the platform or profile."""
    return (
        q in endpoint.hostname.lower()
        or q in endpoint.client_id
        or q in endpoint.ip
        or q in (endpoint.platform.lower(), endpoint.profile.lower())
    )


async def endpoints(request: Request) -> Response:
    """``GET /_sim/endpoints?offset=&limit=&q=``: the fleet in index order, computed from the seed;
    ``q`` keeps the endpoints whose hostname, clientId or IP contains it, or whose platform or profile
    it names (``total`` then counts the matches)."""
    require_admin(request)
    fleet = backend(request).fleet
    offset = query_int(request, "offset", 0) or 0
    limit = min(query_int(request, "limit", 100, minimum=1) or 100, MAX_PAGE)
    q = (request.query_params.get("q") or "").strip().lower()
    if q:  # every endpoint is computed from the seed: a search walks the fleet, off the event loop
        found = await to_thread.run_sync(
            lambda: [i for i in range(fleet.size) if _matches(fleet.endpoint(i), q)]
        )
        indexes = found[offset : offset + limit]
        total = len(found)
    else:
        indexes = list(range(min(offset, fleet.size), min(offset + limit, fleet.size)))
        total = fleet.size
    rows = [
        {
            "index": e.index,
            "clientId": e.client_id,
            "hostname": e.hostname,
            "ip": e.ip,
            "platform": e.platform,
            "os": e.os,
            "profile": e.profile,
            "online": e.online,
            "hasTrace": e.has_trace,
        }
        for e in map(fleet.endpoint, indexes)
    ]
    return JSONResponse({"total": total, "offset": min(offset, total), "endpoints": rows})
