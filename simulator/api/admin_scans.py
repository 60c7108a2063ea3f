"""``POST /_sim/endpoints/{clientId}/scan``: make an endpoint's scanner scan now (control namespace).

Scans also happen on the scenario's schedule (``scan_interval_s``); this is the on-demand one that tests
and demos use to move an endpoint to its next scan: a new full trace and, from scan 2 on, a diff trace
(docs/cst-format.md). A stopped scanner makes no scans: 409. The admin bearer token is required.

>>> # curl -X POST -H "Authorization: Bearer $ADMIN" http://127.0.0.1:8080/_sim/endpoints/2914149683/scan
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from simulator.api.admin import require_admin
from simulator.api.http import JSONResponse, backend


async def scan(request: Request) -> Response:
    """Advance one endpoint to its next scan; answers the new scan's number, id, time and paths."""
    require_admin(request)
    return JSONResponse(backend(request).scan_now(str(request.path_params["client_id"])))
