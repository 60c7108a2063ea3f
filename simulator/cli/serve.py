"""``tanium-sim serve``: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse


def add_world_options(p: argparse.ArgumentParser, *, endpoints: int = 25) -> None:
    p.add_argument(
        "--seed", type=int, default=0, help="world seed: same seed, same fleet and traces (default 0)"
    )
    p.add_argument("--endpoints", type=int, default=endpoints, help=f"fleet size (default {endpoints})")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the simulator (Tanium Threat Response API) in the foreground",
        description="Serve the simulated Tanium API. Binds 127.0.0.1 unless told otherwise; Ctrl-C stops it.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
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
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from simulator.app import create_app
    from simulator.cli import UsageError
    from simulator.server import uvicorn_config
    from simulator.settings import Settings

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
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.token and not args.token.startswith("token-"):
        raise UsageError("--token must look like a Tanium API token: token-<hex>")
    app = create_app(settings)
    config = uvicorn_config(app, settings.host, settings.port)
    server = uvicorn.Server(config)

    async def announce() -> None:
        port = settings.port
        for s in server.servers:
            for sock in s.sockets:
                port = sock.getsockname()[1]
        print(
            f"tanium-sim serving http://{settings.host}:{port} — {settings.endpoints} endpoints, "
            f"seed {settings.seed}; session token: {settings.token}; admin token: {settings.admin_token}; "
            f"login {settings.username}/{settings.password}",
            flush=True,
        )

    original_startup = server.startup

    async def startup(sockets: object = None) -> None:
        await original_startup(sockets=sockets)  # type: ignore[arg-type]
        if server.started:
            await announce()

    server.startup = startup  # type: ignore[method-assign]
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a graceful shutdown
        print("tanium-sim stopped", flush=True)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {settings.host}:{settings.port} ({exc.strerror}); try another --port"
        ) from None
    return 0
