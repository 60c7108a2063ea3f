"""The route table, as data: every vendor operation with its method, path, handler and auth need.

Operation names (``connect``, ``get_task``, ...) are what scenarios, the request journal and metrics use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.api import admin, platform
from simulator.api import platform_v2 as pv2
from simulator.api import threat_response as tr
from simulator.api.http import authenticate

Handler = Callable[[Request], Awaitable[Response]]
TR = "/plugin/products/threat-response/api/v1"


@dataclass(frozen=True)
class Operation:
    """One vendor or control operation."""

    name: str
    method: str
    path: str
    handler: Handler
    auth: bool = True  # needs a valid `session` header (control routes check the admin token themselves)


OPERATIONS: tuple[Operation, ...] = (
    # platform sessions
    Operation("login", "POST", "/api/v2/session/login", platform.login, auth=False),
    Operation("login_get", "GET", "/api/v2/session/login", platform.login, auth=False),
    Operation("validate", "POST", "/api/v2/session/validate", platform.validate, auth=False),
    Operation("logout", "POST", "/api/v2/session/logout", platform.logout, auth=False),
    Operation("current", "GET", "/api/v2/session/current", platform.current, auth=False),
    # discovery
    Operation("system_status", "GET", "/api/v2/system_status", platform.system_status),
    Operation("dec_endpoints", "GET", "/plugin/products/dec/v1/endpoints", platform.dec_endpoints),
    # platform questions, sensors, packages, groups and actions (the scanner runbook)
    Operation("parse_question", "POST", "/api/v2/parse_question", pv2.parse_question),
    Operation("create_question", "POST", "/api/v2/questions", pv2.create_question),
    Operation("get_question", "GET", "/api/v2/questions/{id}", pv2.get_question),
    Operation("result_info_question", "GET", "/api/v2/result_info/question/{id}", pv2.result_info_question),
    Operation("result_data_question", "GET", "/api/v2/result_data/question/{id}", pv2.result_data_question),
    Operation("get_sensor", "GET", "/api/v2/sensors/by-name/{name}", pv2.get_sensor),
    Operation("get_package", "GET", "/api/v2/packages/by-name/{name}", pv2.get_package),
    Operation("create_group", "POST", "/api/v2/groups", pv2.create_group),
    Operation("get_group", "GET", "/api/v2/groups/{id}", pv2.get_group),
    Operation("create_action", "POST", "/api/v2/actions", pv2.create_action),
    Operation("create_saved_action", "POST", "/api/v2/saved_actions", pv2.create_saved_action),
    Operation("get_action", "GET", "/api/v2/actions/{id}", pv2.get_action),
    Operation("action_stop", "POST", "/api/v2/action_stops", pv2.action_stop),
    Operation("result_data_action", "GET", "/api/v2/result_data/action/{id}", pv2.result_data_action),
    # Threat Response
    Operation("connect", "POST", f"{TR}/conns/connect", tr.connect),
    Operation("list_connections", "GET", f"{TR}/conns", tr.list_connections),
    Operation("close_connection", "DELETE", f"{TR}/conns/close/{{cid}}", tr.close_connection),
    Operation("delete_connection", "DELETE", f"{TR}/conns/delete/{{cid}}", tr.delete_connection),
    Operation("get_connection", "GET", f"{TR}/conns/{{cid}}", tr.get_connection),
    Operation("request_file", "POST", f"{TR}/conns/{{cid}}/file", tr.request_file),
    Operation("file_info", "GET", f"{TR}/conns/{{cid}}/file/info/{{path:path}}", tr.file_info),
    Operation("file_list", "GET", f"{TR}/conns/{{cid}}/file/list/{{path:path}}", tr.file_list),
    Operation("get_task", "GET", f"{TR}/tasks/{{task_id}}", tr.get_task),
    Operation("list_tasks", "GET", f"{TR}/tasks", tr.list_tasks),
    Operation("list_evidence", "GET", f"{TR}/filedownload", tr.list_evidence),
    Operation("delete_evidence", "DELETE", f"{TR}/filedownload", tr.delete_evidence_bulk),
    Operation("download_evidence", "GET", f"{TR}/filedownload/data/{{uuid}}", tr.download_evidence),
    Operation("get_evidence", "GET", f"{TR}/filedownload/{{uuid}}", tr.get_evidence),
    Operation("delete_evidence_one", "DELETE", f"{TR}/filedownload/{{uuid}}", tr.delete_evidence_one),
    Operation("module_status", "GET", f"{TR}/status", tr.module_status),
    # control namespace
    Operation("sim_health", "GET", "/_sim/health", admin.health, auth=False),
    Operation("sim_state", "GET", "/_sim/state", admin.state, auth=False),
    Operation("sim_reset", "POST", "/_sim/reset", admin.reset, auth=False),
    Operation("sim_manifest", "GET", "/_sim/endpoints/{client_id}/manifest", admin.manifest, auth=False),
)


def _guarded(op: Operation) -> Handler:
    if not op.auth:
        return op.handler
    handler = op.handler

    async def endpoint(request: Request) -> Response:
        authenticate(request)
        return await handler(request)

    endpoint.__name__ = op.name
    return endpoint


def build_routes(operations: tuple[Operation, ...] = OPERATIONS) -> list[Route]:
    return [Route(op.path, _guarded(op), methods=[op.method], name=op.name) for op in operations]
