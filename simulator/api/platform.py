"""Platform handlers: session login/validate/logout/current and fleet discovery."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulator.api.http import JSONResponse, authenticate, backend, query_int, read_json, read_object
from simulator.errors import BadRequest


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


async def system_status(request: Request) -> Response:
    options = _tanium_options(request)
    start = _option_int(options, "row_start", 0) or 0
    count = _option_int(options, "row_count", None)
    sim = backend(request)
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
    return JSONResponse({"data": rows})


async def dec_endpoints(request: Request) -> Response:
    sim = backend(request)
    params = request.query_params
    hostname, ip, client_id = params.get("hostname"), params.get("ip"), params.get("clientId")
    limit = query_int(request, "limit", 100) or 0
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


__all__ = ["current", "dec_endpoints", "login", "logout", "system_status", "validate"]
