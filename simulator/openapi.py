"""``GET /_sim/openapi.json``: an OpenAPI 3.1 document built from the route table (never hand-kept).

Every :class:`~simulator.operations.Operation` becomes one path item with its operation name as
``operationId``, its path parameters, and its security: the vendor's ``session`` header for vendor
routes, ``Authorization: Bearer <admin token>`` for the control namespace (``/_sim/health`` aside).
Summaries come from the handlers' docstrings or the short table below.

>>> from simulator.operations import OPERATIONS
>>> doc = build_openapi(OPERATIONS)
>>> doc["paths"]["/plugin/products/threat-response/api/v1/tasks/{task_id}"]["get"]["operationId"]
'get_task'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from simulator import __version__

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
_ERROR = {
    "description": "Vendor error envelope",
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
        }
    },
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


def build_openapi(
    operations: Iterable[_Operation], handlers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The OpenAPI document for ``operations`` (the table in simulator/operations.py); summaries come
    from the short table below or the first line of each handler's docstring (``handlers``: name ->
    handler, the app's routes)."""
    handlers = handlers or {}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        control = op.name.startswith("sim_")
        path = _PARAM.sub(r"{\1}", op.path)
        doc = (getattr(handlers.get(op.name), "__doc__", None) or "").strip().splitlines()
        item: dict[str, Any] = {
            "operationId": op.name,
            "summary": SUMMARIES.get(op.name) or (doc[0].strip("`. ") if doc else op.name.replace("_", " ")),
            "tags": [
                "control" if control else ("threat-response" if "threat-response" in path else "platform")
            ],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _PARAM.findall(op.path)
            ],
            "responses": {
                "200": {"description": "Success"},
                "400": _ERROR,
                "401": _ERROR,
                "404": _ERROR,
            },
        }
        if control and op.name != "sim_health":
            item["security"] = [{"adminBearer": []}]
        elif not control and op.auth:
            item["security"] = [{"session": []}]
        else:
            item["security"] = []
        if op.method in ("POST", "PUT") or op.name == "delete_evidence":
            item["requestBody"] = {"required": op.name not in ("login",), "content": {"application/json": {}}}
        paths.setdefault(path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tanium-sim: simulated Tanium Threat Response API and control namespace",
            "version": __version__,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "header", "name": "session"},
                "adminBearer": {"type": "http", "scheme": "bearer"},
            }
        },
    }


__all__ = ["build_openapi"]
