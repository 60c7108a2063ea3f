"""HTTP plumbing shared by every handler: fast JSON responses, bounded body reading, auth, query ints."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulator.errors import BadRequest, PayloadTooLarge, Unauthorized, VendorError
from simulator.state.backend import ThreatResponseBackend
from simulator.state.sessions import Principal

log = logging.getLogger("tanium_sim")


class JSONResponse(Response):
    """JSON rendered with orjson (Tanium sends compact JSON)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: VendorError) -> JSONResponse:
    """The vendor's error envelope: ``{"text": "<code> <phrase>[: detail]"}``."""
    return JSONResponse({"text": error.text}, status_code=error.status, headers=error.headers)


def unexpected_response(scope: Mapping[str, Any]) -> JSONResponse:
    """A bug in the simulator, never the client's fault: log it (call inside ``except``), answer 500 in the
    vendor's envelope."""
    log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
    return error_response(VendorError("the simulator hit an unexpected error; see its log"))


def backend(request: Request) -> ThreatResponseBackend:
    sim: ThreatResponseBackend = request.app.state.backend
    return sim


def authenticate(request: Request) -> Principal:
    """The caller, from the ``session`` header (401 missing/invalid, 403 expired)."""
    sim = backend(request)
    return sim.sessions.authenticate(request.headers.get("session"), sim.now())


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(f"bodies are limited to {limit} bytes")
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"bodies are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request body as JSON (400 when it is not JSON; 413 when it is too large)."""
    raw = await read_body(request, backend(request).settings.max_body_bytes)
    if not raw.strip():
        if required:
            raise BadRequest("a JSON body is required")
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("body is not valid JSON") from None


async def read_object(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def query_int(request: Request, name: str, default: int | None, *, minimum: int = 0) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw[:40]!r}") from None
    if value < minimum:
        raise BadRequest(f"{name} must be >= {minimum}")
    return value


def require_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} must be a non-empty string")
    return value


def no_auth_needed(request: Request) -> None:
    """Marker for routes that take no credential (login, health)."""


__all__ = [
    "JSONResponse",
    "Unauthorized",
    "authenticate",
    "backend",
    "error_response",
    "no_auth_needed",
    "query_int",
    "read_json",
    "read_object",
    "require_str",
    "unexpected_response",
]
