"""The ASGI application: ``create_app(settings)``.

``uvicorn --factory simulator.app:create_app`` works too (settings then come from ``TANIUM_SIM_*``).
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from simulator.api.http import error_response
from simulator.api.routes import IndexedRouter, build_routes
from simulator.clock import Clock
from simulator.errors import BadRequest, MethodNotAllowed, NotFound, VendorError, error_text
from simulator.settings import Settings
from simulator.state.backend import ThreatResponseBackend
from simulator.state.store import Store

log = logging.getLogger("tanium_sim")


async def _vendor_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VendorError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    mapped: VendorError
    if exc.status_code == 404:
        mapped = NotFound()
    elif exc.status_code == 405:
        mapped = MethodNotAllowed()
    elif exc.status_code == 400:
        mapped = BadRequest(str(exc.detail) if exc.detail else "")
    else:
        mapped = VendorError()
        mapped.status = exc.status_code
        mapped.phrase = error_text(exc.status_code).partition(" ")[2]
    return error_response(mapped)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # A bug in the simulator, never the client's fault: log it, answer in the vendor's shape.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(VendorError("the simulator hit an unexpected error; see its log"))


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
) -> Starlette:
    """Build the simulator app.

    >>> app = create_app(Settings(endpoints=10, seed=3))
    >>> app.state.backend.fleet.size
    10
    """
    settings = settings or Settings.from_env()
    backend = ThreatResponseBackend.build(settings, clock=clock, store=store)
    app = Starlette(
        routes=build_routes(),
        exception_handlers={
            VendorError: _vendor_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.router = IndexedRouter(app.router.routes)  # O(1) route lookup: see IndexedRouter
    app.state.settings = settings
    app.state.backend = backend
    return app
