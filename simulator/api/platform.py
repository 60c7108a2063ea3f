"""Platform handlers: session login/validate/logout/current, the legacy ``/auth`` login, the console
configuration clients read first, and fleet discovery (``system_status`` paged)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from simulator.api.http import (
    JSONResponse,
    authenticate,
    backend,
    header,
    query_int,
    read_json,
    read_object,
)
from simulator.errors import BadRequest, Unauthorized
from simulator.state.backend import ThreatResponseBackend

# What system_status rows say in `full_version` (simulator/state/backend.py) and console.json says.
SERVER_VERSION = "7.6.2.1218"


async def login(request: Request) -> Response:
    body: Any = await read_json(request, required=False)
    if body is None:  # older clients send GET with query parameters
        body = dict(request.query_params)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise BadRequest("username and password must be strings")
    sim = backend(request)
    record = sim.sessions.login(username, password, sim.now())
    return JSONResponse({"data": {"session": record.session}})


def _b64_text(value: str) -> str:
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized("credentials must be base64 text") from None


def _legacy_credentials(request: Request) -> tuple[str, str]:
    """``Authorization: Basic base64(user:password)``, else base64 ``username``/``password`` headers."""
    authorization = header(request, b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            username, colon, password = _b64_text(value).partition(":")
            if colon:
                return username, password
            raise Unauthorized("Basic credentials must encode 'username:password'")
    encoded_user, encoded_password = header(request, b"username"), header(request, b"password")
    if encoded_user is not None and encoded_password is not None:
        return _b64_text(encoded_user), _b64_text(encoded_password)  # INFERRED: older clients' headers
    raise Unauthorized("POST /auth needs 'Authorization: Basic ...' or base64 username/password headers")


async def auth(request: Request) -> Response:
    """``POST /auth``: the legacy login; the session string as a plain-text body (spec: public clients)."""
    username, password = _legacy_credentials(request)
    sim = backend(request)
    record = sim.sessions.login(username, password, sim.now())
    return Response(record.session, media_type="text/plain")


async def console_config(request: Request) -> Response:
    """``GET /config/console.json``: the server version clients read before they talk REST."""
    return JSONResponse({"serverVersion": SERVER_VERSION})


async def validate(request: Request) -> Response:
    body = await read_object(request)
    session = body.get("session")
    if not isinstance(session, str):
        raise BadRequest("session must be a string")
    sim = backend(request)
    sim.sessions.authenticate(session, sim.now())
    return JSONResponse({"data": {"session": session}})


async def logout(request: Request) -> Response:
    body = await read_object(request)
    session = body.get("session")
    if not isinstance(session, str):
        raise BadRequest("session must be a string")
    backend(request).sessions.logout(session)
    return JSONResponse({})


async def current(request: Request) -> Response:
    principal = authenticate(request)
    return JSONResponse(
        {"data": {"id": principal.user_id, "name": principal.username, "domain": "", "via": principal.via}}
    )


def _tanium_options(request: Request) -> dict[str, Any]:
    raw = request.headers.get("tanium-options")
    if not raw:
        return {}
    try:
        options = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("tanium-options must be a JSON object") from None
    if not isinstance(options, dict):
        raise BadRequest("tanium-options must be a JSON object")
    return options


def _option_int(options: dict[str, Any], key: str, default: int | None) -> int | None:
    value = options.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(f"tanium-options {key} must be a non-negative integer")
    return value


# INFERRED (the spec is silent on system_status paging): a request without `row_count` gets the first
# page, never the whole fleet; a larger `row_count` is cut to the largest page. Clients read the cache-info
# element's `filtered_row_count` (the fleet size) and `page_row_count` and ask for the next `row_start`.
SYSTEM_STATUS_PAGE_ROWS = 500
SYSTEM_STATUS_MAX_ROWS = 5_000
_INLINE_ROWS = 100  # pages up to this size are built on the event loop; larger ones in a worker thread


def _system_status_page(sim: ThreatResponseBackend, start: int, count: int) -> bytes:
    rows: list[Any] = list(sim.system_status(start, count))
    rows.append(
        {
            "cache_id": 1,
            "cache_row_count": sim.fleet.size,
            "filtered_row_count": sim.fleet.size,
            "page_row_count": len(rows),
            "expiration": "",
        }
    )
    return orjson.dumps({"data": rows})


async def system_status(request: Request) -> Response:
    """Fleet discovery, one page at a time (``tanium-options`` ``row_start``/``row_count``)."""
    options = _tanium_options(request)
    start = _option_int(options, "row_start", 0) or 0
    count = min(_option_int(options, "row_count", SYSTEM_STATUS_PAGE_ROWS) or 0, SYSTEM_STATUS_MAX_ROWS)
    sim = backend(request)
    if min(count, sim.fleet.size - start) <= _INLINE_ROWS:
        return JSONResponse.from_json(_system_status_page(sim, start, count))
    return JSONResponse.from_json(await to_thread.run_sync(_system_status_page, sim, start, count))


DEC_MAX_PAGE = 5000  # INFERRED: the most endpoints one DEC listing answers, like system_status's cap


async def dec_endpoints(request: Request) -> Response:
    sim = backend(request)
    params = request.query_params
    hostname, ip, client_id = params.get("hostname"), params.get("ip"), params.get("clientId")
    limit = min(
        query_int(request, "limit", 100) or 0, DEC_MAX_PAGE
    )  # a huge limit is one page, not the fleet
    offset = query_int(request, "offset", 0) or 0
    if hostname or ip or client_id:
        found = (
            sim.fleet.by_client_id(client_id)
            if client_id
            else sim.fleet.by_hostname(hostname)
            if hostname
            else sim.fleet.by_ip(ip or "")
        )
        matches = [found] if found is not None else []
        if found is not None and (
            (hostname and found.hostname != hostname.lower()) or (ip and found.ip != ip)
        ):
            matches = []
        return JSONResponse({"data": [sim.dec_endpoint(ep) for ep in matches]})
    stop = min(sim.fleet.size, offset + limit)
    return JSONResponse({"data": [sim.dec_endpoint(sim.fleet.endpoint(i)) for i in range(offset, stop)]})


__all__ = [
    "SERVER_VERSION",
    "auth",
    "console_config",
    "current",
    "dec_endpoints",
    "login",
    "logout",
    "system_status",
    "validate",
]
