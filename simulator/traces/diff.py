"""Diff traces (docs/cst-trace.md §4, docs/cst-format.md "Diff traces"): what changed between two full scans.

An inventory is a mapping from a record's identity — ``(path, fingerprint.kind, fingerprint.value,
occurrence)``, the occurrence counting earlier records with the same triple in the same file — to the
record. A diff is the mapping difference: keys only in the old scan are ``removed`` (identity only),
keys only in the new one ``added`` (the full record), keys in both whose records differ ``modified``
(the full new record plus ``previous``: the old values of the changed attributes, ``details`` as
``details_sha256``). A certificate renewed in place or a moved file changes the identity, so it is
removed + added, never modified. The trailer counts the ops; the client checks it, so a diff cut at a
record boundary is refused (``client/_diff.py`` applies diffs).

>>> old = [{"path": "/a", "type": "pgp", "fingerprint": {"kind": "openpgp-v4", "value": "ab"}}]
>>> new = [{**old[0], "last_modified": 5}]
>>> [o.get("op") for o in diff_objects({"api_specific": {}}, old, {"api_specific": {}}, new)]
[None, 'modified', None]
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import orjson

from simulator.traces.churn import Inventory
from simulator.traces.render import gzip_chunks, previous_spec, render_inventory, scan_inventory
from simulator.traces.spec import DEFAULT_TRACE_PATHS, GeneratedTrace, TraceSpec

Record = dict[str, Any]
Key = tuple[str, str, str, int]
OPS = ("removed", "modified", "added")
_NOT_RECORD = ("op", "previous", "occurrence")  # diff-only fields, never part of a record's identity or hash


def diff_trace_path(trace_path: str) -> str:
    """Where the scanner writes the diff next to the full trace (``trace.cst.gz`` -> ``trace.diff.cst.gz``).

    >>> diff_trace_path("/opt/cryptosense/traces/trace.cst.gz")
    '/opt/cryptosense/traces/trace.diff.cst.gz'
    """
    if trace_path.endswith(".cst.gz"):
        return trace_path[: -len(".cst.gz")] + ".diff.cst.gz"
    return trace_path + ".diff"


def canonical_sha256(value: Any) -> str:
    """SHA-256 of ``value`` as compact JSON with sorted keys (how ``details_sha256`` is computed)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def record_hash(record: Mapping[str, Any]) -> str:
    """Canonical hash of a record without its diff-only fields (``op``, ``previous``, ``occurrence``)."""
    return canonical_sha256({k: v for k, v in record.items() if k not in _NOT_RECORD})


def identity(record: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(path, fingerprint.kind, fingerprint.value)``; a record without fingerprint hashes its content."""
    fp = record.get("fingerprint")
    if isinstance(fp, dict) and isinstance(fp.get("kind"), str) and isinstance(fp.get("value"), str):
        return str(record.get("path")), fp["kind"], fp["value"]
    return str(record.get("path")), "record", record_hash(record)


def keyed(records: Iterable[Record]) -> dict[Key, Record]:
    """The inventory of a full trace's records: identity with occurrence -> record (trace order kept).

    >>> r = {"path": "/b", "fingerprint": {"kind": "cert-der", "value": "00"}}
    >>> list(keyed([r, dict(r)]))
    [('/b', 'cert-der', '00', 0), ('/b', 'cert-der', '00', 1)]
    """
    seen: dict[tuple[str, str, str], int] = {}
    out: dict[Key, Record] = {}
    for record in records:
        base = identity(record)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out[(*base, n)] = record
    return out


def inventory_digest(inventory: Mapping[Key, Mapping[str, Any]]) -> str:
    """One SHA-256 for a whole inventory, independent of record order (the manifest's ``inventory_sha256``).

    >>> inventory_digest({}) == hashlib.sha256(b"").hexdigest()
    True
    """
    h = hashlib.sha256()
    for key in sorted(inventory):
        h.update(orjson.dumps([*key, record_hash(inventory[key])]) + b"\n")
    return h.hexdigest()


def _previous(old: Record, new: Record) -> Record:
    prev: Record = {}
    for name in dict.fromkeys([*old, *new]):
        if name in _NOT_RECORD or old.get(name) == new.get(name):
            continue
        if name == "details":
            prev["details_sha256"] = canonical_sha256(old.get("details"))
        else:
            prev[name] = old.get(name)  # null: the attribute was absent
    return prev


def _with_occurrence(obj: Record, key: Key) -> Record:
    if key[3]:
        obj["occurrence"] = key[3]
    return obj


def diff_ops(old: Mapping[Key, Record], new: Mapping[Key, Record]) -> Iterator[Record]:
    """The op records turning inventory ``old`` into ``new``: removed, then modified, then added."""
    for key, record in old.items():
        if key not in new:
            fp = record.get("fingerprint")
            yield _with_occurrence(
                {"op": "removed", "path": record["path"], "type": record.get("type"), "fingerprint": fp}, key
            )
    for key, record in new.items():
        before = old.get(key)
        if before is not None and before != record:
            body = {k: v for k, v in record.items() if k not in _NOT_RECORD}
            yield _with_occurrence({"op": "modified", **body, "previous": _previous(before, record)}, key)
    for key, record in new.items():
        if key not in old:
            yield _with_occurrence(
                {"op": "added", **{k: v for k, v in record.items() if k not in _NOT_RECORD}}, key
            )


def diff_header(old_header: Record, new_header: Record, baseline_record_count: int) -> Record:
    """The new scan's header turned into a diff header (``scan_mode: diff`` and the baseline fields)."""
    old_spec = old_header.get("api_specific") or {}
    spec = dict(new_header.get("api_specific") or {})
    spec.update(
        scan_mode="diff",
        baseline_scan_id=old_spec.get("scan_id"),
        baseline_time=old_spec.get("scan_time"),
        baseline_record_count=baseline_record_count,
    )
    return {**new_header, "api_specific": spec}


def diff_objects(
    old_header: Record, old_records: Iterable[Record], new_header: Record, new_records: Iterable[Record]
) -> list[Record]:
    """Every object of the diff trace: header, op records, summary trailer."""
    old, new = keyed(old_records), keyed(new_records)
    ops = list(diff_ops(old, new))
    summary = {op: sum(1 for o in ops if o["op"] == op) for op in ("added", "removed", "modified")}
    return [diff_header(old_header, new_header, len(old)), *ops, {"summary": summary}]


def parse_ndjson(raw: bytes) -> tuple[Record, list[Record]]:
    """Header and records of a one-object-per-line trace (gzip or plain), ``{}`` objects skipped.

    Only for traces this project writes; the client's reader handles any layout.
    """
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    objects = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    objects = [o for o in objects if o]
    if not objects or objects[0].get("format") != "CST":
        raise ValueError("not a CST trace: the first object is not a header")
    records = [o for o in objects[1:] if not ("summary" in o and "path" not in o)]
    return objects[0], records


def encode_objects(objects: Iterable[Record]) -> bytes:
    """Objects as a gzipped trace, one compact object per line (byte-identical run to run)."""
    return gzip_chunks(orjson.dumps(o) + b"\n" for o in objects)


def generate_diff(
    spec: TraceSpec, inventory: Callable[[TraceSpec], Inventory] | None = None
) -> GeneratedTrace:
    """The diff trace of scan ``spec.scan`` against scan ``spec.scan - 1``, and its manifest.

    >>> # diff = generate_diff(replace(spec, scan=2, diff=True)); diff.manifest["changes"]["added"]
    """
    if spec.scan < 2:
        raise ValueError("a diff trace exists from scan 2 on")
    full = replace(spec, diff=False, path=None)
    prev_spec = previous_spec(full)
    if inventory is None:
        prev_inv = scan_inventory(prev_spec)
        inv = scan_inventory(full, prev_inv)
    else:
        prev_inv, inv = inventory(prev_spec), inventory(full)
    old_header, old_records = parse_ndjson(b"".join(render_inventory(prev_spec, prev_inv).chunks))
    new_header, new_records = parse_ndjson(b"".join(render_inventory(full, inv).chunks))
    objects = diff_objects(old_header, old_records, new_header, new_records)
    data = encode_objects(objects)
    header, summary = objects[0]["api_specific"], objects[-1]["summary"]
    manifest = {
        "client_id": spec.client_id,
        "scan": spec.scan,
        "scan_id": header["scan_id"],
        "scan_time": header["scan_time"],
        "baseline_scan_id": header["baseline_scan_id"],
        "baseline_time": header["baseline_time"],
        "baseline_record_count": header["baseline_record_count"],
        "path": spec.path or diff_trace_path(DEFAULT_TRACE_PATHS[spec.platform]),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "changes": summary,
        "record_count": len(new_records),
        "inventory_sha256": inventory_digest(keyed(new_records)),
    }
    return GeneratedTrace(data=data, manifest=manifest)


__all__ = [
    "Key",
    "canonical_sha256",
    "diff_objects",
    "diff_ops",
    "diff_trace_path",
    "encode_objects",
    "generate_diff",
    "identity",
    "inventory_digest",
    "keyed",
    "parse_ndjson",
    "record_hash",
]
