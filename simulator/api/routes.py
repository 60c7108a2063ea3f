"""The route table, as data: every vendor operation with its method, path, handler and auth need.

Operation names (``connect``, ``get_task``, ...) are what scenarios, the request journal and metrics use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

from simulator.api import admin, admin_scans, platform
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
    Operation("sim_scan", "POST", "/_sim/endpoints/{client_id}/scan", admin_scans.scan, auth=False),
    Operation("sim_scenario", "GET", "/_sim/scenario", admin.scenario_get, auth=False),
    Operation("sim_scenario_put", "PUT", "/_sim/scenario", admin.scenario_put, auth=False),
    Operation("sim_faults", "GET", "/_sim/faults", admin.faults_list, auth=False),
    Operation("sim_faults_add", "POST", "/_sim/faults", admin.faults_add, auth=False),
    Operation("sim_faults_clear", "DELETE", "/_sim/faults", admin.faults_delete, auth=False),
    Operation("sim_faults_delete", "DELETE", "/_sim/faults/{name}", admin.faults_delete, auth=False),
    Operation("sim_requests", "GET", "/_sim/requests", admin.requests, auth=False),
    Operation("sim_metrics", "GET", "/_sim/metrics", admin.metrics, auth=False),
    Operation("sim_openapi", "GET", "/_sim/openapi.json", admin.openapi, auth=False),
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


class IndexedRouter(Router):
    """Starlette's router with the route for a request found by dictionary lookups, not a scan.

    Starlette tries every route's regex in order: with 40+ operations that was the largest cost of
    ``GET /tasks/{id}`` in a profile (loadtests/RESULTS.md). Routes are indexed by their literal path
    (static routes) or the literal text up to the last ``/`` before their first parameter; a request
    tries only the routes indexed under its path or one of its ``/``-prefixes, in table order, so the
    first full match is the one Starlette would pick. Anything else (405, 404, slash redirects) falls
    back to Starlette's own loop.

    >>> router = IndexedRouter(build_routes())
    >>> [r.name for r in router.candidates(f"{TR}/tasks/12")]
    ['get_task']
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(list(routes))
        self._index: dict[str, list[tuple[int, Route]]] = {}
        self._seen: dict[str, list[Route]] = {}  # path -> candidates, for paths polled again and again
        for position, route in enumerate(self.routes):
            if isinstance(route, Route):
                literal = route.path.split("{", 1)[0]
                key = route.path if literal == route.path else literal[: literal.rfind("/") + 1]
                self._index.setdefault(key, []).append((position, route))

    def candidates(self, path: str) -> list[Route]:
        cached = self._seen.get(path)
        if cached is None:
            if len(self._seen) >= 8192:  # bounded: ids in paths are unbounded
                self._seen.clear()
            cached = self._seen[path] = self._lookup(path)
        return cached

    def _lookup(self, path: str) -> list[Route]:
        found = list(self._index.get(path, ()))
        slash = path.find("/")
        while slash != -1:
            found.extend(self._index.get(path[: slash + 1], ()))
            slash = path.find("/", slash + 1)
        found.sort(key=lambda item: item[0])
        return [route for _, route in found]

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.candidates(get_route_path(scope)):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
