"""Threat Response handlers (``/plugin/products/threat-response/api/v1``): parse, call the backend, render.

Response shapes are NOT uniform in the real API and are reproduced exactly: connect answers a bare
JSON string, ``/conns`` a bare array, tasks ``{"data": ...}``, evidence
``{"fileEvidence": ..., "totalCount": ...}``.
"""

from __future__ import annotations

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from simulator.api.http import JSONResponse, backend, query_int, read_object
from simulator.errors import BadRequest
from simulator.state import connections
from simulator.state.filesystem import SCANNER_BYTES
from simulator.traces import build_evidence_zip


def _cid(request: Request) -> str:
    return str(request.path_params["cid"])


async def connect(request: Request) -> Response:
    body = await read_object(request)
    target = body.get("target")
    return JSONResponse(backend(request).connect(target))


async def list_connections(request: Request) -> Response:
    # The hot listing: the bytes of ``orjson.dumps(sim.list_connections())`` joined from each record's
    # cached JSON (connections.render_listing), not rendered and serialised again on every poll.
    # tests/unit/test_render_cache.py holds the two equal.
    sim = backend(request)
    now = sim.now()
    return JSONResponse.from_json(connections.render_listing(sim.store.values(connections.TABLE), now))


async def get_connection(request: Request) -> Response:
    return JSONResponse(backend(request).get_connection(_cid(request)))


async def close_connection(request: Request) -> Response:
    backend(request).close_connection(_cid(request))
    return JSONResponse({})


async def delete_connection(request: Request) -> Response:
    backend(request).delete_connection(_cid(request))
    return JSONResponse({})


async def request_file(request: Request) -> Response:
    body = await read_object(request)
    sim = backend(request)
    cid = _cid(request)
    if "path" not in body:
        raise BadRequest("path is required")
    # Generating a large trace takes a while: keep the event loop free.
    result = await to_thread.run_sync(sim.request_file, cid, body["path"])
    return JSONResponse(result)


async def file_info(request: Request) -> Response:
    sim = backend(request)
    result = await to_thread.run_sync(sim.file_info, _cid(request), str(request.path_params["path"]))
    return JSONResponse(result)


async def file_list(request: Request) -> Response:
    sim = backend(request)
    result = await to_thread.run_sync(sim.file_list, _cid(request), str(request.path_params["path"]))
    return JSONResponse(result)


async def get_task(request: Request) -> Response:
    return JSONResponse(backend(request).get_task(str(request.path_params["task_id"])))


async def list_tasks(request: Request) -> Response:
    return JSONResponse(backend(request).list_tasks())


async def list_evidence(request: Request) -> Response:
    limit = query_int(request, "limit", None)
    offset = query_int(request, "offset", 0) or 0
    sort = request.query_params.get("sort") or None
    return JSONResponse(backend(request).list_evidence(limit, offset, sort))


async def get_evidence(request: Request) -> Response:
    return JSONResponse(backend(request).get_evidence(str(request.path_params["uuid"])))


async def download_evidence(request: Request) -> Response:
    sim = backend(request)
    record, spec = sim.evidence_download(str(request.path_params["uuid"]))
    if spec is not None:
        data = await to_thread.run_sync(sim.catalog.evidence_zip, spec)
    else:
        data = build_evidence_zip("cs-host-scanner", SCANNER_BYTES)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f"attachment; filename={record.uuid}.zip"},
    )


async def delete_evidence_bulk(request: Request) -> Response:
    body = await read_object(request)
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise BadRequest('body must be {"ids": ["<uuid>", ...]}')
    backend(request).delete_evidence(ids)
    return JSONResponse({})


async def delete_evidence_one(request: Request) -> Response:
    backend(request).delete_evidence([str(request.path_params["uuid"])])
    return JSONResponse({})


async def module_status(request: Request) -> Response:
    sim = backend(request)
    return JSONResponse(
        {
            "status": "OK",
            "module": "threat-response",
            "version": "4.9.0",
            "simulated": True,
            "endpoints": sim.fleet.size,
        }
    )
