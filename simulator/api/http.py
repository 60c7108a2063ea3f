"""HTTP plumbing shared by every handler: fast JSON responses, bounded body reading, auth, query ints."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from simulator.errors import BadRequest, PayloadTooLarge, Unauthorized, VendorError
from simulator.state.backend import ThreatResponseBackend
from simulator.state.sessions import Principal

log = logging.getLogger("tanium_sim")


class JSONResponse(Response):
    """JSON rendered with orjson (Tanium sends compact JSON).

    A plain answer (no extra headers, no background task, a status with a body) takes a short cut past
    Starlette's generic header building, with the same headers in the same order:
    ``content-length`` then ``content-type: application/json``.

    >>> JSONResponse(["a"]).raw_headers == Response(b'["a"]', media_type="application/json").raw_headers
    True
    """

    media_type = "application/json"

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        plain = headers is None and media_type is None and background is None
        if plain and 200 <= status_code < 300 and status_code != 204:
            self._plain(status_code, orjson.dumps(content))
            return
        super().__init__(content, status_code, headers, media_type, background)

    @classmethod
    def from_json(cls, body: bytes, status_code: int = 200) -> JSONResponse:
        """An answer whose body is JSON already (rendered and cached by the state layer): not parsed,
        not serialised again.

        >>> JSONResponse.from_json(b'["a"]').raw_headers == JSONResponse(["a"]).raw_headers
        True
        """
        if not 200 <= status_code < 300 or status_code == 204:
            raise ValueError("from_json answers a 2xx status with a body")
        response = cls.__new__(cls)
        response._plain(status_code, body)
        return response

    def _plain(self, status_code: int, body: bytes) -> None:
        """What Starlette's ``__init__`` sets for a plain answer, with its headers in its order."""
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]

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
    """The app's backend (``request.app.state.backend``), read from the state's dict.

    ``State`` answers attributes from ``__getattr__``, which Python calls only once the normal lookup
    has raised and caught an ``AttributeError``: about a microsecond, and a vendor request asks two or
    three times (its auth, its handler, its body limit).
    """
    state = request.app.state
    try:
        sim: ThreatResponseBackend = state._state["backend"]
    except (AttributeError, KeyError):  # not the State this was written against: the public way
        sim = state.backend
    return sim


def header(request: Request, name: bytes) -> str | None:
    """The first value of a header, by its lower-case name: ``request.headers.get(name)`` without
    building the headers object (ASGI servers pass header names in lower case)."""
    headers: list[tuple[bytes, bytes]] = request.scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def authenticate(request: Request) -> Principal:
    """The caller, from the ``session`` header (401 missing/invalid, 403 expired)."""
    sim = backend(request)
    return sim.sessions.authenticate(header(request, b"session"), sim.now())


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (413 beyond; ``ClientDisconnect`` if the client left).

    Reads the ASGI messages as ``request.stream()`` would, without its async generator; like it,
    marks the stream consumed (a second read raises instead of waiting for more messages).
    """
    declared = header(request, b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(f"bodies are limited to {limit} bytes")
        except ValueError:
            raise BadRequest("Content-Length is not a number") from None
    if request._stream_consumed:
        raise RuntimeError("Stream consumed")
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"bodies are limited to {limit} bytes")
                chunks.append(chunk)
            if not message.get("more_body", False):
                request._stream_consumed = True
                break
        elif kind == "http.disconnect":
            request._is_disconnected = True
            raise ClientDisconnect()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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
    "header",
    "no_auth_needed",
    "query_int",
    "read_json",
    "read_object",
    "require_str",
    "unexpected_response",
]
