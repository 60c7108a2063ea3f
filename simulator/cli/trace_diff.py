"""``tanium-sim trace diff OLD NEW`` and ``tanium-sim trace apply BASE DIFF``: diff traces by hand.

``diff`` writes the diff trace (docs/cst-format.md "Diff traces") turning full trace OLD into full trace
NEW; ``apply`` rebuilds the full inventory from BASE and a diff, refusing — exit 1, one sentence, OUT not
written — a diff whose baseline id or record count is not BASE's, whose removed or modified keys are not
in BASE, whose added keys already are, or that was cut short. Both read zip, gzip or plain traces.

>>> # tanium-sim trace diff scan1.cst.gz scan2.cst.gz --out scan2.diff.cst.gz
>>> # tanium-sim trace apply scan1.cst.gz scan2.diff.cst.gz --out scan2.rebuilt.cst.gz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.cli import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``diff`` and ``apply`` to the ``tanium-sim trace`` sub-commands."""
    p = sub.add_parser("diff", help="write the diff trace between two full traces of one endpoint")
    p.add_argument("old", metavar="OLD", help="the earlier full trace (the baseline)")
    p.add_argument("new", metavar="NEW", help="the later full trace")
    p.add_argument("--out", required=True, metavar="FILE", help="the diff trace to write (gzipped CST)")
    p.set_defaults(func=_diff)

    p = sub.add_parser("apply", help="apply a diff trace to a full trace; refuses one that does not fit")
    p.add_argument("base", metavar="BASE", help="the full trace the diff was made against")
    p.add_argument("diff", metavar="DIFF", help="the diff trace")
    p.add_argument("--out", required=True, metavar="FILE", help="the rebuilt full trace to write")
    p.add_argument(
        "--allow-no-summary",
        action="store_true",
        help="accept a diff without its summary trailer (a diff cut at a record boundary then goes unseen)",
    )
    p.set_defaults(func=_apply)


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
    from client._errors import IntegrityError, TraceFormatError
    from client._trace import open_trace

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
    from client._diff import DiffRejected, Inventory, apply_diff
    from client._errors import IntegrityError, TraceFormatError

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
