"""``tanium-sim serve``: run the simulator in the foreground until Ctrl-C or SIGTERM (exit 0 either way)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

from simulator.cli.replay_options import add_options as add_replay_options
from simulator.cli.replay_options import replay_from_args
from simulator.cli.types import workers as _workers


def add_world_options(p: argparse.ArgumentParser, *, endpoints: int = 25) -> None:
    p.add_argument(
        "--seed", type=int, default=0, help="world seed: same seed, same fleet and traces (default 0)"
    )
    p.add_argument("--endpoints", type=int, default=endpoints, help=f"fleet size (default {endpoints})")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the simulator (Tanium Threat Response API) in the foreground",
        description="Serve the simulated Tanium API. Binds 127.0.0.1 unless told otherwise; Ctrl-C or "
        "SIGTERM stops it, giving answers in flight --graceful-timeout seconds.",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: loopback only; any other address is warned about: "
        "the tokens are then all that guard the simulator)",
    )
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 = any free port)")
    add_world_options(p)
    p.add_argument(
        "--token", default="", help="API token accepted in the `session` header (default: generated)"
    )
    p.add_argument(
        "--admin-token", default="", help="bearer token for the /_sim/ control routes (default: generated)"
    )
    p.add_argument("--username", default="admin", help="login username (default admin)")
    p.add_argument("--password", default="tanium", help="login password (default tanium)")
    tls = p.add_argument_group("HTTPS (docs/tls.md)")
    tls.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a certificate from the simulator's own CA"
    )
    tls.add_argument(
        "--tls-cert", metavar="PEM", help="serve HTTPS with your own certificate (implies --tls)"
    )
    tls.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert, if not inside it")
    tls.add_argument(
        "--tls-hostname",
        action="append",
        default=[],
        metavar="NAME",
        help="another name for the issued certificate besides localhost and 127.0.0.1 (repeatable)",
    )
    tls.add_argument(
        "--tls-fault",
        metavar="FAULT",
        default="",
        help="serve a bad certificate: expired | wrong-hostname | rotate-after-N (N TLS handshakes)",
    )
    tls.add_argument(
        "--state-dir",
        default="",
        metavar="DIR",
        help="folder keeping the simulator's CA (default: $TANIUM_SIM_STATE, else the user's data folder, "
        "e.g. ~/.local/share/tanium-sim); a named folder must exist unless --create",
    )
    tls.add_argument("--create", action="store_true", help="create the --state-dir folder when missing")
    p.add_argument(
        "--scenario",
        default=None,
        metavar="NAME|PATH",
        help="scenario to run: a name from scenarios/ or a YAML/JSON file (default: baseline)",
    )
    p.add_argument(
        "--no-journal", action="store_true", help="do not keep the request journal (for load tests)"
    )
    scale = p.add_argument_group("scaling out (docs/scaling.md)")
    scale.add_argument(
        "--store",
        default=os.environ.get("TANIUM_SIM_STORE", "memory"),
        metavar="URL",
        help="where the world's state lives: memory (default; one process) or redis://HOST:PORT/DB, "
        "shared by every process and host pointed at it ($TANIUM_SIM_STORE)",
    )
    scale.add_argument(
        "--store-prefix",
        default=os.environ.get("TANIUM_SIM_STORE_PREFIX", "tanium-sim"),
        metavar="NAME",
        help="key prefix in Redis: one per simulated world, so two simulators can share one Redis "
        "(default tanium-sim)",
    )
    scale.add_argument(
        "--workers",
        type=_workers,
        default=os.environ.get("TANIUM_SIM_WORKERS", "1"),
        metavar="N",
        help="serve from N processes on one port (N > 1 needs --store redis://...; default 1)",
    )
    p.add_argument(
        "--task-retention",
        type=int,
        default=10_000,
        metavar="N",
        help="finished tasks kept; older ones answer 404 (default 10000; 0 = keep all)",
    )
    p.add_argument(
        "--traces-dir",
        default=os.environ.get("TANIUM_SIM_TRACES_DIR", ""),
        metavar="DIR",
        help="serve the real CST traces of DIR: <clientId>.cst.gz to that endpoint, the other *.cst.gz files "
        "to the remaining endpoints in order; the rest stay generated ($TANIUM_SIM_TRACES_DIR)",
    )
    p.add_argument(
        "--clock",
        choices=("system", "manual"),
        default=os.environ.get("TANIUM_SIM_CLOCK", "system"),
        help="system: the real time (default). manual: simulated time that moves only through "
        "POST /_sim/clock and injected delays, shared by every process: what 'tanium-sim qa --url' drives",
    )
    p.add_argument(
        "--qa-report",
        default="",
        metavar="FILE",
        help="the QA heatmap written by 'tanium-sim qa --html FILE': the console (/_sim/ui) links to it "
        "and GET /_sim/qa-report serves that one file (admin token)",
    )
    add_replay_options(p)  # --replay HAR, --replay-mode, --replay-speed
    add_connection_options(p)
    p.set_defaults(func=_serve)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def add_connection_options(p: argparse.ArgumentParser) -> None:
    from simulator.limits import ConnectionLimits, default_max_connections  # a leaf: --help stays light

    default = ConnectionLimits()
    group = p.add_argument_group("connections and shutdown (docs/serving.md)")
    group.add_argument(
        "--keep-alive-timeout",
        type=_seconds,
        default=default.keep_alive_s,
        metavar="S",
        help=f"close a connection that sends nothing for S seconds between requests, or after it opens "
        f"(default {default.keep_alive_s:g})",
    )
    group.add_argument(
        "--header-timeout",
        type=_seconds,
        default=default.header_timeout_s,
        metavar="S",
        help="close a connection whose request line and headers are not whole S seconds after it opened "
        f"or its previous answer ended (default {default.header_timeout_s:g})",
    )
    group.add_argument(
        "--max-connections",
        type=_count,
        default=None,
        metavar="N",
        help="connections served at once; each one past N is answered 503 with Retry-After and closed, "
        "GET /_sim/health excepted (default here "
        f"{default_max_connections()}: nine tenths of this process's open-file limit, ulimit -n)",
    )
    group.add_argument(
        "--graceful-timeout",
        type=_seconds,
        default=default.graceful_timeout_s,
        metavar="S",
        help="on Ctrl-C or SIGTERM, answers still in flight (downloads to clients that stopped reading) "
        f"get S seconds, then are cut (default {default.graceful_timeout_s:g})",
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds only this machine (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("127.0.0.2"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("lab.example")
    (True, True, False, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


class CannotListen(OSError):
    """``serve`` cannot bind its address: ``strerror`` is the one sentence ``tanium-sim`` prints (exit 1)."""


def listen(host: str, port: int) -> list[socket.socket]:
    """The sockets ``serve`` listens on, bound now, as asyncio would bind them for uvicorn (one per address
    ``host`` resolves to; port 0: a free port), so a failure is one sentence and not uvicorn's log lines.

    Raises :class:`CannotListen`: the host name does not resolve, the port is taken or privileged, or the
    address is not this machine's.
    """
    import errno

    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListen(
            exc.errno,
            f"the --host {host} cannot be resolved ({exc.strerror}); pass an address or a name this machine "
            "knows, e.g. --host 127.0.0.1",
        ) from None
    except (OverflowError, UnicodeError):  # a port over 65535, a name IDNA cannot encode
        raise CannotListen(errno.EINVAL, f"cannot listen on {host}:{port}; check --host and --port") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio: one family each
            sock.bind(address)
            # Listening from now on: a client that connects after the announcement and before a worker's
            # loop accepts waits in the backlog instead of being refused (uvicorn sets its own backlog later).
            sock.listen(socket.SOMAXCONN)
            sock.set_inheritable(True)  # --workers: the worker processes serve it too
    except OSError as exc:
        for sock in sockets:
            sock.close()
        where = f"port {port} on {host}"
        if exc.errno == errno.EADDRINUSE:
            why = f"{where} is already in use; choose another with --port or stop the other server"
        elif exc.errno == errno.EACCES:
            why = f"{where} needs privileges this user lacks; choose a port above 1023 with --port"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = f"{host} is not an address of this machine; pass one of its own with --host (or 127.0.0.1)"
        else:
            why = f"cannot listen on {where} ({exc.strerror or exc}); choose another --host or --port"
        raise CannotListen(exc.errno, why) from None
    return sockets


class _Terminated(Exception):
    """SIGTERM, raised where uvicorn re-sends it once its graceful shutdown is done."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


class _CutAnswers(logging.Filter):
    """Counts the answers uvicorn cuts when the grace period ends, instead of logging a traceback each."""

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server
        self.cut: int | None = None  # answers cut, once uvicorn says so

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.server.should_exit:
            return True
        if str(record.msg).startswith("Cancel %s running task"):
            args = record.args if isinstance(record.args, tuple) else ()
            self.cut = int(args[0]) if args and isinstance(args[0], int) else 0
            return False
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)  # "Exception in ASGI application" per cut


@contextlib.contextmanager
def _stopped_by_signals(server: Any = None, grace_s: float = 0.0) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the block quietly; ``tanium-sim stopped`` is printed either way.

    uvicorn handles both signals with a graceful shutdown, then restores the previous handlers and sends
    the signal again: Ctrl-C then raises ``KeyboardInterrupt``; SIGTERM, with Python's default action,
    would kill the process with status 143 before it could say it stopped.
    """
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    cut = _CutAnswers(server) if server is not None else None
    if cut is not None:
        logging.getLogger("uvicorn.error").addFilter(cut)
    try:
        yield
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if cut is not None:
            logging.getLogger("uvicorn.error").removeFilter(cut)
    note = ""
    if cut is not None and cut.cut is not None:
        note = f"; what was still in flight after --graceful-timeout {grace_s:g} s was cut off"
    print(f"tanium-sim stopped{note}", flush=True)


def _qa_report(name: str) -> str:
    """``--qa-report FILE``: the file's absolute path, checked now (one sentence when it cannot be served)."""
    from simulator.cli.types import UsageError

    if not name:
        return ""
    path = os.path.abspath(name)
    if not os.path.isfile(path):
        raise UsageError(f"--qa-report {name}: no such file; write one with tanium-sim qa --html {name}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"--qa-report {name}: the file cannot be read (permissions)")
    return path


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from simulator.app import create_app
    from simulator.cli.types import UsageError
    from simulator.limits import ConnectionLimits
    from simulator.scenarios import DEFAULT_SCENARIO, Scenario, ScenarioError
    from simulator.server import tune_gc, uvicorn_config
    from simulator.settings import Settings, TLSSettings

    try:
        settings = Settings(
            host=args.host,
            port=args.port,
            seed=args.seed,
            endpoints=args.endpoints,
            token=args.token,
            admin_token=args.admin_token,
            username=args.username,
            password=args.password,
            tls=TLSSettings(
                enabled=bool(args.tls or args.tls_cert or args.tls_fault),
                cert_file=args.tls_cert or "",
                key_file=args.tls_key or "",
                hostnames=tuple(args.tls_hostname),
                fault=args.tls_fault,
                state_dir=args.state_dir,
            ),
            journal=not args.no_journal,
            task_retention=args.task_retention,
            traces_dir=args.traces_dir,
            clock=args.clock,
            qa_report=_qa_report(args.qa_report),
            connections=ConnectionLimits(
                keep_alive_s=args.keep_alive_timeout,
                header_timeout_s=args.header_timeout,
                max_connections=args.max_connections,
                graceful_timeout_s=args.graceful_timeout,
            ),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        scenario = Scenario.load(args.scenario or DEFAULT_SCENARIO)
    except ScenarioError as exc:
        if args.scenario is not None:
            raise UsageError(str(exc)) from None
        scenario = Scenario()  # no scenarios/ folder next to the package: the built-in baseline
    if args.token and not args.token.startswith("token-"):
        raise UsageError("--token must look like a Tanium API token: token-<hex>")
    if args.tls_key and not args.tls_cert:
        raise UsageError("--tls-key needs --tls-cert: pass the certificate too")
    if settings.traces_dir:  # every file is checked before anything is served (docs/recording.md)
        from simulator.traces.sources import TraceSourceError, TraceSources

        try:
            TraceSources.open(settings.traces_dir)
        except TraceSourceError as exc:
            raise UsageError(str(exc)) from None
    tls_options: dict[str, Any] = {}
    if settings.tls.enabled:
        from simulator.tls import uvicorn_tls_options

        try:
            if not settings.tls.cert_file:
                from simulator.tls import check_state_dir

                check_state_dir(args.state_dir, create=args.create)  # a mistyped folder is not a new CA
            tls_options = uvicorn_tls_options(settings.tls)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    scheme = "https" if tls_options else "http"
    tls_note = ""
    if tls_options and not settings.tls.cert_file:
        import shlex

        state = f" --state-dir {shlex.quote(args.state_dir)}" if args.state_dir else ""
        from simulator.tls import ca_notice

        tls_note = (
            f"; {ca_notice(args.state_dir)}; trust its CA: tanium-sim tls export-ca tanium-sim-ca.pem{state}"
        )
    store_note, store = "", None
    if args.store.strip() != "memory":
        from simulator.state.store import open_store

        try:
            store = open_store(args.store, prefix=args.store_prefix)
            store_note = f"; store {store.check()} at {store.safe_url}, prefix {args.store_prefix}"  # type: ignore[attr-defined]
        except (ValueError, ConnectionError) as exc:
            raise UsageError(f"{exc}; start Redis or fix --store (docs/scaling.md)") from None
        from simulator.shared import join_world

        try:
            settings = join_world(store, settings)  # type: ignore[arg-type]
        except (ValueError, ConnectionError) as exc:
            raise UsageError(str(exc)) from None
        if (args.token and args.token != settings.token) or (
            args.admin_token and args.admin_token != settings.admin_token
        ):
            print(
                f"tanium-sim: joining the world under --store-prefix {args.store_prefix}: "
                "its tokens win over --token/--admin-token",
                file=sys.stderr,
            )
    elif args.workers > 1:
        raise UsageError(
            f"--workers {args.workers} needs a shared store: with the memory store each worker would hold "
            "its own world; pass --store redis://127.0.0.1:6379/0 (docs/scaling.md)"
        )
    replay = replay_from_args(args)  # None without --replay
    sockets = listen(settings.host, settings.port)  # now: a taken port is one sentence (exit 1)
    if not is_loopback(settings.host):
        print(
            f"tanium-sim: warning: --host {settings.host} lets other machines reach the simulator; "
            "its session and admin tokens are all that guard it (bind 127.0.0.1 to keep it local)",
            file=sys.stderr,
            flush=True,
        )
    if args.workers > 1:
        return _serve_workers(args, settings, scenario, store_note, scheme, tls_note, tls_options, sockets)
    app = create_app(settings, scenario=scenario, store=store, replay=replay)
    settings = app.state.settings  # the scenario may set the seed, fleet size and lifecycles
    scenario = app.state.runtime.scenario  # on a shared store, the world's running scenario
    config = uvicorn_config(app, settings.host, settings.port, limits=settings.connections, **tls_options)
    server = uvicorn.Server(config)
    tune_gc()  # this process only serves: see tune_gc

    async def announce() -> None:
        port = settings.port
        for s in server.servers:
            for sock in s.sockets:
                port = sock.getsockname()[1]
        print(
            f"tanium-sim serving {scheme}://{settings.host}:{port} — {settings.endpoints} endpoints, "
            f"seed {settings.seed}, scenario {scenario.name}; session token: {settings.token}; "
            f"admin token: {settings.admin_token}; "
            f"login {settings.username}/{settings.password}{store_note}{tls_note}",
            flush=True,
        )

    original_startup = server.startup

    async def startup(sockets: object = None) -> None:
        await original_startup(sockets=sockets)  # type: ignore[arg-type]
        if server.started:
            await announce()

    server.startup = startup  # type: ignore[method-assign]
    try:
        with _stopped_by_signals(server, settings.connections.graceful_timeout_s):
            server.run(sockets=sockets)  # uvicorn closes them when it stops
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); try another --port"
        ) from None
    return 0


def _serve_workers(
    args: argparse.Namespace,
    settings: Any,
    scenario: Any,
    store_note: str,
    scheme: str,
    tls_note: str,
    tls_options: dict[str, Any],
    sockets: list[socket.socket],
) -> int:
    """``--workers N``: uvicorn's process manager, each worker building the app from one spec."""
    import base64
    import pickle

    from uvicorn.supervisors import Multiprocess

    from simulator.server import WORKER_SPEC_ENV, uvicorn_config

    spec = pickle.dumps((settings, scenario, args.store, args.store_prefix))
    os.environ[WORKER_SPEC_ENV] = base64.b64encode(spec).decode()  # inherited by the workers only
    config = uvicorn_config(
        "simulator.server:worker_app",
        settings.host,
        settings.port,
        factory=True,
        workers=args.workers,
        limits=settings.connections,
        **tls_options,
    )
    port = sockets[0].getsockname()[1]
    print(
        f"tanium-sim serving {scheme}://{settings.host}:{port} — {settings.endpoints} endpoints, "
        f"seed {settings.seed}, scenario {scenario.name}, {args.workers} workers; "
        f"session token: {settings.token}; admin token: {settings.admin_token}; "
        f"login {settings.username}/{settings.password}{store_note}{tls_note}",
        flush=True,
    )
    with _stopped_by_signals():
        Multiprocess(config, sockets=sockets).run()
    return 0
