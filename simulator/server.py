"""Run the simulator on a real socket: in the foreground (``serve``) or in a background thread.

:class:`BackgroundServer` is what ``tanium-sim run``, the QA matrix and the socket tests use: uvicorn on
127.0.0.1, port 0 (the OS picks a free one), started and stopped deterministically, no sleeps.

>>> with BackgroundServer(Settings(endpoints=5)) as server:   # doctest: +SKIP
...     httpx.get(server.url + "/_sim/health")
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import threading
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.faults.wire import FAST_PROTOCOL, TransportH11Protocol
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


def uvicorn_config(app: Starlette | str, host: str, port: int, **extra: Any) -> uvicorn.Config:
    """Fast defaults: uvloop and httptools when installed, no access log (it would cost per request),
    no proxy-header rewriting (a simulator on loopback has no proxy to trust).

    The HTTP protocol is uvicorn's own, subclassed to expose the socket to the fault middleware
    (connection resets, hangs and truncations need it: see :mod:`simulator.faults.wire`).
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http=FAST_PROTOCOL if importlib.util.find_spec("httptools") else TransportH11Protocol,
        access_log=False,
        proxy_headers=False,
        log_level="warning",
        lifespan="off",
        **extra,
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
        self._config = uvicorn_config(self.app, self.settings.host, self.settings.port, **config)
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
