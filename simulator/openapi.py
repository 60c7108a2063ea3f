"""``GET /_sim/openapi.json``: an OpenAPI 3.1 document built from the route table (never hand-kept).

Every :class:`~simulator.operations.Operation` becomes one path item with its operation name as
``operationId``; :data:`~simulator.openapi_schemas.SHAPES` adds what the table does not say (query
parameters, the ``tanium-options`` header, request and response bodies, the handler's own errors).
The rest follows from the table, so it cannot drift from the routes:

- security: the vendor's ``session`` header for vendor routes that need one, ``Authorization: Bearer
  <admin token>`` for the control namespace (``/_sim/health`` aside);
- statuses: 401/403 on every vendor route (a bad or expired session, or a scenario's session fault),
  429/503 there too (what scenarios inject; ``Retry-After`` with them), 404 where the path names a
  record, 400/413 where a body is read, 401 on guarded control routes.

An operation with no shape is still listed, marked ``x-undocumented``; ``missing_shapes`` names them
(a unit test keeps it empty). Summaries come from the short table below or the handlers' docstrings.

>>> from simulator.operations import OPERATIONS
>>> doc = build_openapi(OPERATIONS)
>>> doc["paths"]["/plugin/products/threat-response/api/v1/tasks/{task_id}"]["get"]["operationId"]
'get_task'
>>> sorted(doc["paths"]["/_sim/reset"]["post"]["responses"])
['200', '400', '401']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from simulator import __version__
from simulator.errors import PHRASES
from simulator.openapi_schemas import COMPONENTS, SHAPES, OperationShape, Schema, ref

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?}")
SUMMARIES = {
    "login": "Log in with username/password; returns a session string",
    "connect": "Open a live connection to an endpoint; answers a bare JSON string",
    "list_connections": "List connections (a bare array)",
    "get_connection": "One connection",
    "close_connection": "Close a connection (status becomes disconnected)",
    "delete_connection": "Delete a connection record",
    "request_file": "Ask the endpoint for a file; returns a task",
    "file_info": "Stat a file on the endpoint",
    "file_list": "List a directory on the endpoint",
    "get_task": "One task ({data: task})",
    "list_tasks": "All tasks ({data: [...]})",
    "list_evidence": "File evidence, paged ({fileEvidence, totalCount})",
    "get_evidence": "One file evidence ({evidence})",
    "download_evidence": "The evidence zip (ZipCrypto, password 'infected')",
    "delete_evidence": "Delete evidence by ids",
    "delete_evidence_one": "Delete one evidence",
    "module_status": "Threat Response module status",
    "sim_health": "Simulator health (no token needed)",
    "sim_scenario": "The running scenario",
    "sim_scenario_put": "Replace the running scenario (validated first; refused with 400 if invalid)",
    "sim_faults": "List live fault rules with their counters",
    "sim_faults_add": "Add a fault rule (?position=N)",
    "sim_faults_clear": "Remove every fault rule",
    "sim_faults_delete": "Remove one fault rule",
    "sim_reset": "Reset the world, or ?area=journal|faults|state",
    "sim_requests": "The request journal (filters: operation, status, fault, method, faulted, since, limit)",
    "sim_metrics": "Prometheus metrics (text)",
    "sim_openapi": "This document",
}
WHY = {
    400: "Malformed request: a body, query value or header the handler refuses",
    401: "Missing or invalid credential (or a scenario's session_invalid fault)",
    403: "Session or API token expired: log in again and retry once (or a scenario's session_expired fault)",
    404: "No such record (Tanium says 'Item Not Found')",
    409: "The request does not fit the resource's current state",
    413: "The body is larger than the simulator accepts (max_body_bytes)",
    429: "Rate limited: only ever injected by the scenario (Retry-After may say when to retry)",
    503: "Unavailable: only ever injected by the scenario (Retry-After may say when to retry)",
}
# Control routes open without the admin token: health, and the console's page and static files.
OPEN_CONTROL = frozenset({"sim_health", "sim_ui", "sim_ui_js", "sim_ui_css"})
SSE_EVENT = {"type": "object", "properties": {"event": {"type": "string"}, "data": {"type": "string"}}}
INJECTED = (429, 503)  # what fault rules answer on any vendor route (a `status` fault may pick others)
TANIUM_OPTIONS = {
    "name": "tanium-options",
    "in": "header",
    "required": False,
    "description": 'A JSON object of paging options, e.g. {"row_start": 0, "row_count": 100} (400 when '
    "it is not a JSON object of non-negative integers)",
    "schema": {"type": "string"},
}


class _Operation(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def auth(self) -> bool: ...


def _error(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": WHY.get(status, PHRASES.get(status, "Error")),
        "content": {"application/json": {"schema": ref("Error")}},
    }
    if status in INJECTED:
        answer["headers"] = {"Retry-After": {"required": False, "schema": {"type": "integer"}}}
    return answer


def _success(shape: OperationShape) -> dict[str, Any]:
    schema: Schema = shape.response if shape.response is not None else {"type": "string"}
    if shape.media_type == "application/zip":
        schema = {"type": "string", "contentMediaType": "application/zip"}
    elif shape.media_type == "text/event-stream" and shape.response is None:
        schema = SSE_EVENT  # what each event of the stream holds
    answer: dict[str, Any] = {"description": "Success", "content": {shape.media_type: {"schema": schema}}}
    if shape.response_headers:
        answer["headers"] = {
            name: {"required": True, "schema": {"type": "string"}} for name in shape.response_headers
        }
    return answer


def _statuses(op: _Operation, shape: OperationShape, control: bool, secured: bool) -> set[int]:
    statuses = set(shape.errors)
    if _PARAM.search(op.path):
        statuses.add(404)
    if shape.request is not None:
        statuses.update((400, 413))
    if not control:
        statuses.update((401, 403, *INJECTED))  # session faults and injected errors fit every vendor route
    elif secured:
        statuses.add(401)
    return statuses


def _item(op: _Operation, shape: OperationShape | None, summary: str) -> dict[str, Any]:
    control = op.name.startswith("sim_")
    path = _PARAM.sub(r"{\1}", op.path)
    item: dict[str, Any] = {
        "operationId": op.name,
        "summary": summary,
        "tags": ["control" if control else ("threat-response" if "threat-response" in path else "platform")],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in _PARAM.findall(op.path)
        ],
    }
    if control:
        secured = op.name not in OPEN_CONTROL
        item["security"] = [{"adminBearer": []}] if secured else []
    else:
        secured = op.auth or bool(shape and shape.session)
        item["security"] = [{"session": []}] if secured else []
    if shape is None:
        item["x-undocumented"] = True
        item["responses"] = {"200": {"description": "Success"}}
        return item
    for param in shape.query:
        item["parameters"].append(
            {
                "name": param.name,
                "in": "query",
                "required": param.required,
                "schema": param.schema,
                **({"description": param.description} if param.description else {}),
            }
        )
    if shape.tanium_options:
        item["parameters"].append(TANIUM_OPTIONS)
    if shape.request is not None:
        content: dict[str, Any] = {"application/json": {"schema": shape.request}}
        if shape.request_yaml:
            content["application/yaml"] = {"schema": {"type": "string"}}
        item["requestBody"] = {"required": shape.body_required, "content": content}
    item["responses"] = {str(shape.status): _success(shape)} | {
        str(status): _error(status) for status in sorted(_statuses(op, shape, control, secured))
    }
    return item


def missing_shapes(operations: Iterable[_Operation]) -> list[str]:
    """The operations :data:`~simulator.openapi_schemas.SHAPES` does not describe (should be none)."""
    return [op.name for op in operations if op.name not in SHAPES]


def build_openapi(
    operations: Iterable[_Operation], handlers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The OpenAPI document for ``operations`` (the table in simulator/operations.py); summaries come
    from the short table above or the first line of each handler's docstring (``handlers``: name ->
    handler, the app's routes)."""
    handlers = handlers or {}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        doc = (getattr(handlers.get(op.name), "__doc__", None) or "").strip().splitlines()
        summary = SUMMARIES.get(op.name) or (doc[0].strip("`. ") if doc else op.name.replace("_", " "))
        path = _PARAM.sub(r"{\1}", op.path)
        paths.setdefault(path, {})[op.method.lower()] = _item(op, SHAPES.get(op.name), summary)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tanium-sim: simulated Tanium Threat Response API and control namespace",
            "version": __version__,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "header", "name": "session"},
                "adminBearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


__all__ = ["build_openapi", "missing_shapes"]
