"""Platform API v2 handlers for the scanner runbook: parse, call the platform backend, wrap in ``{"data"}``.

The platform backend shares the app's Threat Response backend (store, clock, fleet); it is built on first
use and kept on ``app.state.platform``, where a test or the scenario engine may put one with its own
:class:`~simulator.platform.timing.PlatformTiming` beforehand.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator.api.http import JSONResponse, backend, read_object
from simulator.api.platform import _option_int, _tanium_options
from simulator.platform.backend import PlatformBackend


def platform(request: Request) -> PlatformBackend:
    """The app's platform backend (created on first use)."""
    state = request.app.state
    existing: PlatformBackend | None = getattr(state, "platform", None)
    if existing is None or existing.core is not backend(request):
        existing = state.platform = PlatformBackend(backend(request))
    return existing


def _data(value: Any) -> JSONResponse:
    return JSONResponse({"data": value})


def _param(request: Request, name: str) -> str:
    return str(request.path_params[name])


def _with_cache_info(items: list[Any]) -> list[Any]:
    """List bodies end with a non-object "cache info" element that clients drop (spec: conventions)."""
    info = {
        "cache_id": 0,
        "cache_row_count": len(items),
        "filtered_row_count": len(items),
        "page_row_count": len(items),
        "expiration": "",
    }
    return [*items, info]


async def parse_question(request: Request) -> Response:
    return _data(_with_cache_info(platform(request).parse_question(await read_object(request))))


async def create_question(request: Request) -> Response:
    return _data(platform(request).create_question(await read_object(request)))


async def get_question(request: Request) -> Response:
    return _data(platform(request).get_question(_param(request, "id")))


async def result_info_question(request: Request) -> Response:
    return _data(platform(request).result_info(_param(request, "id")))


async def result_data_question(request: Request) -> Response:
    options = _tanium_options(request)
    start = _option_int(options, "row_start", 0) or 0
    count = _option_int(options, "row_count", None)
    return _data(platform(request).result_data(_param(request, "id"), start, count))


async def merged_result_data_question(request: Request) -> Response:
    """``GET /api/v2/merged_result_data/question/{id}``: ``result_data``'s envelope, sub-questions merged."""
    options = _tanium_options(request)
    start = _option_int(options, "row_start", 0) or 0
    count = _option_int(options, "row_count", None)
    return _data(platform(request).merged_result_data(_param(request, "id"), start, count))


async def get_sensor(request: Request) -> Response:
    return _data(platform(request).get_sensor(_param(request, "name")))


async def get_package(request: Request) -> Response:
    return _data(platform(request).get_package(_param(request, "name")))


async def create_group(request: Request) -> Response:
    return _data(platform(request).create_group(await read_object(request)))


async def get_group(request: Request) -> Response:
    return _data(platform(request).get_group(_param(request, "id")))


async def get_group_by_name(request: Request) -> Response:
    """``GET /api/v2/groups/by-name/{name}``: a group by name (``All Computers`` included)."""
    return _data(platform(request).get_group_by_name(_param(request, "name")))


async def client_count(request: Request) -> Response:
    """``GET /api/v2/client_count``: the number of registered endpoints, ``{"data": N}``."""
    return _data(backend(request).fleet.size)


async def create_action(request: Request) -> Response:
    return _data(platform(request).create_action(await read_object(request)))


async def create_saved_action(request: Request) -> Response:
    return _data(platform(request).create_saved_action(await read_object(request)))


async def get_action(request: Request) -> Response:
    return _data(platform(request).get_action(_param(request, "id")))


async def action_stop(request: Request) -> Response:
    return _data(platform(request).stop_action(await read_object(request)))


async def result_data_action(request: Request) -> Response:
    return _data(platform(request).action_result_data(_param(request, "id")))


__all__ = [
    "action_stop",
    "client_count",
    "create_action",
    "create_group",
    "create_question",
    "create_saved_action",
    "get_action",
    "get_group",
    "get_group_by_name",
    "get_package",
    "get_question",
    "get_sensor",
    "merged_result_data_question",
    "parse_question",
    "platform",
    "result_data_action",
    "result_data_question",
    "result_info_question",
]
