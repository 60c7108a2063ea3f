"""Every operation the simulator answers, as data: name, method, path template and whether it needs a
valid ``session``. No handlers here (moto's ``urls.py``): scenarios, fault rules, the journal, metrics and
the OpenAPI document read operation names from this table; :mod:`simulator.api.routes` pairs each one
with its handler.

Operation names (``connect``, ``get_task``, ...) are what scenarios, the request journal and metrics use.

>>> [op.path for op in OPERATIONS if op.name == "get_task"]
['/plugin/products/threat-response/api/v1/tasks/{task_id}']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TR = "/plugin/products/threat-response/api/v1"
CONTROL_PREFIX = "/_sim/"


@dataclass(frozen=True)
class Operation:
    """One vendor or control operation."""

    name: str
    method: str
    path: str
    auth: bool = True  # needs a valid `session` header (control routes check the admin token themselves)

    @property
    def control(self) -> bool:
        """A route of the control namespace ``/_sim/`` (never seen by fault rules)."""
        return self.path.startswith(CONTROL_PREFIX)


OPERATIONS: tuple[Operation, ...] = (
    # platform sessions
    Operation("login", "POST", "/api/v2/session/login", auth=False),
    Operation("login_get", "GET", "/api/v2/session/login", auth=False),
    Operation("validate", "POST", "/api/v2/session/validate", auth=False),
    Operation("logout", "POST", "/api/v2/session/logout", auth=False),
    Operation("current", "GET", "/api/v2/session/current", auth=False),
    Operation("auth", "POST", "/auth", auth=False),  # legacy login: Basic credentials -> plain-text session
    Operation("console_config", "GET", "/config/console.json", auth=False),
    # discovery
    Operation("system_status", "GET", "/api/v2/system_status"),
    Operation("dec_endpoints", "GET", "/plugin/products/dec/v1/endpoints"),
    Operation("client_count", "GET", "/api/v2/client_count"),
    # platform questions, sensors, packages, groups and actions (the scanner runbook)
    Operation("parse_question", "POST", "/api/v2/parse_question"),
    Operation("create_question", "POST", "/api/v2/questions"),
    Operation("get_question", "GET", "/api/v2/questions/{id}"),
    Operation("result_info_question", "GET", "/api/v2/result_info/question/{id}"),
    Operation("result_data_question", "GET", "/api/v2/result_data/question/{id}"),
    Operation("merged_result_data_question", "GET", "/api/v2/merged_result_data/question/{id}"),
    Operation("get_sensor", "GET", "/api/v2/sensors/by-name/{name}"),
    Operation("get_package", "GET", "/api/v2/packages/by-name/{name}"),
    Operation("create_group", "POST", "/api/v2/groups"),
    Operation("get_group_by_name", "GET", "/api/v2/groups/by-name/{name}"),
    Operation("get_group", "GET", "/api/v2/groups/{id}"),
    Operation("create_action", "POST", "/api/v2/actions"),
    Operation("create_saved_action", "POST", "/api/v2/saved_actions"),
    Operation("get_action", "GET", "/api/v2/actions/{id}"),
    Operation("action_stop", "POST", "/api/v2/action_stops"),
    Operation("result_data_action", "GET", "/api/v2/result_data/action/{id}"),
    # Threat Response
    Operation("connect", "POST", f"{TR}/conns/connect"),
    Operation("list_connections", "GET", f"{TR}/conns"),
    Operation("close_connection", "DELETE", f"{TR}/conns/close/{{cid}}"),
    Operation("delete_connection", "DELETE", f"{TR}/conns/delete/{{cid}}"),
    Operation("get_connection", "GET", f"{TR}/conns/{{cid}}"),
    Operation("request_file", "POST", f"{TR}/conns/{{cid}}/file"),
    Operation("file_info", "GET", f"{TR}/conns/{{cid}}/file/info/{{path:path}}"),
    Operation("file_list", "GET", f"{TR}/conns/{{cid}}/file/list/{{path:path}}"),
    Operation("get_task", "GET", f"{TR}/tasks/{{task_id}}"),
    Operation("list_tasks", "GET", f"{TR}/tasks"),
    Operation("list_evidence", "GET", f"{TR}/filedownload"),
    Operation("delete_evidence", "DELETE", f"{TR}/filedownload"),
    Operation("download_evidence", "GET", f"{TR}/filedownload/data/{{uuid}}"),
    Operation("get_evidence", "GET", f"{TR}/filedownload/{{uuid}}"),
    Operation("delete_evidence_one", "DELETE", f"{TR}/filedownload/{{uuid}}"),
    Operation("module_status", "GET", f"{TR}/status"),
    # control namespace
    Operation("sim_health", "GET", "/_sim/health", auth=False),
    Operation("sim_state", "GET", "/_sim/state", auth=False),
    Operation("sim_reset", "POST", "/_sim/reset", auth=False),
    Operation("sim_manifest", "GET", "/_sim/endpoints/{client_id}/manifest", auth=False),
    Operation("sim_scan", "POST", "/_sim/endpoints/{client_id}/scan", auth=False),
    Operation("sim_scenario", "GET", "/_sim/scenario", auth=False),
    Operation("sim_scenario_put", "PUT", "/_sim/scenario", auth=False),
    Operation("sim_faults", "GET", "/_sim/faults", auth=False),
    Operation("sim_faults_add", "POST", "/_sim/faults", auth=False),
    Operation("sim_faults_clear", "DELETE", "/_sim/faults", auth=False),
    Operation("sim_faults_delete", "DELETE", "/_sim/faults/{name}", auth=False),
    Operation("sim_requests", "GET", "/_sim/requests", auth=False),
    Operation("sim_metrics", "GET", "/_sim/metrics", auth=False),
    Operation("sim_openapi", "GET", "/_sim/openapi.json", auth=False),
    Operation("sim_clock", "GET", "/_sim/clock", auth=False),
    Operation("sim_clock_advance", "POST", "/_sim/clock", auth=False),
    Operation("sim_task", "GET", "/_sim/tasks/{task_id}", auth=False),
    Operation("sim_endpoints", "GET", "/_sim/endpoints", auth=False),
    # the live console (simulator/console): the page needs no token, its data calls do
    Operation("sim_ui", "GET", "/_sim/ui", auth=False),
    Operation("sim_ui_js", "GET", "/_sim/ui/console.js", auth=False),
    Operation("sim_ui_css", "GET", "/_sim/ui/console.css", auth=False),
    Operation("sim_events", "GET", "/_sim/events", auth=False),
    Operation("sim_stats", "GET", "/_sim/stats", auth=False),
    Operation("sim_scenarios", "GET", "/_sim/scenarios", auth=False),
    Operation("sim_endpoint_history", "GET", "/_sim/endpoints/{client_id}/history", auth=False),
    Operation("sim_endpoint_trace", "GET", "/_sim/endpoints/{client_id}/trace", auth=False),
    Operation("sim_qa_report", "GET", "/_sim/qa-report", auth=False),  # serve --qa-report FILE
)

# What fault rules and latency can name: every operation outside the control namespace.
VENDOR_OPERATIONS: tuple[str, ...] = tuple(op.name for op in OPERATIONS if not op.control)


def _pattern(path: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name, _, converter = part[1:-1].partition(":")
            regex += f"(?P<{name}>.+)" if converter == "path" else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return re.compile(regex + r"\Z")


_PATTERNS = tuple((op, _pattern(op.path)) for op in OPERATIONS)


def match_operation(method: str, path: str) -> tuple[Operation, re.Match[str]] | None:
    """The operation of the table a request is, with the match of its path parameters (outside the app:
    recordings, replay, conformance; the app itself routes through Starlette). HEAD matches GET.

    >>> op, m = match_operation("GET", "/plugin/products/threat-response/api/v1/tasks/7")
    >>> op.name, m["task_id"]
    ('get_task', '7')
    """
    method = method.upper()
    for op, pattern in _PATTERNS:
        if op.method == method or (method == "HEAD" and op.method == "GET"):
            found = pattern.match(path)
            if found is not None:
                return op, found
    return None


__all__ = ["CONTROL_PREFIX", "OPERATIONS", "TR", "VENDOR_OPERATIONS", "Operation", "match_operation"]
