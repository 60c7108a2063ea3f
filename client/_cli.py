"""``tanium-sim collect``: fetch CST traces from many endpoints through Threat Response (spec §7).

    tanium-sim collect --url http://127.0.0.1:8443 --token token-abc --all --out out --concurrency 16
    TANIUM_URL=... TANIUM_USERNAME=u TANIUM_PASSWORD=p tanium-sim collect --client-id 101 102

Writes ``OUT/<clientId>.cst.gz`` per endpoint and ``OUT/summary.json``; prints one line per failure
with its typed reason and a summary. Exit 0 when every endpoint succeeded, 1 when some failed (or the
fleet could not be listed), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.cli import UsageError

if TYPE_CHECKING:  # the CLI imports httpx and the client lazily, to keep --help instant
    from client._client import RequestPolicy

DEFAULT_OUT = "out"
DEFAULT_CONCURRENCY = 8
DEFAULT_DEADLINE_S = 600.0
DEFAULT_REQUEST_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "collect",
        help="collect endpoints' CST traces through Threat Response (connect, fetch, download, clean up)",
        description="Collect CST traces through the Threat Response API (spec §7), leaving nothing behind.",
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
        help="endpoints to collect",
    )
    target.add_argument("--all", action="store_true", help="every endpoint in /api/v2/system_status")
    p.add_argument(
        "--out", default=DEFAULT_OUT, help=f"folder for traces and summary.json (default {DEFAULT_OUT})"
    )
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        help=f"endpoints collected at once (default {DEFAULT_CONCURRENCY})",
    )
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_DEADLINE_S,
        help=f"seconds per endpoint to connect and fetch the file (default {DEFAULT_DEADLINE_S:g})",
    )
    p.add_argument(
        "--request-timeout",
        type=_positive_float,
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
        type=_non_negative_int,
        default=DEFAULT_RETRIES,
        help="retries per request for transient failures (refused, reset, timeout, 429 after its "
        f"Retry-After, 5xx), with exponential backoff (default {DEFAULT_RETRIES})",
    )
    retry.add_argument("--no-retry", action="store_true", help="try every request once (same as --retries 0)")
    trust = p.add_mutually_exclusive_group()
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
    p.set_defaults(func=_run)


@dataclass(frozen=True)
class CollectOptions:
    """A validated ``collect`` command line."""

    url: str
    token: str | None
    username: str | None
    password: str | None
    domain: str | None
    client_ids: tuple[str, ...]
    all: bool
    out: Path
    concurrency: int
    deadline_s: float
    request_timeout_s: float
    trace_path: str | None
    ca_bundle: Path | None = None  # --ca-bundle or $SSL_CERT_FILE
    insecure: bool = False  # --insecure: no certificate verification at all
    poll_interval_s: float = 2.0  # first wait between polls of connections and tasks (backs off from there)
    retries: int = 3  # --retries / --no-retry: retries per request (client._retry.RetryPolicy)
    diff: bool = False  # --diff: pull diff traces against the inventories kept in OUT (client._diff)

    def verify(self) -> bool | ssl.SSLContext:
        """What httpx needs: a context trusting only the bundle, False for --insecure, else True."""
        if self.insecure:
            return False
        if self.ca_bundle is not None:
            return ssl.create_default_context(cafile=str(self.ca_bundle))
        return True

    def policy(self) -> RequestPolicy:
        """The retry policy for ``retries`` (short backoffs: a CLI user is waiting).

        ``retry_unsafe``: the CLI's only POSTs are the workflow's, which finds and cleans the
        duplicates a repeated connect or file request may leave (client/_workflow.py).
        """
        from client._client import SingleAttempt
        from client._retry import RetryPolicy

        if self.retries < 1:
            return SingleAttempt()
        return RetryPolicy(attempts=self.retries + 1, initial_s=0.2, max_backoff_s=10.0, retry_unsafe=True)


def options_from_args(args: argparse.Namespace, env: dict[str, str] | None = None) -> CollectOptions:
    """Checks the arguments (and the TANIUM_* environment); raises UsageError with one sentence."""
    import httpx

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
    bundle_arg = getattr(args, "ca_bundle", None)
    bundle_text = bundle_arg or ("" if insecure else env.get("SSL_CERT_FILE", ""))
    ca_bundle = Path(bundle_text) if bundle_text else None
    if ca_bundle is not None:
        source = "--ca-bundle" if bundle_arg else "SSL_CERT_FILE"
        try:
            ssl.create_default_context(cafile=str(ca_bundle))  # a bad bundle is a usage error, up front
        except ssl.SSLError:  # before OSError: SSLError is one
            raise UsageError(
                f"{source} {ca_bundle} holds no PEM certificate: "
                "export one with `tanium-sim tls export-ca FILE`"
            ) from None
        except OSError as exc:
            raise UsageError(
                f"{source} {ca_bundle} cannot be read ({exc.strerror}): pass a PEM file"
            ) from None
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


@dataclass
class EndpointOutcome:
    """One endpoint's line in summary.json."""

    client_id: str
    status: str = "failed"  # ok | failed
    reason: str | None = None
    message: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    trace_path: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    inventory: dict[str, Any] | None = None
    diff: dict[str, Any] | None = None  # --diff only: mode, bytes transferred, full-trace bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v for k, v in self.__dict__.items() if k != "client_id" and not (k == "diff" and v is None)
        }


def _inventory_reader() -> Callable[[Path], dict[str, Any]] | None:
    """The trace reader's inventory summary, when client._trace and client._findings are present."""
    try:
        trace = importlib.import_module("client._trace")
        findings = importlib.import_module("client._findings")
        open_trace, summarize = trace.open_trace, findings.summarize
    except (ImportError, AttributeError):
        return None

    def read(path: Path) -> dict[str, Any]:
        with open_trace(path) as reader:
            return dict(summarize(reader).to_dict())

    return read


async def collect_many(
    options: CollectOptions, *, transport: Any = None
) -> tuple[list[EndpointOutcome], str | None]:
    """Collects every endpoint with bounded concurrency; returns the outcomes and a fatal error, if any.

    ``transport`` (an httpx transport) is for tests: ``httpx.ASGITransport(app)`` runs in-process.
    """
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from client._client import AsyncTaniumClient
    from client._errors import TaniumError
    from client._workflow import PollPolicy, collect_trace

    timeout = httpx.Timeout(options.request_timeout_s, connect=min(10.0, options.request_timeout_s))
    inventory = _inventory_reader()
    console = Console(stderr=True)
    options.out.mkdir(parents=True, exist_ok=True)
    async with AsyncTaniumClient(
        options.url,
        token=options.token,
        username=options.username,
        password=options.password,
        domain=options.domain,
        timeout=timeout,
        verify=options.verify(),
        policy=options.policy(),
        transport=transport,
    ) as client:
        client_ids = list(options.client_ids)
        if options.all:
            try:
                client_ids = list(dict.fromkeys(e.computer_id for e in await client.system_status()))
            except TaniumError as exc:
                return [], f"could not list the endpoints: {exc}"
        outcomes = [EndpointOutcome(cid) for cid in client_ids]
        semaphore = asyncio.Semaphore(options.concurrency)
        columns = (
            TextColumn("collecting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            bar = progress.add_task("collect", total=len(outcomes), failed=0)
            failed = 0

            async def one(outcome: EndpointOutcome) -> None:
                nonlocal failed
                async with semaphore:
                    started = time.monotonic()
                    try:
                        if options.diff:
                            from client._diff import collect_inventory

                            pulled = await collect_inventory(
                                client,
                                outcome.client_id,
                                dest=options.out,
                                path=options.trace_path,
                                deadline_s=options.deadline_s,
                                poll=PollPolicy(interval_s=options.poll_interval_s),
                            )
                            result = pulled.last
                            outcome.diff = pulled.to_dict()
                            outcome.bytes = pulled.trace_path.stat().st_size
                            outcome.sha256 = pulled.trace_sha256
                            result = replace(result, trace_path=pulled.trace_path, warnings=pulled.warnings)
                        else:
                            result = await collect_trace(
                                client,
                                outcome.client_id,
                                dest=options.out,
                                path=options.trace_path,
                                deadline_s=options.deadline_s,
                                poll=PollPolicy(interval_s=options.poll_interval_s),
                            )
                            outcome.bytes, outcome.sha256 = result.bytes, result.sha256
                        outcome.trace_path = str(result.trace_path)
                        outcome.timings = dict(result.timings)
                        outcome.warnings = list(result.warnings)
                        outcome.status = "ok"
                        if inventory is not None:
                            try:
                                outcome.inventory = await asyncio.to_thread(inventory, result.trace_path)
                            except ValueError as exc:  # e.g. no scan_time: the trace is kept, not counted
                                outcome.warnings.append(f"no inventory for this trace: {exc}")
                    except TaniumError as exc:  # TraceFormatError too: a trace that does not parse
                        outcome.status = "failed"
                        outcome.reason, outcome.message = exc.reason, str(exc)
                    except OSError as exc:
                        outcome.status = "failed"
                        outcome.reason, outcome.message = "local_io", f"could not write the trace: {exc}"
                    except Exception as exc:  # a bug for one endpoint must not lose the others' results
                        outcome.status = "failed"
                        outcome.reason, outcome.message = "internal", f"{type(exc).__name__}: {exc}"
                    outcome.timings.setdefault("total_s", time.monotonic() - started)
                    if outcome.status != "ok":
                        failed += 1
                        line = Text.assemble(
                            ("failed", "red"), f" {outcome.client_id}: {outcome.reason}: {outcome.message}"
                        )
                        progress.console.print(line, soft_wrap=True, highlight=False)  # one line each
                    progress.update(bar, advance=1, failed=failed)

            async with asyncio.TaskGroup() as group:
                for outcome in outcomes:
                    group.create_task(one(outcome))
    return outcomes, None


def transfer_totals(outcomes: list[EndpointOutcome]) -> dict[str, Any]:
    """``--diff``: bytes downloaded vs what full traces would have taken, and pulls by mode."""
    done = [o.diff for o in outcomes if o.diff is not None]
    moved = sum(int(d["bytes_transferred"]) for d in done)
    full = sum(int(d["full_trace_bytes"]) for d in done)
    modes: dict[str, int] = {}
    for d in done:
        modes[d["mode"]] = modes.get(d["mode"], 0) + 1
    return {
        "bytes_transferred": moved,
        "full_trace_bytes": full,
        "ratio": round(moved / full, 4) if full else None,
        "modes": dict(sorted(modes.items())),
    }


def write_summary(
    options: CollectOptions, outcomes: list[EndpointOutcome], started: float, fatal: str | None
) -> Path:
    """Writes OUT/summary.json atomically (no credential in it)."""
    ok = sum(o.status == "ok" for o in outcomes)
    summary = {
        "url": options.url,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "duration_s": round(time.monotonic() - started, 3),
        "error": fatal,
        "counts": {"total": len(outcomes), "ok": ok, "failed": len(outcomes) - ok},
        **({"transfer": transfer_totals(outcomes)} if options.diff else {}),
        "endpoints": {o.client_id: o.to_dict() for o in outcomes},
    }
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / "summary.json"
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _run(args: argparse.Namespace) -> int:
    import sys

    options = options_from_args(args)
    if options.insecure:
        print(
            "WARNING: --insecure: the server's certificate is NOT verified; anyone on the network path "
            "can impersonate the server and read the credential; use --ca-bundle FILE instead",
            file=sys.stderr,
            flush=True,
        )
    started = time.monotonic()
    outcomes, fatal = asyncio.run(collect_many(options))
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
    print(
        f"collected {len(outcomes) - len(failed)} of {len(outcomes)} endpoints into {options.out}, "
        f"{len(failed)} failed{why}, in {time.monotonic() - started:.1f} s{moved}; summary: {summary_path}"
    )
    return 1 if failed else 0
