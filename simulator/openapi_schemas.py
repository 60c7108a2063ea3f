"""What each operation takes and answers, as data: the JSON Schemas :mod:`simulator.openapi` publishes.

One :class:`OperationShape` per operation name of :mod:`simulator.operations`: its query parameters,
whether it reads the ``tanium-options`` header, its request body, its success answer and the error
statuses its handler raises itself. The statuses every route shares (auth, injected faults, 404 for ids
in paths, 400/413 for bodies) are added by :func:`simulator.openapi.build_openapi` from the route table,
so a new operation needs one entry here; ``tests/inprocess/test_openapi.py`` fails until it has one.

The shapes are those the handlers render (``simulator/api/*.py``, the ``to_api`` methods of
``simulator/state`` and ``simulator/platform``), cross-checked in-process by schemathesis
(``tests/inprocess/test_openapi_fuzz.py``). Objects stay open (extra keys allowed): the vendor adds
fields between versions, and clients must ignore the ones they do not know.

>>> SHAPES["get_task"].response["properties"]["data"]
{'$ref': '#/components/schemas/Task'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to one of :data:`COMPONENTS`."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """An (open) object with these required and optional properties."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def data(value: Schema) -> Schema:
    """The platform's ``{"data": ...}`` wrapping."""
    return obj({"data": value})


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
OBJ: Schema = {"type": "object"}
NULLABLE_STR: Schema = {"type": ["string", "null"]}
ISO_MS: Schema = {"type": "string", "description": "ISO-8601 with milliseconds and Z"}
EPOCH_MS: Schema = {"type": "integer", "description": "epoch milliseconds"}
# Always null in what the simulator sends (docs/api.md §4, §6): the public captures show null.
NULL: Schema = {"type": "null"}
ID_REF: Schema = obj({"id": INT}, {"name": STR})

COMPONENTS: dict[str, Schema] = {
    "Error": {
        **obj({"text": STR}),
        "description": 'The vendor error envelope: "<status> <phrase>[: detail]"',
    },
    # -- Threat Response (docs/api.md §4-§6) ----------------------------------------------------------
    "Connection": obj(
        {
            "sessionId": NULL,
            "ip": STR,
            "hostname": STR,
            "clientId": STR,
            "platform": STR,
            "initiatedAt": EPOCH_MS,
            "status": {"type": "string", "enum": ["waiting", "connected", "disconnected", "timeout"]},
            "message": STR,
            "userId": STR,
            "personaId": INT,
            "id": STR,
        },
        {"eid": STR, "connectedAt": EPOCH_MS, "hasTools": BOOL},
    ),
    "TaskMetadata": obj({"connection": STR, "paths": array(STR), "compress": STR}),
    "TaskInfo": obj(
        {"id": INT, "status": STR, "metadata": ref("TaskMetadata"), "startTime": ISO_MS},
    ),
    "Task": obj(
        {
            "id": INT,
            "type": STR,
            "status": STR,
            "metadata": ref("TaskMetadata"),
            "results": obj(
                {
                    "completed": array(STR),
                    "failed": array(STR),
                    "fileResults": array(
                        obj(
                            {
                                "response": obj(
                                    {
                                        "source": STR,
                                        "target": STR,
                                        "totalBytes": INT,
                                        "transferHash": STR,
                                        "totalTimeMs": INT,
                                        "avgBytesPerSecond": NUM,
                                    }
                                ),
                                "uuid": STR,
                                "finalPath": STR,
                            }
                        )
                    ),
                }
            ),
            "error": NULLABLE_STR,
            "startTime": ISO_MS,
            "endTime": {"type": ["string", "null"]},
            "createdAt": ISO_MS,
            "updatedAt": ISO_MS,
        }
    ),
    "Evidence": obj(
        {
            "uuid": STR,
            "hostname": STR,
            "path": STR,
            "downloaded": ISO_MS,
            "hash": STR,
            "size": INT,
            "evidenceType": STR,
        },
        {
            "process_creation_time": STR,
            "created_by": STR,
            "created_by_proc": STR,
            "last_modified": STR,
            "last_modified_by": STR,
            "last_modified_by_proc": STR,
            "tags": STR,
            "comments": STR,
            "username": NULL,
        },
    ),
    "FileEntry": obj(
        {
            "name": STR,
            "size": INT,
            "type": {"type": "string", "enum": ["FILE", "DIRECTORY"]},
            "createdDate": EPOCH_MS,
            "modifiedDate": EPOCH_MS,
            "permissions": {"type": "integer", "minimum": 0, "description": "mode bits: 438 = 0o666"},
        },
        {"path": STR, "canonicalPath": STR},
    ),
    # -- platform (docs/api.md §1-§2, spec/platform-api.md) ---------------------------------------------
    "CacheInfo": obj(
        {
            "cache_id": INT,
            "cache_row_count": INT,
            "filtered_row_count": INT,
            "page_row_count": INT,
            "expiration": STR,
        }
    ),
    "SystemStatusRow": obj(
        {"computer_id": STR, "host_name": STR, "ipaddress_client": STR, "status": STR},
        {"ipaddress_server": STR, "port_number": INT, "protocol_version": INT, "full_version": STR},
    ),
    "DecEndpoint": obj({"hostname": STR, "ip": STR, "clientId": STR, "platform": STR}, {"online": BOOL}),
    "Group": obj(
        {"and_flag": BOOL, "not_flag": BOOL, "filters": array(OBJ), "sub_groups": array(OBJ)},
        {"id": INT, "name": STR, "text": STR, "type": INT},
    ),
    "Question": obj(
        {"id": INT, "query_text": STR, "selects": array(OBJ), "expire_seconds": INT, "expiration": ISO_MS},
        {"group": ref("Group"), "context_group": OBJ, "user": ID_REF},
    ),
    "ResultSet": obj(
        {"id": INT, "estimated_total": INT, "tested": INT, "passed": INT, "row_count": INT},
        {
            "question_id": INT,
            "action_id": INT,
            "columns": array(obj({"hash": INT, "name": STR, "type": INT})),
            "rows": array(obj({"id": INT, "cid": STR, "data": array(array(obj({"text": STR})))})),
        },
    ),
    "Sensor": obj({"id": INT, "name": STR, "hash": INT, "value_type": STR}, {"max_age_seconds": INT}),
    "Package": obj({"id": INT, "name": STR, "command": STR, "command_timeout": INT, "expire_seconds": INT}),
    "Action": obj(
        {
            "id": INT,
            "name": STR,
            "status": STR,
            "stopped_flag": BOOL,
            "start_time": ISO_MS,
            "expiration_time": ISO_MS,
            "expire_seconds": INT,
            "package_spec": obj({"id": INT, "name": STR}),
            "target_group": OBJ,
            "action_group": OBJ,
        },
        {"saved_action": ID_REF, "user": ID_REF, "approver": ID_REF, "comment": STR},
    ),
    "SavedAction": obj(
        {
            "id": INT,
            "name": STR,
            "expire_seconds": INT,
            "package_spec": OBJ,
            "target_group": OBJ,
            "last_action": obj({"id": INT, "start_time": ISO_MS}),
        }
    ),
    # -- control namespace ----------------------------------------------------------------------------
    "FaultRule": obj({"name": STR, "match": OBJ, "fault": obj({"type": STR})}),
}

# One page of system_status: the page's rows, then exactly one cache-info element (docs/api.md §2).
SYSTEM_STATUS_PAGE: Schema = {
    **array({"oneOf": [ref("SystemStatusRow"), ref("CacheInfo")]}),
    "contains": ref("CacheInfo"),
    "minContains": 1,
    "maxContains": 1,
}
# What file/info and file/list answers share beside their entries (docs/api.md §3).
FILE_ANSWER: dict[str, Schema] = {"sessionId": STR, "cid": STR, "path": STR}
RESULT_DATA = obj({"now": STR, "max_available_age": STR, "result_sets": array(ref("ResultSet"))})
SESSION_BODY = obj({"session": STR})
EMPTY = {"type": "object", "maxProperties": 0}
CLOCK = obj({"mode": {"type": "string", "enum": ["manual", "system"]}, "now": NUM, "iso": ISO_MS})


@dataclass(frozen=True)
class Param:
    """One query parameter (strings on the wire; ``schema`` says what the handler accepts)."""

    name: str
    schema: Schema
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class OperationShape:
    """What one operation takes and answers, beyond its method, path and credential (the route table)."""

    response: Schema | None  # the JSON body of the success answer; None: see media_type
    request: Schema | None = None  # the JSON body the handler reads (400 when it is not JSON / not this)
    body_required: bool = True
    query: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()  # statuses the handler raises itself, beyond the shared ones
    status: int = 200
    media_type: str = "application/json"
    tanium_options: bool = False  # reads the platform's ``tanium-options`` header (row_start, row_count)
    response_headers: tuple[str, ...] = ()
    session: bool | None = None  # the handler checks the ``session`` header itself (the table says no)
    request_yaml: bool = False  # the body may also be YAML text (``application/yaml``)


PAGE = (
    Param("limit", {"type": "integer", "minimum": 0}, "page size (400 when not an integer >= 0)"),
    Param("offset", {"type": "integer", "minimum": 0}, "first item (400 when not an integer >= 0)"),
)

SHAPES: dict[str, OperationShape] = {
    # platform sessions
    "login": OperationShape(
        data(SESSION_BODY),
        request=obj({"username": STR, "password": STR}, {"domain": STR}),
        body_required=False,
        errors=(400,),
    ),
    "login_get": OperationShape(
        data(SESSION_BODY),
        query=(Param("username", STR, required=True), Param("password", STR, required=True)),
        errors=(400,),
    ),
    "validate": OperationShape(data(SESSION_BODY), request=SESSION_BODY),
    "logout": OperationShape(EMPTY, request=SESSION_BODY),
    "current": OperationShape(
        data(obj({"id": INT, "name": STR}, {"domain": STR, "via": STR})),
        session=True,
    ),
    "auth": OperationShape(None, media_type="text/plain"),  # Basic credentials -> the session string
    "console_config": OperationShape(obj({"serverVersion": STR})),
    # discovery
    "system_status": OperationShape(data(SYSTEM_STATUS_PAGE), tanium_options=True, errors=(400,)),
    "dec_endpoints": OperationShape(
        data(array(ref("DecEndpoint"))),
        query=(Param("hostname", STR), Param("ip", STR), Param("clientId", STR), *PAGE),
        errors=(400,),
    ),
    # platform questions, sensors, packages, groups and actions
    "parse_question": OperationShape(
        data(array(OBJ)), request=obj({"text": STR}), errors=(400, 404)
    ),  # 404: an unknown sensor
    "create_question": OperationShape(
        data(ref("Question")),
        request=obj({}, {"query_text": STR, "selects": array(OBJ), "group": OBJ, "expire_seconds": INT}),
        errors=(404,),
    ),
    "get_question": OperationShape(data(ref("Question"))),
    "result_info_question": OperationShape(
        data(obj({"now": STR, "max_available_age": STR, "result_infos": array(ref("ResultSet"))}))
    ),
    "result_data_question": OperationShape(data(RESULT_DATA), tanium_options=True, errors=(400,)),
    "get_sensor": OperationShape(data(ref("Sensor"))),
    "get_package": OperationShape(data(ref("Package"))),
    "create_group": OperationShape(
        data(ref("Group")), request=obj({}, {"name": STR, "text": STR, "filters": array(OBJ)}), errors=(404,)
    ),
    "get_group": OperationShape(data(ref("Group"))),
    "get_group_by_name": OperationShape(data(ref("Group"))),
    "client_count": OperationShape(data(INT)),
    "merged_result_data_question": OperationShape(data(RESULT_DATA), tanium_options=True, errors=(400,)),
    "create_action": OperationShape(
        data(ref("Action")),
        request=obj({"package_spec": OBJ, "target_group": OBJ}, {"name": STR, "expire_seconds": INT}),
        errors=(404,),
    ),
    "create_saved_action": OperationShape(
        data(ref("SavedAction")),
        request=obj({"package_spec": OBJ, "target_group": OBJ}, {"name": STR, "expire_seconds": INT}),
        errors=(404,),
    ),
    "get_action": OperationShape(data(ref("Action"))),
    "action_stop": OperationShape(
        data(obj({"id": INT, "action": ID_REF})), request=obj({"action": ID_REF}), errors=(404,)
    ),
    "result_data_action": OperationShape(data(RESULT_DATA)),
    # Threat Response
    "connect": OperationShape(
        {"type": "string", "description": 'a bare JSON string: "remote:<hostname>:<clientId>:"'},
        request=obj(
            {"target": obj({}, {"clientId": STR, "hostname": STR, "ip": STR, "platform": STR})},
        ),
    ),
    "list_connections": OperationShape(array(ref("Connection"))),
    "close_connection": OperationShape(EMPTY),
    "delete_connection": OperationShape(EMPTY),
    "get_connection": OperationShape(ref("Connection")),
    "request_file": OperationShape(
        obj({"taskInfo": ref("TaskInfo"), "status": STR}), request=obj({"path": STR})
    ),
    "file_info": OperationShape(obj({**FILE_ANSWER, "info": ref("FileEntry")}), errors=(400,)),
    "file_list": OperationShape(obj({**FILE_ANSWER, "entries": array(ref("FileEntry"))}), errors=(400,)),
    "get_task": OperationShape(data(ref("Task"))),
    "list_tasks": OperationShape(data(array(ref("Task")))),
    "list_evidence": OperationShape(
        obj({"fileEvidence": array(ref("Evidence")), "totalCount": INT}),
        query=(
            *PAGE,
            Param(
                "sort",
                STR,
                "uuid, hostname, path, downloaded or size; a leading - sorts descending (400 otherwise)",
            ),
        ),
        errors=(400,),
    ),
    "delete_evidence": OperationShape(
        EMPTY, request=obj({"ids": array({"type": "string", "minLength": 1})}), errors=(404,)
    ),
    "download_evidence": OperationShape(
        None, media_type="application/zip", response_headers=("Content-Disposition",)
    ),
    "get_evidence": OperationShape(obj({"evidence": ref("Evidence")})),
    "delete_evidence_one": OperationShape(EMPTY),
    "module_status": OperationShape(obj({"status": STR, "module": STR, "version": STR})),
    # control namespace
    "sim_health": OperationShape(obj({"status": STR, "version": STR, "endpoints": INT})),
    "sim_state": OperationShape(
        obj(
            {"connections": OBJ, "tasks": OBJ, "evidence": INT, "sessions": INT, "endpoints": INT, "now": NUM}
        )
    ),
    "sim_reset": OperationShape(
        obj({"reset": BOOL, "area": STR}),
        query=(
            Param(
                "area",
                {"type": "string", "enum": ["journal", "faults", "state", "all"]},
                "what to reset (default: everything)",
            ),
        ),
        errors=(400,),
    ),
    "sim_manifest": OperationShape(
        obj({"client_id": STR, "hostname": STR, "path": STR, "size": INT, "sha256": STR}),
        query=(Param("scan", {"type": "integer", "minimum": 1}, "a past or future scan number"),),
        errors=(400,),
    ),
    "sim_scan": OperationShape(
        obj({"client_id": STR, "hostname": STR, "scan": INT, "scan_id": STR, "scan_time": STR, "path": STR}),
        errors=(409,),
    ),
    "sim_scenario": OperationShape(obj({"name": STR, "faults": array(ref("FaultRule"))}, {"seed": INT})),
    "sim_scenario_put": OperationShape(
        obj({"name": STR, "faults": array(ref("FaultRule"))}, {"seed": INT}),
        request=OBJ,
        body_required=False,
        request_yaml=True,
        query=(Param("name", STR, "load a named scenario (or a path) instead of the body"),),
        errors=(400,),
    ),
    "sim_faults": OperationShape(obj({"faults": array(ref("FaultRule"))})),
    "sim_faults_add": OperationShape(
        ref("FaultRule"),
        request=ref("FaultRule"),
        query=(Param("position", {"type": "integer", "minimum": 0}, "insert here (default: last)"),),
        status=201,
        errors=(400,),
    ),
    "sim_faults_clear": OperationShape(obj({"removed": INT})),
    "sim_faults_delete": OperationShape(obj({"removed": INT})),
    "sim_requests": OperationShape(
        obj(
            {
                "enabled": BOOL,
                "capacity": INT,
                "total": INT,
                "dropped": INT,
                "count": INT,
                "requests": array(OBJ),
            }
        ),
        query=(
            Param("operation", STR),
            Param("status", INT),
            Param("fault", STR),
            Param("method", STR),
            Param("faulted", {"type": "string", "enum": ["true", "false"]}),
            Param("since", {"type": "integer", "minimum": 0}),
            Param("limit", {"type": "integer", "minimum": 1}),
        ),
        errors=(400,),
    ),
    "sim_metrics": OperationShape(None, media_type="text/plain"),
    "sim_openapi": OperationShape(obj({"openapi": STR, "info": OBJ, "paths": OBJ})),
    "sim_clock": OperationShape(CLOCK),
    "sim_clock_advance": OperationShape(
        CLOCK, request=obj({"advance_s": {"type": "number", "minimum": 0}}), errors=(409,)
    ),  # 409: the simulator runs on the real clock
    "sim_task": OperationShape(data(ref("Task"))),
    "sim_endpoints": OperationShape(
        obj(
            {
                "total": INT,
                "offset": INT,
                "endpoints": array(
                    obj({"index": INT, "clientId": STR, "hostname": STR, "ip": STR, "platform": STR})
                ),
            }
        ),
        query=(
            Param("offset", {"type": "integer", "minimum": 0}),
            Param("limit", {"type": "integer", "minimum": 1}, "page size (at most 1000)"),
            Param("q", STR, "keep endpoints whose hostname, clientId or IP contains it, or platform/profile"),
        ),
        errors=(400,),
    ),
    # the live console (simulator/console, docs/console.md)
    "sim_ui": OperationShape(None, media_type="text/html"),
    "sim_ui_js": OperationShape(None, media_type="text/javascript"),
    "sim_ui_css": OperationShape(None, media_type="text/css"),
    "sim_events": OperationShape(
        None,
        media_type="text/event-stream",
        query=(
            Param("since", {"type": "integer", "minimum": 0}, "the last id seen (default: the last 100)"),
            Param("operation", STR),
            Param("status", INT),
            Param("client_id", STR),
        ),
        errors=(400,),
    ),
    "sim_stats": OperationShape(
        obj(
            {
                "start": NUM,
                "now": NUM,
                "window_s": INT,
                "bucket_s": INT,
                "operations": OBJ,
                "journal": OBJ,
                "evidence_bytes": INT,
            }
        ),
        query=(
            Param("window_s", {"type": "integer", "minimum": 1}, "how far back (default 300)"),
            Param("bucket_s", {"type": "integer", "minimum": 1}, "one step of the series (default 10)"),
        ),
        errors=(400,),
    ),
    "sim_scenarios": OperationShape(
        obj({"running": STR, "scenarios": array(obj({"name": STR, "description": STR}))})
    ),
    "sim_endpoint_history": OperationShape(
        obj(
            {
                "endpoint": OBJ,
                "connections": array(OBJ),
                "tasks": array(OBJ),
                "evidence": array(OBJ),
                "requests": array(OBJ),
            }
        )
    ),
    "sim_endpoint_trace": OperationShape(
        None,
        media_type="application/gzip",
        response_headers=("Content-Disposition",),
        query=(Param("scan", {"type": "integer", "minimum": 1}, "a past scan (default: the current one)"),),
        errors=(400,),
    ),
    # 404: serve was started without --qa-report, or the file is gone
    "sim_qa_report": OperationShape(
        None, media_type="text/html", response_headers=("Content-Disposition",), errors=(404,)
    ),
}

__all__ = ["COMPONENTS", "SHAPES", "OperationShape", "Param", "Schema"]
