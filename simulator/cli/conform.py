"""``tanium-sim conform SESSION.har``: does a server answer the recorded requests the way the recording shows?

    tanium-sim conform session.har                        # against this simulator, in-process
    tanium-sim conform session.har --against http://127.0.0.1:8080 --token token-abc
    tanium-sim conform session.har --json > conformance.json   # shapes only: what to send us

Runs the recording's requests in order against the target (following the ids it hands out, re-polling
until it reaches each recorded state) and prints, per operation, the differences in status, content
type, field names, field types and envelope shape (:mod:`simulator.record.conform`, docs/recording.md).
Exit 0 when nothing differs, 1 when something does, 2 for usage errors (a file that is no HAR, a bad
URL, no token for ``--against``, a target that cannot be reached).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from simulator.cli.types import UsageError, positive_float, positive_int

DEFAULT_SEED = 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "conform",
        help="replay a recorded session (HAR) against the simulator or a URL; report how the answers differ",
        description="Replay a recorded session's requests against this simulator (in-process, by default) or "
        "any URL, and report per operation the differences in status, content type, field names, field "
        "types and envelope shape. Exit 0: no difference; 1: differences; 2: usage error.",
    )
    p.add_argument(
        "har", metavar="SESSION.har", help="the recording (tanium-sim record, or any HAR 1.2 file)"
    )
    p.add_argument(
        "--against",
        metavar="URL",
        help="the server to check (default: this simulator, started in-process for the run)",
    )
    p.add_argument("--token", help="API token for --against (default: $TANIUM_TOKEN)")
    p.add_argument(
        "--username", help="for --against: replay the recording's logins as this user (else they are skipped)"
    )
    p.add_argument("--password", help="the password of --username")
    world = p.add_argument_group("the in-process simulator (without --against)")
    world.add_argument("--seed", type=int, default=None, help=f"world seed (default {DEFAULT_SEED})")
    world.add_argument(
        "--endpoints",
        type=positive_int,
        default=None,
        help="fleet size (default: the recording's, from its system_status or dec answers; else 25)",
    )
    p.add_argument(
        "--max-polls",
        type=positive_int,
        default=60,
        metavar="N",
        help="times a GET is sent until the target reaches the recorded state (default 60)",
    )
    p.add_argument(
        "--poll-interval",
        type=positive_float,
        default=0.5,
        metavar="SECONDS",
        help="wait between those polls (default 0.5; the in-process simulator's clock just moves on)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON: operation names, JSON paths, types and status codes, no recorded "
        "values (the file to send us)",
    )
    trust = p.add_mutually_exclusive_group()
    trust.add_argument("--ca-bundle", metavar="FILE", help="PEM file of the CA(s) to trust for an https URL")
    trust.add_argument("--insecure", action="store_true", help="do NOT verify an https server's certificate")
    p.set_defaults(func=_run)


def _check(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The target's settings from the arguments; raises UsageError with one sentence."""
    if not args.against:
        for flag, value in (
            ("--token", args.token),
            ("--username", args.username),
            ("--password", args.password),
            ("--ca-bundle", args.ca_bundle),
            ("--insecure", args.insecure or None),
        ):
            if value is not None:
                raise UsageError(f"{flag} is for --against URL; the in-process simulator needs none")
        return {}
    import httpx

    if args.seed is not None or args.endpoints is not None:
        raise UsageError("--seed and --endpoints set up the in-process simulator: drop them with --against")
    try:
        url = httpx.URL(args.against)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{args.against!r} is not a server URL: use http://HOST:PORT or https://HOST")
    token = args.token or env.get("TANIUM_TOKEN")
    if not token:
        raise UsageError("--against needs the server's API token: pass --token or set TANIUM_TOKEN")
    if bool(args.username) != bool(args.password):
        raise UsageError("--username and --password go together: pass both, or neither")
    verify: Any = not args.insecure
    if args.ca_bundle:
        import ssl

        try:
            verify = ssl.create_default_context(cafile=args.ca_bundle)
        except (OSError, ssl.SSLError):
            raise UsageError(
                f"--ca-bundle {args.ca_bundle} is not a readable PEM file of certificates"
            ) from None
    return {
        "url": str(args.against),
        "token": token,
        "username": args.username,
        "password": args.password,
        "verify": verify,
    }


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from simulator.record.conform import DEFAULT_ENDPOINTS, recorded_fleet_size
    from simulator.record.har import HarError, read_har

    against = _check(args, dict(os.environ))
    try:
        exchanges = read_har(args.har)
    except HarError as exc:
        raise UsageError(str(exc)) from None
    if not exchanges:
        raise UsageError(f"{args.har} holds no recorded exchange: nothing to replay")
    seed = DEFAULT_SEED if args.seed is None else args.seed
    endpoints = args.endpoints or recorded_fleet_size(exchanges) or DEFAULT_ENDPOINTS
    report = asyncio.run(_conform(against, seed, endpoints, exchanges, args))
    if not report.replayed:
        first = report.skipped[0].reason if report.skipped else "no exchange"
        raise UsageError(f"{args.har}: nothing to compare: every exchange was skipped (first: {first})")
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        target = against.get("url") or f"the simulator in-process (seed {seed}, {endpoints} endpoints)"
        print(f"conform {args.har}: {len(exchanges)} recorded exchanges against {target}")
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


async def _conform(
    against: dict[str, Any], seed: int, endpoints: int, exchanges: Any, args: argparse.Namespace
) -> Any:
    import httpx

    from simulator.record.conform import conform, simulator_target, url_target

    polls = {"max_polls": args.max_polls, "poll_interval_s": args.poll_interval}
    if not against:
        async with simulator_target(seed, endpoints) as target:
            return await conform(exchanges, target, **polls)
    try:
        async with url_target(
            against["url"],
            against["token"],
            username=against["username"],
            password=against["password"],
            verify=against["verify"],
        ) as target:
            return await conform(exchanges, target, **polls)
    except httpx.ConnectError as exc:
        raise UsageError(
            f"cannot reach {against['url']} ({exc or 'connection refused'}); is it running?"
        ) from None


__all__ = ["register"]
