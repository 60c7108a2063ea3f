"""Run the simulator on a real socket: in the foreground (``serve``) or in a background thread.

:class:`BackgroundServer` is what ``tanium-sim run``, the QA matrix and the socket tests use: uvicorn on
127.0.0.1, port 0 (the OS picks a free one), started and stopped deterministically, no sleeps.
Every server runs with :class:`~simulator.settings.ConnectionLimits`: idle and slow connections are
closed, surplus ones answered 503, and a stop waits a bounded time (:class:`ConnectionGuard`).

>>> with BackgroundServer(Settings(endpoints=5)) as server:   # doctest: +SKIP
...     httpx.get(server.url + "/_sim/health")
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import threading
from types import TracebackType
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.app import create_app
from simulator.errors import error_text
from simulator.faults.wire import FAST_PROTOCOL, TransportH11Protocol
from simulator.limits import ConnectionLimits, default_max_connections
from simulator.settings import Settings

# Young-generation size for a serving process: see tune_gc.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Tune the garbage collector for a process that only serves the simulator (``tanium-sim serve``).

    Each vendor request allocates a few dozen containers (coroutine frames, closures, the request and
    response), and with a delay injected, a thousand requests are alive at once: with CPython's default
    threshold (700) the collector ran every few requests and kept re-scanning those in-flight objects,
    about a third of the server's CPU per request at 1,000 delayed connections (loadtests/RESULTS.md).
    Freezing what start-up built (the app, route table, fleet) moves it out of every future collection;
    a larger young generation makes collections rare. Memory stays bounded: cycles are still collected.
    Never called for in-process servers (tests, ``BackgroundServer``): the host process owns its GC.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# A connection past the limit gets this long to send its request and read the 503 before it is closed.
SURPLUS_GRACE_S = 1.0


class SimulatorConfig(uvicorn.Config):
    """uvicorn's configuration plus the simulator's :class:`ConnectionLimits` (read by the protocol)."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits
        self.max_connections = limits.max_connections or default_max_connections()


def surplus_app(app: ASGIApp, limit: int) -> ASGIApp:
    """What a connection past the limit is answered: 503 in the vendor's envelope, then closed.

    ``GET /_sim/health`` is still answered (then closed), so a liveness probe does not restart a server
    that is merely full. uvicorn's own ``limit_concurrency`` is not used: it answers plain text, and
    answers 503 on every connection, the established ones too, as long as the count is reached.
    """
    text = error_text(503, f"the simulator is serving its limit of {limit} connections; retry shortly")
    body = orjson.dumps({"text": text})
    start: Message = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json"),
            (b"retry-after", b"1"),
            (b"connection", b"close"),
        ],
    }

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/_sim/health":

            async def send_closing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
                await send(message)

            await app(scope, receive, send_closing)
            return
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return answer


class ConnectionGuard:
    """Mixed into uvicorn's HTTP protocols: closes idle and slow connections, answers surplus ones 503.

    uvicorn arms its keep-alive timer only once a response is complete, and neither h11 nor httptools
    bounds the time a request head may take: a socket that connects and sends nothing, or a header a
    byte a minute, held a descriptor for ever, and 20,000 of them left the server unable to accept
    ``/_sim/health`` (loadtests/RESULTS.md). Here a new connection gets the keep-alive timer at once
    (no byte for ``keep_alive_s``: closed), and every request head must be whole ``header_timeout_s``
    after the connection opened or the previous response ended.
    """

    # What uvicorn's protocol classes define.
    config: uvicorn.Config
    connections: set[Any]
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    app: ASGIApp
    timeout_keep_alive_task: asyncio.TimerHandle | None
    _head_timer: asyncio.TimerHandle | None = None
    _head_timeout_s: float = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        config = self.config
        limits = config.limits if isinstance(config, SimulatorConfig) else ConnectionLimits()
        limit = config.max_connections if isinstance(config, SimulatorConfig) else default_max_connections()
        surplus = len(self.connections) >= limit
        super().connection_made(transport)  # type: ignore[misc]
        self._head_timeout_s = limits.header_timeout_s
        if surplus:
            self.app = surplus_app(self.app, limit)
            self._head_timeout_s = min(self._head_timeout_s, SURPLUS_GRACE_S)
        self.timeout_keep_alive_task = self.loop.call_later(
            limits.keep_alive_s,
            self.timeout_keep_alive_handler,  # type: ignore[attr-defined]
        )
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self._head_timeout_s, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        waiting = self.cycle is None or self.cycle.response_complete  # no request under way
        if waiting and not self.transport.is_closing():
            self.transport.close()


class GuardedH11Protocol(ConnectionGuard, TransportH11Protocol):
    """The h11 protocol with the :class:`ConnectionGuard`."""


GuardedProtocol: type[asyncio.Protocol] = GuardedH11Protocol
if importlib.util.find_spec("httptools") and FAST_PROTOCOL is not TransportH11Protocol:

    class GuardedHttpToolsProtocol(ConnectionGuard, FAST_PROTOCOL):  # type: ignore[misc,valid-type]
        """The httptools protocol with the :class:`ConnectionGuard`."""

    GuardedProtocol = GuardedHttpToolsProtocol


def uvicorn_config(
    app: Starlette | str,
    host: str,
    port: int,
    *,
    limits: ConnectionLimits | None = None,
    **extra: Any,
) -> uvicorn.Config:
    """Fast defaults: uvloop and httptools when installed, no access log (it would cost per request),
    no proxy-header rewriting (a simulator on loopback has no proxy to trust).

    The HTTP protocol is uvicorn's own, subclassed to expose the socket to the fault middleware
    (connection resets, hangs and truncations need it: see :mod:`simulator.faults.wire`) and to apply
    ``limits`` (default :class:`ConnectionLimits`: see :class:`ConnectionGuard`).
    """
    limits = limits or ConnectionLimits()
    options: dict[str, Any] = {
        "timeout_keep_alive": limits.keep_alive_s,
        "timeout_graceful_shutdown": limits.graceful_timeout_s,
        **extra,
    }
    return SimulatorConfig(
        app,
        limits=limits,
        host=host,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http=GuardedProtocol,
        access_log=False,
        proxy_headers=False,
        log_level="warning",
        lifespan="off",
        **options,
    )


class BackgroundServer:
    """uvicorn serving a simulator app in a daemon thread; a context manager."""

    def __init__(
        self, settings: Settings | None = None, *, app: Starlette | None = None, **config: Any
    ) -> None:
        self.settings = settings or Settings(port=0)
        self.app = app or create_app(self.settings)
        if self.settings.tls.enabled:  # HTTPS (docs/tls.md); plain HTTP never imports the TLS stack
            from simulator.tls import uvicorn_tls_options

            config = {**uvicorn_tls_options(self.settings.tls), **config}
        self._config = uvicorn_config(
            self.app, self.settings.host, self.settings.port, limits=self.settings.connections, **config
        )
        self._server = uvicorn.Server(self._config)
        # uvicorn installs signal handlers only in the main thread, so a background server leaves them alone.
        self._thread = threading.Thread(target=self._server.run, name="tanium-sim", daemon=True)
        self.port = 0

    @property
    def scheme(self) -> str:
        return "https" if self._config.is_ssl else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.settings.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        started = threading.Event()
        # uvicorn sets `started` after binding; poll its flag with a bounded wait (no fixed sleeps).
        for _ in range(int(timeout / 0.01)):
            if self._server.started or not self._thread.is_alive():
                break
            started.wait(0.01)
        if not self._server.started:
            raise RuntimeError(f"the simulator did not start on {self.settings.host}")
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


WORKER_SPEC_ENV = "TANIUM_SIM_WORKER_SPEC"


def worker_app() -> Starlette:
    """One ``serve --workers N`` process's app, from the spec ``serve`` put in the environment."""
    import base64
    import os

    from simulator.state.redis_store import loads
    from simulator.state.store import open_store

    raw = os.environ.get(WORKER_SPEC_ENV)
    if not raw:
        raise RuntimeError(f"{WORKER_SPEC_ENV} is not set: start workers with tanium-sim serve --workers N")
    settings, scenario, store_url, prefix = loads(base64.b64decode(raw))
    app = create_app(settings, scenario=scenario, store=open_store(store_url, prefix=prefix))
    tune_gc()
    return app
