"""``tanium-sim trace inspect | validate``: look inside a collected trace from the command line.

``inspect`` prints the inventory (records by type, findings) as tables or JSON; ``validate`` checks the
format and exits 0 when the trace is valid, 1 when it is not (printing the first problems, each with
its object index and byte offset). Both read evidence zips, gzip and plain traces alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from simulator.cli import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``inspect`` and ``validate`` to the ``tanium-sim trace`` sub-commands."""
    p = sub.add_parser("inspect", help="summarize a trace: records by type and findings")
    p.add_argument("file", metavar="FILE", help="an evidence zip, a gzipped trace or a plain trace")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=_inspect)

    p = sub.add_parser("validate", help="check a trace against the CST format (exit 1 when invalid)")
    p.add_argument("file", metavar="FILE", help="an evidence zip, a gzipped trace or a plain trace")
    p.add_argument("--max-errors", type=int, default=20, help="stop after this many problems (default 20)")
    p.set_defaults(func=_validate)


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise UsageError(f"{path} does not exist.")
    if not os.path.isfile(path):
        raise UsageError(f"{path} is not a file.")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path} is not readable.")


def _inspect(args: argparse.Namespace) -> int:
    from rich.console import Console

    from client._errors import IntegrityError, TraceFormatError
    from client._findings import summarize
    from client._trace import open_trace

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
    from client._errors import IntegrityError, TraceFormatError
    from client._trace import validate_trace

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
