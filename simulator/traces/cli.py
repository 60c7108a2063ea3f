"""``tanium-sim trace generate``: write one endpoint's trace and its manifest to disk.

>>> # tanium-sim trace generate --seed 7 --profile medium --endpoint 3 --out trace.cst.gz
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("generate", help="write a deterministic CST trace (gzip) and FILE.manifest.json")
    p.add_argument("--seed", type=int, required=True, help="world seed")
    p.add_argument("--profile", required=True, choices=("small", "medium", "large", "stress"))
    p.add_argument("--endpoint", type=int, default=0, help="endpoint index in the fleet (default 0)")
    p.add_argument("--scan", type=int, default=1, help="scan number (default 1)")
    p.add_argument("--platform", choices=("Linux", "Windows"), help="default: the fleet's choice")
    p.add_argument("--records", type=int, help="exact record count (sizes stress traces)")
    p.add_argument("--out", required=True, help="output file (gzipped CST)")
    p.set_defaults(func=_generate)
    from simulator.cli import trace_diff  # trace diff | apply

    trace_diff.register(sub)


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    import orjson

    from simulator.cli import UsageError
    from simulator.settings import FleetProfile
    from simulator.state.fleet import Fleet
    from simulator.traces import TraceSpec, generate_trace

    if args.endpoint < 0:
        raise UsageError("--endpoint must be >= 0")
    if args.scan < 1:
        raise UsageError("--scan must be >= 1")
    if args.records is not None and args.records < 1:
        raise UsageError("--records must be >= 1")
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
        scan=args.scan,
        scanner_version=ep.scanner_version,
        user=ep.user,
        records=args.records,
    )
    trace = generate_trace(spec)
    out.write_bytes(trace.data)
    manifest_path = out.with_name(out.name + ".manifest.json")
    manifest_path.write_bytes(orjson.dumps(trace.manifest, option=orjson.OPT_INDENT_2) + b"\n")
    m = trace.manifest
    print(f"{out}: {m['record_count']:,} records, {m['size']:,} bytes; manifest {manifest_path}")
    return 0
