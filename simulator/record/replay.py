"""Replay: the simulator answering from a recording (``tanium-sim serve --replay session.har``).

A :class:`Replay` sits where the vendor handlers are: ``create_app(settings, replay=Replay.load(...))``
wraps each vendor route's endpoint, so the scenario's latency, faults, bandwidth, the journal and the
metrics apply on top of the recorded answers exactly as they do on top of the simulator's own.

- A request is recognised by its :class:`~simulator.record.matching.Shape` (method, operation and path
  ids, query, ``tanium-options``, normalized body). The recorded answers to one shape are handed out in
  recorded order (``waiting`` then ``connected``, ``STARTED`` then ``COMPLETED``), then the last again.
  Answers are replayed verbatim, so the ids a client learns (connections, tasks, evidence, questions)
  are the recorded ones, and its next requests name them.
- ``strict``: a request not in the recording answers ``404`` naming the nearest recorded request and
  how it differs. ``hybrid``: it goes to the simulator's own handler, as if there were no recording.
- Each answer waits the exchange's recorded time divided by ``speed`` (0: no wait) on the app's injected
  sleep. A vendor request needs a ``session`` header, any non-empty value (recordings hold placeholders,
  not tokens); in hybrid, a request that falls through meets the simulator's own authentication.
- An exchange recorded without an answer (the upstream reset or hung) resets the connection; one whose
  body was left out of the recording answers a 404 saying so.

>>> replay = Replay([], mode="strict", speed=0)
>>> app = create_app(Settings(endpoints=2), replay=replay)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from simulator.api.http import backend, read_body
from simulator.errors import NotFound, Unauthorized
from simulator.faults import wire
from simulator.operations import CONTROL_PREFIX, OPERATIONS
from simulator.record.har import Exchange, HarError, read_har
from simulator.record.matching import Shape, distance

MODES = ("strict", "hybrid")
Endpoint = Callable[[Request], Awaitable[Response]]
Sleep = Callable[[float], Awaitable[None]]
# Not replayed from the recording: the server computes these for the body it sends.
UNREPLAYED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}
)
ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_OPEN = frozenset(op.name for op in OPERATIONS if not op.auth)  # operations that need no session


class ReplayError(ValueError):
    """A recording or replay option that cannot be used (one sentence: which and why)."""


class Track:
    """The recorded answers to one request shape, handed out in order, then the last one again."""

    def __init__(self, shape: Shape, first: Exchange) -> None:
        self.shape = shape
        self.exchanges = [first]
        self.served = 0

    def next(self) -> Exchange:
        exchange = self.exchanges[min(self.served, len(self.exchanges) - 1)]
        self.served += 1
        return exchange


def shape_of(exchange: Exchange) -> Shape:
    """The shape of a recorded request."""
    url = urlsplit(exchange.url)
    return Shape.of(
        exchange.method,
        url.path,
        query=url.query,
        headers=exchange.request_headers,
        body=exchange.request_body,
    )


def live_shape(scope: Scope, body: bytes) -> Shape:
    """The shape of a request being served (its path as sent, still URL-encoded, when the server says)."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    query = scope.get("query_string", b"").decode("latin-1")
    return Shape.of(scope["method"], path, query=query, headers=headers, body=body)


class Replay:
    """Answers from a recording (see the module docstring); one Replay serves one app."""

    def __init__(
        self, exchanges: Iterable[Exchange], *, mode: str = "strict", speed: float = 1.0, source: str = ""
    ) -> None:
        if mode not in MODES:
            raise ReplayError(f"replay mode {mode!r} is not one of {', '.join(MODES)}")
        if not speed >= 0:  # NaN too
            raise ReplayError(f"replay speed {speed!r} is not a number of at least 0 (0 = no delay)")
        self.mode = mode
        self.speed = speed
        self.source = source or "the recording"
        self.exchanges = list(exchanges)
        self.tracks: list[Track] = []
        self._exact: dict[tuple[Any, ...], Track] = {}
        self._by_route: dict[tuple[str, str], list[Track]] = {}
        for exchange in self.exchanges:
            shape = shape_of(exchange)
            track = self._exact.get(shape.key)
            if track is None:
                track = self._exact[shape.key] = Track(shape, exchange)
                self.tracks.append(track)
                self._by_route.setdefault(shape.route, []).append(track)
            else:
                track.exchanges.append(exchange)
        self._literal = {track.shape.route for track in self.tracks if not track.shape.operation}
        self._sleep: Sleep | None = None

    @classmethod
    def load(cls, path: str | Path, *, mode: str = "strict", speed: float = 1.0) -> Replay:
        """A replay of the HAR file ``path``; :class:`ReplayError` when it cannot be read."""
        if not Path(path).is_file():
            raise ReplayError(f"{path}: no such recording (a HAR file, as `tanium-sim record` writes)")
        try:
            exchanges = read_har(path)
        except HarError as exc:
            raise ReplayError(str(exc)) from None
        return cls(exchanges, mode=mode, speed=speed, source=str(path))

    def __repr__(self) -> str:
        return f"Replay({self.source!r}, {len(self.exchanges)} exchanges, {self.mode}, speed {self.speed:g})"

    # -- finding the answer ------------------------------------------------------------------------------

    def find(self, live: Shape) -> Track | None:
        """The recorded answers to ``live``: its exact shape, else one whose placeholders it fills."""
        track = self._exact.get(live.key)
        if track is not None:
            return track
        return next((t for t in self._by_route.get(live.route, ()) if t.shape.matches(live)), None)

    def miss(self, live: Shape) -> str:
        """Why ``live`` has no recorded answer, naming the nearest recorded request."""
        best: tuple[int, Track, list[str]] | None = None
        for track in self.tracks:
            differences = track.shape.differences(live)
            score = distance(differences)
            if best is None or score < best[0]:
                best = (score, track, differences)
        if best is None:
            return f"not in the recording: {live.display}; {self.source} holds no exchange"
        _, track, differences = best
        return (
            f"not in the recording: {live.display}; nearest recorded: {track.shape.display} "
            f"(differs in: {', '.join(differences) or 'nothing'})"
        )

    def catches(self, method: str, path: str) -> bool:
        """Whether a path outside the route table is this replay's to answer (strict: all of them)."""
        if path.startswith(CONTROL_PREFIX):
            return False
        return self.mode == "strict" or (method, path) in self._literal

    # -- serving -----------------------------------------------------------------------------------------

    def routes(self, routes: Sequence[BaseRoute], *, sleep: Sleep) -> list[BaseRoute]:
        """The app's routes with every vendor endpoint answering from the recording first, and a last
        route for recorded paths outside the route table; ``sleep`` waits the recorded latency."""
        if self._sleep is not None:
            raise ReplayError(f"a Replay answers for one app: load {self.source} again for another")
        self._sleep = sleep
        out: list[BaseRoute] = []
        for route in routes:
            if isinstance(route, Route) and not route.path.startswith(CONTROL_PREFIX):
                endpoint = self._endpoint(route.endpoint, auth=route.name not in _OPEN)
                route = Route(route.path, endpoint, methods=route.methods, name=route.name)
            out.append(route)
        out.append(_Elsewhere(self, self._endpoint(None, auth=True)))
        return out

    def _endpoint(self, own: Endpoint | None, *, auth: bool) -> Endpoint:
        """An endpoint answering from the recording; on a miss, ``own`` (hybrid) or a 404 (strict)."""

        async def replayed(request: Request) -> Response:
            body = await read_body(request, backend(request).settings.max_body_bytes)
            live = live_shape(request.scope, body)
            if auth and self.mode == "strict":
                _require_session(request)
            track = self.find(live)
            if track is None:
                if self.mode == "hybrid":
                    if own is None:
                        raise NotFound()  # what the app answers for a path it does not know
                    return await own(Request(request.scope, _replaying(body, request.receive)))
                raise NotFound(self.miss(live))
            if auth:
                _require_session(request)
            return await self._answer(track.next(), track.shape)

        return replayed

    async def _answer(self, exchange: Exchange, shape: Shape) -> Response:
        if exchange.status == 0:
            return _ResetResponse()
        if exchange.response_body is None:
            raise NotFound(
                f"the response body of {shape.display} was not recorded ({exchange.size} bytes, left out "
                "by the recording's size limit): record again without --max-body"
            )
        delay = exchange.time_ms / 1000 / self.speed if self.speed > 0 else 0.0
        if delay > 0 and self._sleep is not None:
            await self._sleep(delay)
        response = Response(exchange.response_body, status_code=exchange.status)
        response.raw_headers += [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in exchange.response_headers
            if name.lower() not in UNREPLAYED_HEADERS
        ]
        return response


def _require_session(request: Request) -> None:
    if not request.headers.get("session"):
        raise Unauthorized("missing session header")


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read once more, then the client's own messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Any:
        return pending.pop() if pending else await receive()

    return replay


class _Elsewhere(Route):
    """The last route: recorded paths outside the route table (strict: every other vendor path)."""

    def __init__(self, replay: Replay, endpoint: Endpoint) -> None:
        super().__init__("/{path:path}", endpoint, methods=ANY_METHOD, name="unknown")
        self.replay = replay

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and self.replay.catches(scope["method"], scope["path"]):
            return super().matches(scope)
        return Match.NONE, {}


class _ResetResponse(Response):
    """What an exchange recorded without an answer replays as: the connection reset."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await wire.reset(cast(dict[str, Any], scope), cast(wire.Receive, receive))


__all__ = ["MODES", "Replay", "ReplayError", "Track", "live_shape", "shape_of"]
