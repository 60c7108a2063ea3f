"""Diff traces on the client side: apply one to a baseline inventory, and keep that inventory per endpoint.

The rules are docs/cst-format.md "Diff traces" (docs/cst-trace.md §4): an inventory maps each
record's identity ``(path, fingerprint.kind, fingerprint.value, occurrence)`` to the record, and
applying a diff is
``current = baseline - removed - modified(old) + modified(new) + added``. :func:`apply_diff` reads the
whole diff before touching anything and refuses it — :class:`DiffRejected`, one sentence saying why — when
it is not a diff, its baseline scan id or record count is not the baseline's, a removed or modified key
is missing, an added key already exists, a ``previous`` does not describe the baseline record, or it has
no summary trailer or one that disagrees with it (a diff cut short). The baseline is never modified.

:func:`collect_inventory` is ``collect --diff`` for one endpoint: with the previous full inventory in the
output folder (``OUT/<clientId>.cst.gz`` plus ``OUT/.inventory/<clientId>.json``) it pulls the diff trace,
applies it and writes the rebuilt current inventory in place of the old one; otherwise, or when the diff
does not fit the baseline, it pulls the full trace. Every pull goes through :func:`collect_trace`, so the
connection is closed and the evidence deleted whatever happens.

>>> baseline = Inventory.from_trace("out/123.cst.gz")               # doctest: +SKIP
>>> current = apply_diff(baseline, "trace.diff.cst.gz")           # doctest: +SKIP
>>> current.write("out/123.cst.gz"); current.digest()             # doctest: +SKIP
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from client._client import AsyncTaniumClient
from client._errors import IntegrityError, TaniumError, TaskFailed, TraceFormatError
from client._trace import Source, open_trace
from client._workflow import CollectResult, collect_trace

Record = dict[str, Any]
Key = tuple[str, str, str, int]
_NOT_RECORD = ("op", "previous", "occurrence")  # diff-only fields
STATE_DIR = ".inventory"


class DiffRejected(TaniumError):
    """A diff trace that does not apply to the inventory held; nothing was changed.

    ``other_baseline`` is True when the diff is sound but was made against another inventory than the
    one held (another scan: scans were missed, or the endpoint was re-imaged), False when the diff
    itself is unusable (not a diff, cut short, inconsistent).
    """

    reason = "diff_rejected"

    def __init__(self, message: str, *, other_baseline: bool = False) -> None:
        super().__init__(message)
        self.other_baseline = other_baseline


def diff_trace_path(trace_path: str) -> str:
    """The diff trace next to a full trace on the endpoint (docs/cst-format.md).

    >>> diff_trace_path("/opt/cryptosense/traces/trace.cst.gz")
    '/opt/cryptosense/traces/trace.diff.cst.gz'
    """
    if trace_path.endswith(".cst.gz"):
        return trace_path[: -len(".cst.gz")] + ".diff.cst.gz"
    return trace_path + ".diff"


def _canonical_sha256(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _body(record: Mapping[str, Any]) -> Record:
    return {k: v for k, v in record.items() if k not in _NOT_RECORD}


def _identity(record: Mapping[str, Any]) -> tuple[str, str, str]:
    fp = record.get("fingerprint")
    if isinstance(fp, dict) and isinstance(fp.get("kind"), str) and isinstance(fp.get("value"), str):
        return str(record.get("path")), fp["kind"], fp["value"]
    return str(record.get("path")), "record", _canonical_sha256(_body(record))


def _op_key(op: Mapping[str, Any]) -> Key:
    occurrence = op.get("occurrence", 0)
    if not isinstance(occurrence, int) or isinstance(occurrence, bool) or occurrence < 0:
        raise DiffRejected(
            f"a {op.get('op')} record for {op.get('path')} has a bad occurrence {occurrence!r}"
        )
    return (*_identity(op), occurrence)


def _describe(key: Key) -> str:
    path, kind, value, occurrence = key
    which = f", occurrence {occurrence}" if occurrence else ""
    return f"{path} ({kind} {value[:12]}…{which})"


@dataclass
class Inventory:
    """A full inventory: the header of the scan it describes and its records by identity."""

    header: Record
    records: dict[Key, Record] = field(default_factory=dict)

    @property
    def scan_id(self) -> str | None:
        spec = self.header.get("api_specific")
        value = spec.get("scan_id") if isinstance(spec, dict) else None
        return value if isinstance(value, str) else None

    @classmethod
    def from_records(cls, header: Record, records: Iterable[Record]) -> Inventory:
        """Key the records of a full trace (occurrences counted per identity, in trace order)."""
        seen: dict[tuple[str, str, str], int] = {}
        keyed: dict[Key, Record] = {}
        for record in records:
            base = _identity(record)
            n = seen.get(base, 0)
            seen[base] = n + 1
            keyed[(*base, n)] = record
        return cls(header, keyed)

    @classmethod
    def from_trace(cls, source: Source) -> Inventory:
        """The inventory of a full trace (zip, gzip or plain); a diff trace is a ValueError.

        >>> Inventory.from_trace("out/123.cst.gz").scan_id  # doctest: +SKIP
        """
        with open_trace(source) as trace:
            spec = trace.header.get("api_specific")
            if isinstance(spec, dict) and spec.get("scan_mode") == "diff":
                raise ValueError("this is a diff trace, not a full inventory")
            return cls.from_records(trace.header, trace)

    def digest(self) -> str:
        """Order-independent SHA-256 of the inventory (the simulator manifest's ``inventory_sha256``)."""
        h = hashlib.sha256()
        for key in sorted(self.records):
            h.update(orjson.dumps([*key, _canonical_sha256(_body(self.records[key]))]) + b"\n")
        return h.hexdigest()

    def write(self, path: str | Path) -> int:
        """Write as a full gzipped trace (records grouped by path), atomically; returns its size."""
        target = Path(path)
        tmp = target.with_name(f".{target.name}.part")
        records = sorted(self.records.values(), key=lambda r: str(r.get("path")))  # stable
        try:
            with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
                out.write(orjson.dumps(self.header) + b"\n")
                for record in records:
                    out.write(orjson.dumps(record) + b"\n")
            size = tmp.stat().st_size
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return size


def read_diff(source: Source) -> tuple[Record, list[Record], Record | None]:
    """Header, op records and summary trailer of a diff, read completely; DiffRejected if unreadable."""
    try:
        with open_trace(source) as trace:
            ops = list(trace)
            return trace.header, ops, trace.trailer
    except (TraceFormatError, IntegrityError) as exc:
        raise DiffRejected(f"the diff trace is unreadable, probably truncated: {exc}") from exc


def apply_diff(baseline: Inventory, diff: Source, *, require_summary: bool = True) -> Inventory:
    """The inventory after ``diff``; raises :class:`DiffRejected` (``baseline`` is left as it was).

    ``require_summary`` refuses a diff without its summary trailer: the only sign of a diff cut at a
    record boundary.

    >>> current = apply_diff(Inventory.from_trace("scan1.cst.gz"), "scan2.diff.cst.gz")  # doctest: +SKIP
    """
    header, ops, trailer = read_diff(diff)
    spec = header.get("api_specific")
    spec = spec if isinstance(spec, dict) else {}
    if spec.get("scan_mode") != "diff":
        raise DiffRejected("this is not a diff trace (its header's scan_mode is not 'diff')")
    wanted = spec.get("baseline_scan_id")
    if wanted != baseline.scan_id:
        raise DiffRejected(
            f"the diff was made against scan {wanted}, but the inventory held is scan {baseline.scan_id}: "
            "pull the full trace instead",
            other_baseline=True,
        )
    count = spec.get("baseline_record_count")
    if count is not None and count != len(baseline.records):
        raise DiffRejected(
            f"the diff expects a baseline of {count} records, but the inventory held has "
            f"{len(baseline.records)}: pull the full trace instead",
            other_baseline=True,
        )
    by_op: dict[str, list[Record]] = {"removed": [], "modified": [], "added": []}
    for op in ops:
        name = op.get("op")
        if name not in by_op:
            raise DiffRejected(f"a record for {op.get('path')} has op {name!r}, not added/removed/modified")
        by_op[name].append(op)
    if trailer is None:
        if require_summary:
            raise DiffRejected("the diff has no summary trailer: it was cut short (or written without one)")
    else:
        summary = trailer.get("summary")
        if not isinstance(summary, dict):
            raise DiffRejected("the diff's summary trailer is not an object")
        for name, seen in by_op.items():
            if name in summary and summary[name] != len(seen):
                raise DiffRejected(
                    f"the diff's summary says {summary[name]!r} {name} records but it holds {len(seen)}: "
                    "it was cut short or altered"
                )
    records = dict(baseline.records)  # a copy: the baseline stays intact whatever happens below
    for op in by_op["removed"]:
        key = _op_key(op)
        if key not in records:
            raise DiffRejected(
                f"the diff removes {_describe(key)}, which the inventory does not hold", other_baseline=True
            )
        del records[key]
    for op in by_op["modified"]:
        key = _op_key(op)
        old = records.get(key)
        if old is None:
            raise DiffRejected(
                f"the diff modifies {_describe(key)}, which the inventory does not hold", other_baseline=True
            )
        _check_previous(key, old, op.get("previous"))
        records[key] = _body(op)
    for op in by_op["added"]:
        key = _op_key(op)
        if key in records:
            raise DiffRejected(
                f"the diff adds {_describe(key)}, which the inventory already holds", other_baseline=True
            )
        records[key] = _body(op)
    new_spec = {k: v for k, v in spec.items() if not k.startswith("baseline_")}
    new_spec["scan_mode"] = "full"
    return Inventory({**header, "api_specific": new_spec}, records)


def _check_previous(key: Key, old: Record, previous: object) -> None:
    if not isinstance(previous, dict):
        raise DiffRejected(f"the modified record {_describe(key)} has no previous object")
    for name, value in previous.items():
        if name == "details_sha256":
            same = value == _canonical_sha256(old.get("details"))
        else:
            same = old.get(name) == value
        if not same:
            raise DiffRejected(
                f"the diff's previous {name} of {_describe(key)} does not match the inventory held: "
                "it was made against another baseline",
                other_baseline=True,
            )


# --- the per-endpoint state in the output folder and collect --diff ----------------------------------


@dataclass(frozen=True)
class InventoryState:
    """What ``OUT/.inventory/<clientId>.json`` remembers about ``OUT/<clientId>.cst.gz``."""

    scan_id: str
    scan_time: str | None
    record_count: int
    inventory_sha256: str
    remote_path: str
    trace_sha256: str

    @classmethod
    def load(cls, dest: Path, client_id: str) -> InventoryState | None:
        """The state, or None when absent, unreadable, or no longer matching the trace on disk."""
        return cls.check(dest, client_id)[0]

    @classmethod
    def check(cls, dest: Path, client_id: str) -> tuple[InventoryState | None, str | None]:
        """The state and None, or None and why there is no usable one (a :data:`FULL_REASONS` key)."""
        path = dest / STATE_DIR / f"{client_id}.json"
        trace = dest / f"{client_id}.cst.gz"
        if not path.exists() or not trace.exists():
            return None, "no_previous_inventory"
        try:
            state = cls(**json.loads(path.read_text(encoding="utf-8")))
            held = _file_sha256(trace)
        except (OSError, ValueError, TypeError):
            return None, "previous_inventory_unreadable"
        if held != state.trace_sha256:
            return None, "previous_inventory_changed"  # replaced by something else: no baseline
        return state, None

    def save(self, dest: Path, client_id: str) -> None:
        folder = dest / STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{client_id}.json.part"
        tmp.write_text(json.dumps(self.__dict__, indent=2) + "\n", encoding="utf-8")
        tmp.replace(folder / f"{client_id}.json")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


FULL_REASONS: dict[str, str] = {
    "no_previous_inventory": "the output folder holds no previous inventory of this endpoint "
    "(<clientId>.cst.gz and .inventory/<clientId>.json): its first collect with --diff",
    "previous_inventory_changed": "the trace in the output folder is not the inventory "
    ".inventory/<clientId>.json describes: it was replaced or edited since",
    "previous_inventory_unreadable": "the inventory record .inventory/<clientId>.json cannot be read",
    "no_diff_on_server": "the endpoint has no diff trace (its first scan, or the scanner was reinstalled)",
    "baseline_mismatch": "the diff was made against another scan than the inventory held (scans were "
    "missed, or the endpoint was re-imaged)",
    "diff_invalid": "the diff pulled is unusable (unreadable, cut short or inconsistent)",
    "not_requested": "the caller asked for the full trace (use_diff=False)",
}
"""Why ``collect --diff`` pulled an endpoint's full trace, not a diff: ``full_reason`` -> its meaning."""


@dataclass(frozen=True)
class InventoryResult:
    """One endpoint collected with ``--diff``: how, what moved over the wire, and the inventory now held."""

    client_id: str
    mode: str  # full | diff | unchanged
    trace_path: Path
    scan_id: str
    record_count: int
    inventory_sha256: str
    bytes_transferred: int  # evidence zips downloaded (a rejected diff counts too)
    full_trace_bytes: int  # what the full trace's zip weighs (estimated from the rebuilt trace for diffs)
    last: CollectResult  # the last download
    trace_sha256: str = ""  # of the trace file now in the output folder
    warnings: tuple[str, ...] = ()
    full_reason: str | None = None  # mode full: why not a diff (a FULL_REASONS key)
    full_detail: str = ""  # mode full: that reason in a sentence, with the particulars

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "scan_id": self.scan_id,
            "record_count": self.record_count,
            "inventory_sha256": self.inventory_sha256,
            "bytes_transferred": self.bytes_transferred,
            "full_trace_bytes": self.full_trace_bytes,
            "full_trace_bytes_estimated": self.mode != "full",
            "full_reason": self.full_reason,
            "full_detail": self.full_detail or None,
        }


def _apply_to_folder(
    dest: Path, client_id: str, state: InventoryState, diff_file: Path
) -> tuple[str, Inventory | None]:
    """Apply the pulled diff to the inventory in ``dest`` (or find it is already current)."""
    with open_trace(diff_file) as trace:
        spec = trace.header.get("api_specific")
    if isinstance(spec, dict) and spec.get("scan_id") == state.scan_id:
        return "unchanged", None  # no scan since our last pull: the diff is the one we already hold
    baseline = Inventory.from_trace(dest / f"{client_id}.cst.gz")
    return "diff", apply_diff(baseline, diff_file)


async def collect_inventory(
    client: AsyncTaniumClient,
    client_id: str,
    *,
    dest: str | Path,
    path: str | None = None,
    use_diff: bool = True,
    **workflow: Any,
) -> InventoryResult:
    """``collect --diff`` for one endpoint (see the module docstring); ``workflow`` goes to collect_trace.

    >>> result = await collect_inventory(tanium, "123", dest="out")  # doctest: +SKIP
    >>> result.mode, result.bytes_transferred, result.full_trace_bytes  # doctest: +SKIP
    ('diff', 12840, 231977)
    """
    import asyncio

    folder = Path(dest)
    state, full_reason = InventoryState.check(folder, client_id) if use_diff else (None, "not_requested")
    full_detail = ""
    warnings: list[str] = []
    transferred = 0
    if state is not None:
        diff_name = f".{client_id}.diff.cst.gz"
        try:
            pulled = await collect_trace(
                client, client_id, dest=folder, path=diff_trace_path(state.remote_path), out_name=diff_name,
                **workflow,
            )  # fmt: skip
        except TaskFailed as exc:  # no diff on the endpoint (first scan, or the scanner was reinstalled)
            warnings.append(f"no diff trace on the endpoint ({exc.reason}); pulled the full trace")
            full_reason = "no_diff_on_server"
        else:
            transferred += pulled.zip_bytes
            try:
                mode, current = await asyncio.to_thread(
                    _apply_to_folder, folder, client_id, state, pulled.trace_path
                )
            except (DiffRejected, TraceFormatError, IntegrityError) as exc:
                warnings.append(f"diff not applied ({exc}); pulled the full trace")
                other = isinstance(exc, DiffRejected) and exc.other_baseline
                full_reason, full_detail = ("baseline_mismatch" if other else "diff_invalid"), str(exc)
            else:
                trace_path = folder / f"{client_id}.cst.gz"
                if current is None:
                    size, digest, count, scan_id = (
                        trace_path.stat().st_size,
                        state.inventory_sha256,
                        state.record_count,
                        state.scan_id,
                    )
                    sha = state.trace_sha256
                else:
                    size = await asyncio.to_thread(current.write, trace_path)
                    digest, count, scan_id = current.digest(), len(current.records), current.scan_id or ""
                    sha = _save_state(folder, client_id, current, state.remote_path, digest)
                overhead = max(0, pulled.zip_bytes - pulled.bytes)  # zip framing around the member
                return InventoryResult(
                    client_id, mode, trace_path, scan_id, count, digest, transferred, size + overhead,
                    pulled, sha, tuple([*pulled.warnings, *warnings]),
                )  # fmt: skip
            finally:
                pulled.trace_path.unlink(missing_ok=True)
    full = await collect_trace(client, client_id, dest=folder, path=path, **workflow)
    transferred += full.zip_bytes
    inventory = await asyncio.to_thread(Inventory.from_trace, full.trace_path)
    digest = inventory.digest()
    sha = _save_state(folder, client_id, inventory, full.remote_path, digest)
    return InventoryResult(
        client_id, "full", full.trace_path, inventory.scan_id or "", len(inventory.records), digest,
        transferred, full.zip_bytes, full, sha, tuple([*full.warnings, *warnings]),
        full_reason, full_detail or FULL_REASONS.get(full_reason or "", ""),
    )  # fmt: skip


def _save_state(dest: Path, client_id: str, inventory: Inventory, remote_path: str, digest: str) -> str:
    spec = inventory.header.get("api_specific")
    scan_time = spec.get("scan_time") if isinstance(spec, dict) else None
    trace_sha256 = _file_sha256(dest / f"{client_id}.cst.gz")
    InventoryState(
        scan_id=inventory.scan_id or "",
        scan_time=scan_time if isinstance(scan_time, str) else None,
        record_count=len(inventory.records),
        inventory_sha256=digest,
        remote_path=remote_path,
        trace_sha256=trace_sha256,
    ).save(dest, client_id)
    return trace_sha256


__all__ = [
    "FULL_REASONS",
    "DiffRejected",
    "Inventory",
    "InventoryResult",
    "InventoryState",
    "apply_diff",
    "collect_inventory",
    "diff_trace_path",
    "read_diff",
]
