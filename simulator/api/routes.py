"""The routes: each operation of :mod:`simulator.operations` with its handler, and the indexed router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

from simulator import console
from simulator.api import admin, admin_scans, admin_world, platform
from simulator.api import platform_v2 as pv2
from simulator.api import threat_response as tr
from simulator.api.http import authenticate
from simulator.operations import OPERATIONS, Operation

Handler = Callable[[Request], Awaitable[Response]]

# Each operation of the table (simulator/operations.py) and the handler that answers it.
HANDLERS: dict[str, Handler] = {
    # platform sessions
    "login": platform.login,
    "login_get": platform.login,
    "validate": platform.validate,
    "logout": platform.logout,
    "current": platform.current,
    "auth": platform.auth,
    "console_config": platform.console_config,
    # discovery
    "system_status": platform.system_status,
    "dec_endpoints": platform.dec_endpoints,
    "client_count": pv2.client_count,
    # platform questions, sensors, packages, groups and actions (the scanner runbook)
    "parse_question": pv2.parse_question,
    "create_question": pv2.create_question,
    "get_question": pv2.get_question,
    "result_info_question": pv2.result_info_question,
    "result_data_question": pv2.result_data_question,
    "merged_result_data_question": pv2.merged_result_data_question,
    "get_sensor": pv2.get_sensor,
    "get_package": pv2.get_package,
    "create_group": pv2.create_group,
    "get_group_by_name": pv2.get_group_by_name,
    "get_group": pv2.get_group,
    "create_action": pv2.create_action,
    "create_saved_action": pv2.create_saved_action,
    "get_action": pv2.get_action,
    "action_stop": pv2.action_stop,
    "result_data_action": pv2.result_data_action,
    # Threat Response
    "connect": tr.connect,
    "list_connections": tr.list_connections,
    "close_connection": tr.close_connection,
    "delete_connection": tr.delete_connection,
    "get_connection": tr.get_connection,
    "request_file": tr.request_file,
    "file_info": tr.file_info,
    "file_list": tr.file_list,
    "get_task": tr.get_task,
    "list_tasks": tr.list_tasks,
    "list_evidence": tr.list_evidence,
    "delete_evidence": tr.delete_evidence_bulk,
    "download_evidence": tr.download_evidence,
    "get_evidence": tr.get_evidence,
    "delete_evidence_one": tr.delete_evidence_one,
    "module_status": tr.module_status,
    # control namespace
    "sim_health": admin.health,
    "sim_state": admin.state,
    "sim_reset": admin.reset,
    "sim_manifest": admin.manifest,
    "sim_scan": admin_scans.scan,
    "sim_scenario": admin.scenario_get,
    "sim_scenario_put": admin.scenario_put,
    "sim_faults": admin.faults_list,
    "sim_faults_add": admin.faults_add,
    "sim_faults_clear": admin.faults_delete,
    "sim_faults_delete": admin.faults_delete,
    "sim_requests": admin.requests,
    "sim_metrics": admin.metrics,
    "sim_openapi": admin.openapi,
    "sim_clock": admin_world.clock_get,
    "sim_clock_advance": admin_world.clock_advance,
    "sim_task": admin_world.task,
    "sim_endpoints": admin_world.endpoints,
    # the live console
    "sim_ui": console.page,
    "sim_ui_js": console.script,
    "sim_ui_css": console.stylesheet,
    "sim_events": console.events,
    "sim_stats": console.stats,
    "sim_scenarios": console.scenarios,
    "sim_endpoint_history": console.endpoint_history,
    "sim_endpoint_trace": console.endpoint_trace,
    "sim_qa_report": console.qa_report,
}


def _guarded(op: Operation) -> Handler:
    handler = HANDLERS[op.name]
    if not op.auth:
        return handler

    async def endpoint(request: Request) -> Response:
        authenticate(request)
        return await handler(request)

    endpoint.__name__ = op.name
    endpoint.__doc__ = handler.__doc__
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
    >>> [r.name for r in router.candidates("/plugin/products/threat-response/api/v1/tasks/12")]
    ['get_task']
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(list(routes))
        self._index: dict[str, list[tuple[int, Route]]] = {}
        for position, route in enumerate(self.routes):
            if isinstance(route, Route):
                literal = route.path.split("{", 1)[0]
                key = route.path if literal == route.path else literal[: literal.rfind("/") + 1]
                self._index.setdefault(key, []).append((position, route))

    def candidates(self, path: str) -> list[Route]:
        """The routes that may match ``path``, in table order (a few dict lookups; the fault middleware
        caches what vendor requests resolve to, so this runs once per path there)."""
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
