"""The fault middleware: a plain ASGI callable in front of the vendor routes.

Per request it resolves the operation and route once (cached per method and path; the app's
:class:`~simulator.api.routes.IndexedRouter` narrows the candidates), asks the running scenario's rules
whether a fault fires, sleeps the injected latency (non-blocking: an ``await`` on the
injected sleeper, so thousands of delayed requests cost no threads), applies the fault (a session fault
also ends the login session the request carried, :func:`~simulator.faults.http.end_session`) or runs the
operation's endpoint (throttling evidence downloads to the scenario's bandwidth), then counts the request
in the metrics and, when it is on, the journal. Control routes (``/_sim/``) pass straight through.

>>> app.add_middleware(FaultMiddleware, runtime=runtime, routes=routes)  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from simulator.api.http import error_response, unexpected_response
from simulator.errors import VendorError
from simulator.faults import wire
from simulator.faults.http import end_session, error_answer, spoil, truncation_point
from simulator.faults.rules import Firing, RequestInfo
from simulator.faults.runtime import ScenarioRuntime
from simulator.operations import CONTROL_PREFIX
from simulator.state import evidence, tasks
from simulator.state.backend import TARGET_MAX_CHARS

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]
THROTTLED = frozenset({"download_evidence"})
MAX_PEEK_BYTES = 64 << 10  # connect bodies are tiny; never buffer more than this to find a clientId
# The longest clientId connect accepts: a peeked one is cut just past it, so a journal of refused 60 KiB
# clientIds holds 256 characters each, not 60 KiB.
MAX_CLIENT_ID_CHARS = TARGET_MAX_CHARS["clientId"]


class Resolved(NamedTuple):
    """What a (method, path) resolves to, cached: the operation and, on a full match, its route."""

    operation: str
    params: dict[str, Any]
    route: BaseRoute | None
    child: Mapping[str, Any]  # the route's scope additions (endpoint, path_params)
    endpoint: Callable[[Request], Awaitable[Response]] | None  # None: let the app route it (404, 405)


class FaultMiddleware:
    """Latency, faults, bandwidth, journal and metrics for every vendor request; and its dispatcher.

    A vendor request whose route matched runs its endpoint right here (``_endpoint``): the route was
    found once, for the fault rules, so Starlette's exception middleware and router would only repeat
    that work. Errors keep their meaning: a :class:`VendorError` becomes the vendor's envelope, as the
    app's handler would render it, and anything else propagates to the app's server-error handler.
    Requests that match no route (404, 405, redirects) go through the app as usual.
    """

    def __init__(
        self, app: ASGIApp, *, runtime: ScenarioRuntime, routes: Sequence[BaseRoute], router: Any = None
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.routes = tuple(routes)
        # The app's IndexedRouter narrows the routes to try by path prefix; else scan them all.
        self._candidates: Callable[[str], Sequence[BaseRoute]] | None = getattr(router, "candidates", None)
        self._resolved: dict[tuple[str, str], Resolved] = {}

    def resolve(self, scope: dict[str, Any]) -> Resolved:
        """The operation, route and path parameters of a request (operation "unknown" when no route)."""
        key = (scope["method"], scope["path"])
        found = self._resolved.get(key)
        if found is None:
            if len(self._resolved) >= 8192:  # bounded: ids in paths are unbounded
                self._resolved.clear()
            found = self._resolved[key] = self._match(scope)
        return found

    def _match(self, scope: dict[str, Any]) -> Resolved:
        partial = "unknown"
        candidates = self._candidates(scope["path"]) if self._candidates is not None else self.routes
        for route in candidates:
            match, child = route.matches(scope)
            if match is Match.FULL:
                endpoint = getattr(route, "endpoint", None) if isinstance(route, Route) else None
                if not inspect.isfunction(endpoint):  # class endpoints: Starlette's own dispatch
                    endpoint = None
                name = str(getattr(route, "name", "unknown"))
                return Resolved(name, child.get("path_params", {}), route, child, endpoint)
            if match is Match.PARTIAL and partial == "unknown":
                partial = str(getattr(route, "name", "unknown"))
        return Resolved(partial, {}, None, {}, None)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        rt = self.runtime
        resolved = self.resolve(scope)
        operation = resolved.operation
        rules, journal, metrics = rt.rules, rt.journal, rt.metrics
        # Who the request is about: the journal and clientId-matching rules need it; nothing else does.
        client_id = None
        wants_client_id = journal.enabled or (rules.states and rules.needs_client_id)
        if wants_client_id:
            client_id = self._client_id_from_params(resolved.params)
        started = rt.clock.now() if journal.enabled else 0.0
        firing: Firing | None = None
        status: int | None = None
        sent = 0
        delay = 0.0
        metrics.in_flight += 1
        try:
            if wants_client_id and operation == "connect":  # named in the body: {"target": {"clientId"}}
                client_id, receive = await _peek_connect_client_id(receive)
            if rules.states:
                headers: dict[str, str] = {}
                if rules.needs_headers:
                    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                info = RequestInfo(operation, scope["method"], scope["path"], client_id, headers)
                firing = rules.decide(info, rt.elapsed())
            delay = rt.delay_for(operation)
            if firing is not None and firing.fault.type == "delay" and firing.fault.latency is not None:
                delay += firing.fault.latency.sample(firing.rng)
            if delay > 0:
                await rt.sleep(delay)
            paced = operation in THROTTLED and bool(rt.scenario.bandwidth.bytes_per_s)
            if firing is not None and firing.fault.type != "delay":
                out = self._throttled(send) if paced else send
                status, sent = await self._apply(firing, self._as_app(resolved), scope, receive, send, out)
            elif resolved.endpoint is not None and not paced:
                status, sent = await self._dispatch(resolved, scope, receive, send)
            else:
                # 404/405 from the app, or a paced download a client may abandon half way: count the
                # bytes that really went out, even when the answer never completes.
                tracker = _Tracker(send)
                try:
                    await self._as_app(resolved)(
                        scope, receive, self._throttled(tracker) if paced else tracker
                    )
                finally:
                    status, sent = tracker.status, tracker.sent
        finally:
            metrics.in_flight -= 1
            metrics.observe(operation, str(status) if status is not None else "none", sent, delay)
            if firing is not None:
                metrics.fault_fired(firing.rule, firing.fault.type)
            if journal.enabled:
                journal.record(
                    at=started,
                    method=scope["method"],
                    path=scope["path"],
                    operation=operation,
                    status=status,
                    fault=firing.rule if firing else None,
                    fault_type=firing.fault.type if firing else None,
                    delay_ms=delay * 1000,
                    client_id=client_id,
                    bytes=sent,
                )

    async def _dispatch(
        self, resolved: Resolved, scope: dict[str, Any], receive: Receive, send: Send
    ) -> tuple[int | None, int]:
        """Run the matched route's endpoint; returns (status, body bytes) of the answer it sent.

        Errors are rendered as the app's handlers would: a :class:`VendorError` as the vendor's envelope,
        anything else (a simulator bug) logged and answered 500 in the same envelope.
        """
        endpoint = resolved.endpoint
        assert endpoint is not None
        scope.update(resolved.child)
        scope["route"] = resolved.route
        try:
            response = await endpoint(Request(scope, receive))
        except VendorError as exc:
            response = error_response(exc)
        except ClientDisconnect:  # the client left while sending its body: nobody to answer
            return None, 0
        except Exception:
            response = unexpected_response(scope)
        await response(scope, receive, send)  # type: ignore[arg-type]  # same messages, dict-typed here
        return response.status_code, len(getattr(response, "body", b""))

    def _as_app(self, resolved: Resolved) -> ASGIApp:
        """What a fault wraps: the matched endpoint, or the app (which answers 404/405) when none matched."""
        if resolved.endpoint is None:
            return self.app

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            await self._dispatch(resolved, scope, receive, send)

        return app

    async def _apply(
        self, firing: Firing, app: ASGIApp, scope: dict[str, Any], receive: Receive, send: Send, out: Send
    ) -> tuple[int | None, int]:
        """Apply a fault; returns (status sent or None, body bytes sent)."""
        fault = firing.fault
        if fault.type in ("status", "session_invalid", "session_expired"):
            # Ended before the answer goes out: a client that retries at once finds the session gone.
            end_session(fault, self.runtime.store, _header(scope, b"session"), self.runtime.clock.now())
            start, body = error_answer(fault)
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return int(start["status"]), len(body)
        if fault.type == "reset":
            await wire.reset(scope, receive)
            return None, 0
        if fault.type == "hang":
            await wire.hang(scope, receive, fault.max_s)
            return None, 0
        start, body = await _capture(app, scope, receive)
        status = int(start["status"])
        if fault.type == "truncate":
            keep = truncation_point(fault, len(body))
            return status, await wire.truncate(scope, receive, send, start, body, keep)
        if fault.type == "dribble":
            return status, await wire.dribble(
                send, start, body, fault.chunk_bytes, fault.interval_s, self.runtime.sleep
            )
        start, body = spoil(fault, start, body, firing.rng)
        await out(start)
        await out({"type": "http.response.body", "body": body, "more_body": False})
        return int(start["status"]), len(body)

    def _throttled(self, send: Send) -> Send:
        rt = self.runtime
        chunk_bytes = rt.scenario.bandwidth.chunk_bytes

        async def paced(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            if not body:
                await send(message)
                return
            for offset in range(0, len(body), chunk_bytes):
                chunk = body[offset : offset + chunk_bytes]
                wait = rt.pace(len(chunk))
                if wait > 0:
                    await rt.sleep(wait)
                last = offset + chunk_bytes >= len(body)
                await send({"type": "http.response.body", "body": chunk, "more_body": more or not last})

        return paced

    def _client_id_from_params(self, params: dict[str, Any]) -> str | None:
        if not params:  # connect, the listings: nobody named in the path
            return None
        cid = params.get("cid")
        if cid is not None:
            parts = str(cid).split(":")
            return parts[2] if len(parts) > 2 and parts[2] else None
        store = getattr(self.runtime, "store", None)
        if store is None:
            return None
        if "task_id" in params:
            task = store.get(tasks.TABLE, str(params["task_id"]))
            return str(task.client_id) if task is not None else None
        if "uuid" in params:
            ev = store.get(evidence.TABLE, str(params["uuid"]))
            return str(ev.client_id) if ev is not None else None
        return None


class _Tracker:
    """A ``send`` that passes messages on and remembers the status and body bytes that went out."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status: int | None = None
        self.sent = 0

    async def __call__(self, message: Message) -> None:
        await self.send(message)  # counted once it went out: a send that fails counts nothing
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.sent += len(message.get("body", b""))


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    """The first value of header ``name`` (lower case) of a request, or None."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _capture(app: ASGIApp, scope: dict[str, Any], receive: Receive) -> tuple[Message, bytes]:
    """Run the app and collect its whole answer (the faults that spoil an answer need all of it)."""
    start: Message = {}
    chunks: list[bytes] = []

    async def collect(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, collect)
    return start, b"".join(chunks)


async def _peek_connect_client_id(receive: Receive) -> tuple[str | None, Receive]:
    """Read a connect body for ``target.clientId``; returns a ``receive`` that replays it."""
    messages: list[Message] = []
    size = 0
    while size <= MAX_PEEK_BYTES:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    client_id: str | None = None
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    try:
        target = orjson.loads(body).get("target") if body else None
        if isinstance(target, dict) and isinstance(target.get("clientId"), str | int):
            client_id = str(target["clientId"]).strip()[: MAX_CLIENT_ID_CHARS + 1]  # longer: refused (400)
    except (orjson.JSONDecodeError, AttributeError):
        pass
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return client_id, replay


__all__ = ["CONTROL_PREFIX", "FaultMiddleware"]
