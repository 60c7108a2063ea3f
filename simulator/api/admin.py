"""The control namespace ``/_sim/``: health (open), and behind the admin bearer token the world's state,
reset and ground truth. Kept apart from vendor paths so a real client can never hit it by accident."""

from __future__ import annotations

import hmac

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from simulator import __version__
from simulator.api.http import JSONResponse, backend
from simulator.errors import Unauthorized


def require_admin(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = backend(request).settings.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("control routes need 'Authorization: Bearer <admin token>'")


async def health(request: Request) -> Response:
    sim = backend(request)
    return JSONResponse({"status": "ok", "version": __version__, "endpoints": sim.fleet.size})


async def state(request: Request) -> Response:
    require_admin(request)
    return JSONResponse(backend(request).state_counts())


async def reset(request: Request) -> Response:
    require_admin(request)
    backend(request).reset()
    return JSONResponse({"reset": True})


async def manifest(request: Request) -> Response:
    require_admin(request)
    sim = backend(request)
    raw_scan = request.query_params.get("scan")
    scan = None
    if raw_scan:
        from simulator.errors import BadRequest

        if not raw_scan.isdigit() or int(raw_scan) < 1:
            raise BadRequest("scan must be a positive integer")
        scan = int(raw_scan)
    client_id = str(request.path_params["client_id"])
    result = await to_thread.run_sync(sim.manifest, client_id, scan)
    return JSONResponse(result)
