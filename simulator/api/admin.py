"""The control namespace ``/_sim/``: health (open), and behind the admin bearer token the world's state,
reset and ground truth, the running scenario and its fault rules, the request journal, metrics and the
OpenAPI document. Kept apart from vendor paths so a real client can never hit it by accident."""

from __future__ import annotations

import hmac
from typing import Any

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from simulator import __version__
from simulator.api.http import JSONResponse, backend, query_int, read_body, read_object
from simulator.errors import BadRequest, NotFound, Unauthorized
from simulator.faults.runtime import ScenarioRuntime
from simulator.faults.spec import SpecError
from simulator.ids import parse_id
from simulator.operations import OPERATIONS, VENDOR_OPERATIONS

FUTURE_SCANS = 10  # how far ahead of an endpoint's current scan GET .../manifest?scan= may look


def require_admin(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = backend(request).settings.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("control routes need 'Authorization: Bearer <admin token>'")
    rt = runtime(request)
    if rt.shared is not None:  # several processes: see another one's scenario change before acting
        rt.shared.maybe_refresh(rt)


async def health(request: Request) -> Response:
    sim = backend(request)
    return JSONResponse({"status": "ok", "version": __version__, "endpoints": sim.fleet.size})


async def state(request: Request) -> Response:
    require_admin(request)
    return JSONResponse(backend(request).state_counts())


RESET_AREAS = ("journal", "faults", "state")


async def reset(request: Request) -> Response:
    """``POST /_sim/reset``: the whole world, or one ``?area=`` (journal, faults, state)."""
    require_admin(request)
    area = request.query_params.get("area") or "all"
    if area not in (*RESET_AREAS, "all"):
        raise BadRequest(f"area must be one of {', '.join(RESET_AREAS)} (or absent for everything)")
    rt = runtime(request)
    if area in ("state", "all"):
        backend(request).reset()
    if area in ("journal", "all"):
        rt.journal.clear()
    if area in ("faults", "all"):
        rt.reset_faults()
    return JSONResponse({"reset": True, "area": area})


def runtime(request: Request) -> ScenarioRuntime:
    rt: ScenarioRuntime = request.app.state.runtime
    return rt


async def scenario_get(request: Request) -> Response:
    require_admin(request)
    rt = runtime(request)
    return JSONResponse({**rt.scenario.to_dict(), "seed": rt.seed, "faults": rt.rules.to_list()})


async def scenario_put(request: Request) -> Response:
    """``PUT /_sim/scenario``: a YAML/JSON body, or ``?name=`` for a scenario file; validated first.

    ``?name=`` is a name from the scenario library, never a path: a request opens no other file, and
    its errors quote only what the caller sent (:func:`simulator.scenarios.resolve_name`).
    """
    from simulator.scenarios import Scenario, ScenarioError

    require_admin(request)
    name = request.query_params.get("name")
    try:
        if name:
            scenario = Scenario.load_named(name)
        else:
            raw = await read_body(request, backend(request).settings.max_body_bytes)
            if not raw.strip():
                raise BadRequest("send the scenario as YAML or JSON in the body, or ?name=<scenario>")
            scenario = Scenario.from_text(raw.decode("utf-8", "replace"), source="PUT /_sim/scenario")
    except ScenarioError as exc:
        raise BadRequest(str(exc)) from None  # nothing was changed
    settings = request.app.state.apply_scenario(scenario)
    runtime(request).install(scenario, seed=settings.seed)  # and, on a shared store, every process's
    return await scenario_get(request)


async def faults_list(request: Request) -> Response:
    require_admin(request)
    return JSONResponse({"faults": runtime(request).rules.to_list()})


async def faults_add(request: Request) -> Response:
    """``POST /_sim/faults`` with one rule as JSON (``?position=N`` to insert; default: last)."""
    from simulator.faults.rules import FaultRule

    require_admin(request)
    body = await read_object(request)
    rules = runtime(request).rules
    position = query_int(request, "position", None)
    operations = VENDOR_OPERATIONS
    try:
        rule = FaultRule.parse(body, (), operations)
        rules.add(rule, None if position is None else min(position, len(rules)))
    except SpecError as exc:
        raise BadRequest(str(exc)) from None
    runtime(request).rules_changed()
    return JSONResponse(rule.to_dict(), status_code=201)


async def faults_delete(request: Request) -> Response:
    """``DELETE /_sim/faults/{name}`` removes one rule; ``DELETE /_sim/faults`` removes them all."""
    require_admin(request)
    rules = runtime(request).rules
    name = request.path_params.get("name")
    if name is None:
        removed = len(rules)
        for rule_name in rules.names():
            rules.remove(rule_name)
        runtime(request).rules_changed()
        return JSONResponse({"removed": removed})
    if not rules.remove(str(name)):
        raise NotFound(f"no fault rule named {name}")
    runtime(request).rules_changed()
    return JSONResponse({"removed": 1})


async def requests(request: Request) -> Response:
    """``GET /_sim/requests``: the journal, filtered by operation, status, fault, method, faulted, since."""
    require_admin(request)
    journal = runtime(request).journal
    params = request.query_params
    faulted = params.get("faulted")
    if faulted not in (None, "", "true", "false"):
        raise BadRequest("faulted must be true or false")
    filters: dict[str, Any] = {
        "operation": params.get("operation") or None,
        "status": query_int(request, "status", None),
        "fault": params.get("fault") or None,
        "method": params.get("method") or None,
        "faulted": None if not faulted else faulted == "true",
        "since": query_int(request, "since", 0) or 0,
        "limit": query_int(request, "limit", None, minimum=1),
    }
    entries = journal.query(**filters)
    return JSONResponse(
        {
            "enabled": journal.enabled,
            "capacity": journal.capacity,
            "total": journal.total,
            "dropped": journal.dropped,
            "count": len(entries),
            "requests": [e.to_dict() for e in entries],
        }
    )


async def metrics(request: Request) -> Response:
    require_admin(request)
    m = runtime(request).metrics
    return Response(m.render(), media_type=m.content_type)


async def openapi(request: Request) -> Response:
    from simulator.openapi import build_openapi

    require_admin(request)
    handlers = {route.name: route.endpoint for route in request.app.routes if hasattr(route, "endpoint")}
    return JSONResponse(build_openapi(OPERATIONS, handlers))


async def manifest(request: Request) -> Response:
    require_admin(request)
    sim = backend(request)
    raw_scan = request.query_params.get("scan")
    scan = None
    if raw_scan:
        from simulator.errors import BadRequest

        scan = parse_id(raw_scan)  # not isdigit()/int(): "³" and 5,000 digits were 500s
        if scan is None or scan < 1:
            raise BadRequest("scan must be a positive integer")
    client_id = str(request.path_params["client_id"])
    if scan is not None:
        # Scan N is built through every scan before it: far-future scans cost minutes (300: ~50 s).
        current = sim.current_scan(sim.endpoint_or_404(client_id))
        if scan > current + FUTURE_SCANS:
            raise BadRequest(
                f"scan must be at most {current + FUTURE_SCANS}: the endpoint is at scan {current}, "
                f"and a manifest looks at most {FUTURE_SCANS} scans ahead"
            )
    result = await to_thread.run_sync(sim.manifest, client_id, scan)
    return JSONResponse(result)
