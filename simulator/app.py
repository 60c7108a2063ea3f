"""The ASGI application: ``create_app(settings, scenario=...)``.

``uvicorn --factory simulator.app:create_app`` works too (settings then come from ``TANIUM_SIM_*``).
The scenario (latency, lifecycles, faults) runs in :class:`~simulator.faults.middleware.FaultMiddleware`
in front of the vendor routes; ``app.state.runtime`` holds it, with the journal and the metrics.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp

from simulator.api.http import error_response, unexpected_response
from simulator.api.routes import IndexedRouter, build_routes
from simulator.clock import Clock, StoreClock, SystemClock, VirtualSleep
from simulator.errors import BadRequest, MethodNotAllowed, NotFound, VendorError, error_text
from simulator.faults.middleware import FaultMiddleware
from simulator.faults.runtime import ScenarioRuntime
from simulator.journal import DEFAULT_CAPACITY, Journal
from simulator.metrics import Metrics
from simulator.scenarios import Scenario
from simulator.settings import Settings
from simulator.state.backend import ThreatResponseBackend
from simulator.state.store import MemoryStore, Store

if TYPE_CHECKING:
    from simulator.record.replay import Replay


async def _vendor_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VendorError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    mapped: VendorError
    if exc.status_code == 404:
        mapped = NotFound()
    elif exc.status_code == 405:
        mapped = MethodNotAllowed(headers={"Allow": allowed_methods(request)})
    elif exc.status_code == 400:
        mapped = BadRequest(str(exc.detail) if exc.detail else "")
    else:
        mapped = VendorError()
        mapped.status = exc.status_code
        mapped.phrase = error_text(exc.status_code).partition(" ")[2]
    return error_response(mapped)


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a 405: every method some route answers on this path.

    Each operation is its own route (one method each), so Starlette's own header would name only the
    first route it tried on the path: ``PUT /_sim/health``'s list must say GET, and ``DELETE
    /_sim/scenario``'s GET, HEAD and PUT.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route_methods
    return ", ".join(sorted(methods))


async def _unexpected(request: Request, exc: Exception) -> Response:
    return unexpected_response(request.scope)


class SimulatorApp(Starlette):
    """Starlette with the scenario's :class:`FaultMiddleware` outermost, in front of every vendor request.

    The middleware finds each vendor request's route once and runs its endpoint itself, rendering errors
    as the handlers below would, so a plain poll skips Starlette's error, exception and routing layers
    (loadtests/RESULTS.md: the hot path); everything else (control routes, 404, 405) runs through them.
    """

    def __init__(self, runtime: ScenarioRuntime, *, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=list(routes), **kwargs)
        self.router = IndexedRouter(self.router.routes)  # O(1) route lookup: see IndexedRouter
        self.runtime = runtime

    def build_middleware_stack(self) -> ASGIApp:
        """Starlette's stack with the fault middleware in front; middleware a user added wraps both.

        ``app.add_middleware(...)`` would otherwise sit inside Starlette's stack, behind the fault
        middleware's own dispatch of vendor routes, and never see a vendor request. Added middleware
        therefore goes outermost: it sees every request, vendor ones included, answered with the
        scenario's faults and latency already applied. Without any, the stack is as fast as before.
        """
        user, self.user_middleware = self.user_middleware, []
        try:
            stack = super().build_middleware_stack()
        finally:
            self.user_middleware = user
        # FaultMiddleware types ASGI messages as dicts (what servers pass); Starlette as mutable mappings.
        faults = FaultMiddleware(stack, runtime=self.runtime, routes=self.router.routes, router=self.router)  # type: ignore[arg-type]
        app = cast(ASGIApp, faults)
        for cls, args, kwargs in reversed(user):
            app = cls(app, *args, **kwargs)
        return app


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    scenario: Scenario | str | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    rng_for: Callable[[str], random.Random] | None = None,
    journal_capacity: int = DEFAULT_CAPACITY,
    replay: Replay | None = None,
) -> Starlette:
    """Build the simulator app, running ``scenario`` (a :class:`Scenario`, a name or a path).

    ``sleep`` is what injected delays await (default ``asyncio.sleep``; tests pass one that advances
    a manual clock); ``rng_for(rule_name)`` overrides the per-rule random streams. ``replay`` answers
    vendor requests from a recording first, with the scenario on top (:mod:`simulator.record.replay`).

    >>> app = create_app(Settings(endpoints=10, seed=3), scenario="flaky-5xx")
    >>> app.state.backend.fleet.size, app.state.runtime.scenario.name
    (10, 'flaky-5xx')
    """
    base_settings = settings or Settings.from_env()
    shared_store = store is not None and not isinstance(store, MemoryStore)
    if shared_store:
        from simulator.shared import join_world

        base_settings = join_world(store, base_settings)  # type: ignore[arg-type]  # the world's credentials
    if isinstance(scenario, str):
        scenario = Scenario.load(scenario)
    scenario = scenario or Scenario()
    settings = scenario.apply(base_settings)
    strict = False  # every process sees every change at once (the manual clock), or soon (the real one)
    if clock is None and base_settings.clock == "manual":
        store = store or MemoryStore()
        clock = StoreClock(store)
        sleep = sleep or VirtualSleep(clock)
        strict = True
    clock = clock or SystemClock()
    backend = ThreatResponseBackend.build(settings, clock=clock, store=store)
    journal, metrics, shared = Journal(journal_capacity, enabled=settings.journal), Metrics(), None
    if shared_store:
        # Several processes on one Redis: the scenario, rule counters, journal and metrics are shared too.
        from simulator.shared import FLUSH_S, REFRESH_S, SharedControl, SharedJournal, SharedMetrics

        shared = SharedControl(store, refresh_s=0.0 if strict else REFRESH_S)  # type: ignore[arg-type]
        journal = SharedJournal(
            shared, journal_capacity, enabled=settings.journal, flush_s=0.0 if strict else FLUSH_S
        )
        metrics = SharedMetrics(shared)

    def apply_scenario(new: Scenario) -> Settings:
        """Apply a scenario's settings to the world (its rules are the runtime's business)."""
        applied = new.apply(app.state.base_settings)
        backend.apply_settings(applied)
        app.state.settings = applied
        return applied

    runtime = ScenarioRuntime(
        scenario,
        seed=settings.seed,
        clock=clock,
        sleep=sleep,
        journal=journal,
        metrics=metrics,
        rng_for=rng_for,
        store=backend.store,
        on_install=apply_scenario,
    )
    routes: list[BaseRoute] = list(build_routes())
    if replay is not None:
        routes = replay.routes(routes, sleep=runtime.sleep)
    app = SimulatorApp(
        runtime,
        routes=routes,
        exception_handlers={
            VendorError: _vendor_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.settings = settings
    app.state.base_settings = base_settings  # what a scenario replaced at run time applies to
    app.state.backend = backend
    app.state.runtime = runtime
    app.state.replay = replay
    app.state.apply_scenario = apply_scenario
    if shared is not None:
        runtime.shared = shared
        shared.join(runtime)  # the world's running scenario wins over this process's own
    return app
