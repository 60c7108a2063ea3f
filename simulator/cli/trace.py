"""``tanium-sim trace generate | diff | apply | inspect | validate``: CST traces from the command line.

``generate`` writes one endpoint's deterministic trace and its manifest; ``diff`` writes the diff trace
(docs/cst-format.md "Diff traces") turning full trace OLD into full trace NEW; ``apply`` rebuilds the
full inventory from BASE and a diff, refusing — exit 1, one sentence, OUT not written — a diff whose
baseline id or record count is not BASE's, whose removed or modified keys are not in BASE, whose added
keys already are, or that was cut short. ``inspect`` prints the inventory (records by type, findings) as
tables or JSON; ``validate`` checks the format and exits 0 when the trace is valid, 1 when it is not
(printing the first problems, each with its object index and byte offset). Every reader takes evidence
zips, gzip and plain traces alike; reading is the reference client's (``client.open_trace``).

>>> # tanium-sim trace generate --seed 7 --profile medium --endpoint 3 --out trace.cst.gz
>>> # tanium-sim trace diff scan1.cst.gz scan2.cst.gz --out scan2.diff.cst.gz
>>> # tanium-sim trace apply scan1.cst.gz scan2.diff.cst.gz --out scan2.rebuilt.cst.gz
>>> # tanium-sim trace inspect trace.cst.gz --json
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from simulator.cli.types import UsageError

T = TypeVar("T")


MAX_RECORDS = 1_000_000  # about 1.1 GB of gzip, minutes and several GB of memory: generated in memory
PROFILES = ("small", "medium", "large", "stress")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trace`` and its actions to the ``tanium-sim`` sub-commands."""
    trace = sub.add_parser(
        "trace",
        help="generate, inspect, validate, diff and apply CST traces",
        description="CST traces from the command line: generate the simulator's deterministic traces, "
        "inspect and validate any trace (evidence zip, gzip or plain), diff two scans and apply a diff.",
    )
    actions = trace.add_subparsers(dest="trace_command", metavar="ACTION", required=True)

    p = actions.add_parser(
        "generate",
        help="write a deterministic CST trace (gzip) and FILE.manifest.json",
        description="Write the trace the simulator serves for one endpoint of the world SEED (the same "
        "bytes every time) and its ground-truth manifest (FILE.manifest.json: size, sha256, counts). "
        "Large traces show progress on a terminal.",
    )
    p.add_argument("--seed", type=int, required=True, help="world seed (as `serve --seed`)")
    p.add_argument(
        "--profile",
        required=True,
        choices=PROFILES,
        help="trace size: small (150-300 records), medium (500-1,500), large (3,000-10,000), "
        "stress (100,000, or --records)",
    )
    p.add_argument("--endpoint", type=int, default=0, help="endpoint index in the fleet (default 0)")
    p.add_argument(
        "--scan", type=int, default=1, help="scan number (default 1); scan N is dated N - 1 days after scan 1"
    )
    p.add_argument("--platform", choices=("Linux", "Windows"), help="default: the fleet's choice")
    p.add_argument(
        "--records",
        type=int,
        help=f"exact record count, 1 to {MAX_RECORDS:,} (sizes stress traces: ~1.1 KB of gzip per record)",
    )
    p.add_argument("--out", required=True, help="output file (gzipped CST); its folder must exist")
    p.set_defaults(func=_generate)

    p = actions.add_parser(
        "diff",
        help="write the diff trace between two full traces of one endpoint",
        description="Write the diff trace (docs/cst-format.md, Diff traces) that turns full trace OLD into "
        "full trace NEW, both of one endpoint.",
    )
    p.add_argument("old", metavar="OLD", help="the earlier full trace (the baseline)")
    p.add_argument("new", metavar="NEW", help="the later full trace")
    p.add_argument("--out", required=True, metavar="FILE", help="the diff trace to write (gzipped CST)")
    p.set_defaults(func=_diff)

    p = actions.add_parser(
        "apply",
        help="apply a diff trace to a full trace; refuses one that does not fit",
        description="Rebuild the full inventory from BASE and a diff trace. A diff made against another "
        "baseline, or cut short, is refused: exit 1, one sentence, OUT not written.",
    )
    p.add_argument("base", metavar="BASE", help="the full trace the diff was made against")
    p.add_argument("diff", metavar="DIFF", help="the diff trace")
    p.add_argument("--out", required=True, metavar="FILE", help="the rebuilt full trace to write")
    p.add_argument(
        "--allow-no-summary",
        action="store_true",
        help="accept a diff without its summary trailer (a diff cut at a record boundary then goes unseen)",
    )
    p.set_defaults(func=_apply)

    p = actions.add_parser(
        "inspect",
        help="summarize a trace: records by type and findings",
        description="Summarize a trace (evidence zip, gzip or plain): host, scan, records by type and "
        "findings, as tables or JSON. Exit 1 when the trace cannot be read.",
    )
    p.add_argument("file", metavar="FILE", help="an evidence zip, a gzipped trace or a plain trace")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_inspect)

    p = actions.add_parser(
        "validate",
        help="check a trace against the CST format (exit 1 when invalid)",
        description="Check a trace against the CST format (docs/cst-format.md): exit 0 when valid, 1 when "
        "not, printing the first problems with their object index and byte offset.",
    )
    p.add_argument("file", metavar="FILE", help="an evidence zip, a gzipped trace or a plain trace")
    p.add_argument("--max-errors", type=int, default=20, help="stop after this many problems (default 20)")
    p.set_defaults(func=_validate)


# --------------------------------------------------------------------------- generate


def _generate(args: argparse.Namespace) -> int:
    import orjson

    from simulator.settings import FleetProfile
    from simulator.state.fleet import Fleet
    from simulator.traces import TraceSpec, generate_trace

    if args.endpoint < 0:
        raise UsageError("--endpoint must be >= 0")
    if args.scan < 1:
        raise UsageError("--scan must be >= 1")
    if args.records is not None and not 1 <= args.records <= MAX_RECORDS:
        raise UsageError(
            f"--records must be between 1 and {MAX_RECORDS:,} (traces are generated in memory; "
            f"{MAX_RECORDS:,} records is about 1.1 GB of gzip), got {args.records:,}"
        )
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"folder {out.parent} does not exist")
    ep = Fleet(args.seed, args.endpoint + 1, FleetProfile()).endpoint(args.endpoint)
    spec = TraceSpec(
        seed=args.seed,
        index=ep.index,
        client_id=ep.client_id,
        hostname=ep.hostname,
        platform=args.platform or ep.platform,
        profile=args.profile,
        scanner_version=ep.scanner_version,
        user=ep.user,
        records=args.records,
    ).for_scan(args.scan)  # scan 1 at the default time, each later scan one scan interval after it
    trace = _with_progress(lambda: generate_trace(spec), f"generating {out.name}")
    out.write_bytes(trace.data)
    manifest_path = out.with_name(out.name + ".manifest.json")
    manifest_path.write_bytes(orjson.dumps(trace.manifest, option=orjson.OPT_INDENT_2) + b"\n")
    m = trace.manifest
    print(f"{out}: {m['record_count']:,} records, {m['size']:,} bytes; manifest {manifest_path}")
    return 0


def _with_progress(work: Callable[[], T], label: str) -> T:
    """Runs ``work``, with a spinner and the elapsed time on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return work()
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn(label), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        progress.add_task(label, total=None)
        return work()


# --------------------------------------------------------------------------- diff and apply


def _input(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{path} does not exist or is not a file")
    return file


def _output(path: str) -> Path:
    out = Path(path)
    if not out.parent.is_dir():
        raise UsageError(f"folder {out.parent} does not exist")
    return out


def _full(path: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    from client import IntegrityError, TraceFormatError, open_trace

    try:
        with open_trace(path) as trace:
            spec = trace.header.get("api_specific")
            if isinstance(spec, dict) and spec.get("scan_mode") == "diff":
                raise UsageError(f"{path} is a diff trace; trace diff needs two full traces")
            return trace.header, list(trace)
    except (TraceFormatError, IntegrityError) as exc:
        raise UsageError(f"{path} is not a readable trace: {exc}") from None


def _diff(args: argparse.Namespace) -> int:
    from simulator.traces.diff import diff_objects, encode_objects

    old, new, out = _input(args.old), _input(args.new), _output(args.out)
    old_header, old_records = _full(old)
    new_header, new_records = _full(new)
    objects = diff_objects(old_header, old_records, new_header, new_records)
    data = encode_objects(objects)
    out.write_bytes(data)
    s = objects[-1]["summary"]
    print(f"{out}: {s['added']} added, {s['removed']} removed, {s['modified']} modified; {len(data):,} bytes")
    return 0


def _apply(args: argparse.Namespace) -> int:
    from client import DiffRejected, IntegrityError, Inventory, TraceFormatError, apply_diff

    base, diff, out = _input(args.base), _input(args.diff), _output(args.out)
    try:
        baseline = Inventory.from_trace(base)
    except ValueError as exc:  # a diff given as BASE
        raise UsageError(f"{base}: {exc}") from None
    except (TraceFormatError, IntegrityError) as exc:
        raise UsageError(f"{base} is not a readable trace: {exc}") from None
    try:
        current = apply_diff(baseline, diff, require_summary=not args.allow_no_summary)
    except DiffRejected as exc:
        print(f"tanium-sim: {diff} refused, {out} not written: {exc}", file=sys.stderr)
        return 1
    size = current.write(out)
    print(f"{out}: {len(current.records):,} records (scan {current.scan_id}), {size:,} bytes")
    return 0


# --------------------------------------------------------------------------- inspect and validate


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise UsageError(f"{path} does not exist.")
    if not os.path.isfile(path):
        raise UsageError(f"{path} is not a file.")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path} is not readable.")


def _inspect(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from client import IntegrityError, TraceFormatError, open_trace, summarize

    _check_file(args.file)
    try:
        with open_trace(args.file) as trace:
            summary = summarize(trace)
            header, stats = trace.header, trace.stats
    except (TraceFormatError, IntegrityError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # no scan_time in the header
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    raw_spec = header.get("api_specific")
    spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
    if args.json:
        out = {
            "file": args.file,
            "hostname": spec.get("hostname"),
            "scan_id": spec.get("scan_id"),
            "scan_mode": spec.get("scan_mode", "full"),
            **summary.to_dict(),
            "stats": {
                "compressed_bytes": stats.compressed_bytes,
                "decompressed_bytes": stats.decompressed_bytes,
                "objects": stats.objects,
                "records": stats.records,
                "skipped": stats.skipped,
            },
        }
        print(json.dumps(out, indent=2))
        return 0
    console = Console()
    console.print(
        f"[bold]{args.file}[/]: host {spec.get('hostname', '?')}, {spec.get('os', '?')}, "
        f"scan {spec.get('scan_mode', 'full')} {spec.get('scan_id', '')}; "
        f"{stats.compressed_bytes:,} bytes read, {stats.decompressed_bytes:,} bytes of JSON"
    )
    console.print(summary)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from client import IntegrityError, TraceFormatError, validate_trace

    _check_file(args.file)
    if args.max_errors < 1:
        raise UsageError("--max-errors must be at least 1.")
    try:
        issues = validate_trace(args.file, max_errors=args.max_errors)
    except (TraceFormatError, IntegrityError) as exc:
        print(f"{args.file}: invalid: {exc}", file=sys.stderr)
        return 1
    if not issues:
        print(f"{args.file}: valid")
        return 0
    print(
        f"{args.file}: invalid ({len(issues)} problem{'s' if len(issues) > 1 else ''} shown)", file=sys.stderr
    )
    for issue in issues:
        print(f"  {issue}", file=sys.stderr)
    return 1
