"""``tanium-sim collect``: fetch CST traces from many endpoints through Threat Response (docs/api.md §7).

    tanium-sim collect --url http://127.0.0.1:8443 --token token-abc --all --out out --concurrency 16
    TANIUM_URL=... TANIUM_USERNAME=u TANIUM_PASSWORD=p tanium-sim collect --client-id 101 102

Writes ``OUT/<clientId>.cst.gz`` per endpoint and ``OUT/summary.json``; prints one line per failure
with its typed reason, one line per endpoint collected with something to tell (requests sent again and
why; with ``--diff``, why the full trace was pulled instead of a diff), and a summary. Exit 0 when
every endpoint succeeded, 1 when some failed (or the fleet could not be listed), 2 for usage errors.
The work itself is the reference client's (:func:`client.collect_many`); this module is the command
line around it and its progress bar.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from simulator.cli.types import UsageError, ensure_folder, non_negative_int, positive_float, positive_int

if TYPE_CHECKING:  # the client, httpx and rich are imported in the handler, to keep --help instant
    from rich.progress import Progress, TaskID

    from client import CollectOptions, EndpointOutcome

DEFAULT_OUT = "out"
DEFAULT_CONCURRENCY = 8
DEFAULT_DEADLINE_S = 600.0
DEFAULT_REQUEST_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "collect",
        help="collect endpoints' CST traces through Threat Response (connect, fetch, download, clean up)",
        description="Collect CST traces through the Threat Response API (docs/api.md §7), "
        "leaving nothing behind. Exit 0: every endpoint collected; 1: some failed (an unknown or offline "
        "endpoint, a refused certificate, ...), one line each; 2: usage errors.",
    )
    p.add_argument("--url", help="server base URL (default: $TANIUM_URL)")
    p.add_argument("--token", help="API token (default: $TANIUM_TOKEN)")
    p.add_argument("--username", help="user for a session login (default: $TANIUM_USERNAME)")
    p.add_argument("--password", help="password for --username (default: $TANIUM_PASSWORD)")
    p.add_argument("--domain", help="login domain, if the account needs one")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--client-id",
        dest="client_ids",
        action="extend",
        nargs="+",
        metavar="ID",
        help="endpoints to collect (their Computer ID); one the server does not list fails at once",
    )
    target.add_argument("--all", action="store_true", help="every endpoint in /api/v2/system_status")
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help=f"folder for traces and summary.json, created if needed (default {DEFAULT_OUT})",
    )
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        help=f"endpoints collected at once (default {DEFAULT_CONCURRENCY})",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_DEADLINE_S,
        help=f"seconds per endpoint to connect and fetch the file (default {DEFAULT_DEADLINE_S:g})",
    )
    p.add_argument(
        "--request-timeout",
        type=positive_float,
        default=DEFAULT_REQUEST_TIMEOUT_S,
        help=f"seconds per HTTP request (default {DEFAULT_REQUEST_TIMEOUT_S:g})",
    )
    p.add_argument("--trace-path", help="trace path on the endpoints (default: the scanner's, per platform)")
    p.add_argument(
        "--diff",
        action="store_true",
        help="pull the scanner's diff trace when OUT holds the endpoint's previous inventory (else the full "
        "trace) and write the rebuilt current inventory; reports bytes transferred vs full traces",
    )
    retry = p.add_mutually_exclusive_group()
    retry.add_argument(
        "--retries",
        type=non_negative_int,
        default=DEFAULT_RETRIES,
        help="retries per request for transient failures (refused, reset, timeout, 429 after its "
        f"Retry-After, 5xx), with exponential backoff (default {DEFAULT_RETRIES})",
    )
    retry.add_argument("--no-retry", action="store_true", help="try every request once (same as --retries 0)")
    add_trust_options(p)
    p.set_defaults(func=_run)


def options_from_args(args: argparse.Namespace, env: dict[str, str] | None = None) -> CollectOptions:
    """Checks the arguments (and the TANIUM_* environment); raises UsageError with one sentence."""
    import httpx

    from client import CollectOptions

    env = dict(os.environ) if env is None else env
    url = args.url or env.get("TANIUM_URL")
    if not url:
        raise UsageError("no server URL: pass --url or set TANIUM_URL")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(f"{url!r} is not a server URL: use http://HOST:PORT or https://HOST")
    token = args.token or env.get("TANIUM_TOKEN")
    username = args.username or env.get("TANIUM_USERNAME")
    password = args.password or env.get("TANIUM_PASSWORD")
    if not token:
        if username and not password:
            raise UsageError("--username needs a password: pass --password or set TANIUM_PASSWORD")
        if not username:
            raise UsageError(
                "no credential: pass --token (or set TANIUM_TOKEN), or --username and --password"
            )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder: choose another --out")
    ids = tuple(dict.fromkeys(i.strip() for i in (args.client_ids or []) if i.strip()))
    if not args.all and not ids:
        raise UsageError("no endpoint to collect: pass --client-id ID or --all")
    insecure = bool(getattr(args, "insecure", False))
    ca_bundle = ca_bundle_from_args(args, env)
    return CollectOptions(
        url=url,
        token=token or None,
        username=None if token else username,
        password=None if token else password,
        domain=args.domain or env.get("TANIUM_DOMAIN"),
        client_ids=ids,
        all=bool(args.all),
        out=out,
        concurrency=args.concurrency,
        deadline_s=args.timeout,
        request_timeout_s=args.request_timeout,
        trace_path=args.trace_path,
        ca_bundle=ca_bundle,
        insecure=insecure,
        retries=0 if getattr(args, "no_retry", False) else getattr(args, "retries", DEFAULT_RETRIES),
        diff=bool(getattr(args, "diff", False)),
    )


def add_trust_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--ca-bundle FILE`` or ``--insecure``, as every command that talks to a server takes them (read back
    with :func:`ca_bundle_from_args`)."""
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--ca-bundle",
        metavar="FILE",
        help="PEM file of the CA(s) to trust for https (default: $SSL_CERT_FILE, else the system's); "
        "for the simulator: `tanium-sim tls export-ca FILE`",
    )
    trust.add_argument(
        "--insecure",
        action="store_true",
        help="do NOT verify the server's certificate (testing only: anyone on the path can read the token)",
    )


def ca_bundle_from_args(args: argparse.Namespace, env: dict[str, str]) -> Path | None:
    """The CA bundle to trust (``--ca-bundle``, else ``$SSL_CERT_FILE`` unless ``--insecure``), checked
    up front: a bundle that cannot be read or holds no PEM certificate is a usage error."""
    import ssl

    bundle_arg = getattr(args, "ca_bundle", None)
    insecure = bool(getattr(args, "insecure", False))
    bundle_text = bundle_arg or ("" if insecure else env.get("SSL_CERT_FILE", ""))
    if not bundle_text:
        return None
    ca_bundle = Path(bundle_text)
    source = "--ca-bundle" if bundle_arg else "SSL_CERT_FILE"
    try:
        ssl.create_default_context(cafile=str(ca_bundle))
    except ssl.SSLError:  # before OSError: SSLError is one
        raise UsageError(
            f"{source} {ca_bundle} holds no PEM certificate: export one with `tanium-sim tls export-ca FILE`"
        ) from None
    except OSError as exc:
        raise UsageError(f"{source} {ca_bundle} cannot be read ({exc.strerror}): pass a PEM file") from None
    return ca_bundle


class ProgressBar:
    """A :class:`client.CollectProgress` on stderr: a bar, one line per failed endpoint, and one per
    endpoint collected with notes (:meth:`client.EndpointOutcome.notes`: retries, why a full trace).

    ``tanium-sim collect`` and ``tanium-sim run`` pass one to :func:`client.collect_many`.
    """

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.failed = 0
        self._progress: Progress | None = None
        self._bar: TaskID | None = None

    def start(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (
            TextColumn("collecting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
        )
        self._progress = Progress(*columns, console=self.console)
        self._progress.start()
        self._bar = self._progress.add_task("collect", total=total, failed=self.failed)

    def update(self, outcome: EndpointOutcome) -> None:
        from rich.text import Text

        assert self._progress is not None and self._bar is not None, "update() before start()"
        notes = "; ".join(outcome.notes())
        if outcome.status != "ok":
            self.failed += 1
            line = Text.assemble(
                ("failed", "red"),
                f" {outcome.client_id}: {outcome.reason}: {outcome.message}"
                + (f"; {notes}" if notes else ""),
            )
            self._progress.console.print(line, soft_wrap=True, highlight=False)  # one line each
        elif notes:
            line = Text.assemble(("ok", "green"), f" {outcome.client_id}: {notes}")
            self._progress.console.print(line, soft_wrap=True, highlight=False)
        self._progress.update(self._bar, advance=1, failed=self.failed)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import sys
    import time

    from client import collect_many, retry_totals, transfer_totals, write_summary

    options = options_from_args(args)
    ensure_folder(options.out, "--out")
    if options.insecure:
        print(
            "WARNING: --insecure: the server's certificate is NOT verified; anyone on the network path "
            "can impersonate the server and read the credential; use --ca-bundle FILE instead",
            file=sys.stderr,
            flush=True,
        )
    started = time.monotonic()
    outcomes, fatal = asyncio.run(collect_many(options, progress=ProgressBar()))
    summary_path = write_summary(options, outcomes, started, fatal)
    if fatal:
        print(f"tanium-sim: {fatal}", file=sys.stderr)
        return 1
    failed = [o for o in outcomes if o.status != "ok"]
    reasons: dict[str, int] = {}
    for o in failed:
        reasons[o.reason or "error"] = reasons.get(o.reason or "error", 0) + 1
    why = f" ({', '.join(f'{n} {r}' for r, n in sorted(reasons.items()))})" if reasons else ""
    moved = ""
    if options.diff:
        t = transfer_totals(outcomes)
        moved = f"; {t['bytes_transferred']:,} bytes transferred vs {t['full_trace_bytes']:,} for full traces"
        if t["full_reasons"]:
            moved += f" ({_counts(t['full_reasons'])} pulled in full)"
    retries = retry_totals(outcomes)
    if retries["count"]:
        moved += (
            f"; {retries['count']} requests sent again for {retries['endpoints_retried']} endpoints "
            f"({_counts(retries['reasons'])})"
        )
    print(
        f"collected {len(outcomes) - len(failed)} of {len(outcomes)} endpoints into {options.out}, "
        f"{len(failed)} failed{why}, in {time.monotonic() - started:.1f} s{moved}; summary: {summary_path}"
    )
    return 1 if failed else 0


def _counts(counts: dict[str, int]) -> str:
    """``{"503": 2, "reset": 1}`` as ``2×503, 1×reset``."""
    return ", ".join(f"{n}×{name}" for name, n in counts.items())
