"""Bring your own traces: real CST trace files served as endpoints' traces (``serve --traces-dir DIR``).

The files: every regular file directly in DIR whose name ends ``.cst.gz`` (other files and sub-folders are
ignored). ``<clientId>.cst.gz`` is the trace of the endpoint with that clientId; the other files, in
sorted order of their names, go to the remaining endpoints in index order (files beyond the fleet are
not served). Endpoints without a file keep their generated traces.

Each file is checked when the folder is opened, before anything is served: it must lie inside DIR (a
symbolic link resolving outside it is refused), be gzip-compressed, and be a valid full CST trace by the
reference client's validator (:func:`client.validate_trace`); a diff trace is refused too. The first file
that fails stops the start with its name and the reason (:class:`TraceSourceError`).

Served as is: the task's ``totalBytes``/``transferHash``, ``file/info`` and ``file/list`` sizes, the
evidence zip's one member and the manifest (``size``, ``sha256``, ``record_count``, ``by_type``,
``findings``, read with the client's :func:`client.open_trace` and :func:`client.summarize`) all come
from the file. A file is the endpoint's trace at every scan: scans after the first serve the same file
and the endpoint writes no diff trace.

>>> TraceSources.open("/nonexistent")
Traceback (most recent call last):
simulator.traces.sources.TraceSourceError: --traces-dir /nonexistent is not a folder
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from simulator.traces.spec import GeneratedTrace

TRACE_SUFFIX = ".cst.gz"
GZIP_MAGIC = b"\x1f\x8b"


class TraceSourceError(ValueError):
    """A traces folder or file that cannot be served: one sentence naming it and saying why."""


class FleetIndex(Protocol):
    """What assigning files needs of a fleet (:class:`simulator.state.fleet.Fleet`)."""

    size: int

    def index_of_client_id(self, client_id: str) -> int | None: ...


@dataclass(frozen=True)
class TraceFile:
    """One trace file of the folder: its name there and its real path (inside the folder)."""

    name: str
    path: str

    @property
    def stem(self) -> str:
        return self.name[: -len(TRACE_SUFFIX)]


@dataclass
class TraceSources:
    """The checked trace files of one folder, and which endpoint of a fleet serves which."""

    folder: Path
    files: tuple[TraceFile, ...]
    _assigned: tuple[object, dict[int, TraceFile]] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> TraceSources:
        """The folder's trace files, each checked (see the module docstring); raises TraceSourceError.

        Checking reads every file once; a folder whose files did not change since it was last checked
        in this process is not read again (``serve`` checks before it builds the app, which opens it).
        """
        root = Path(folder)
        if not root.is_dir():
            raise TraceSourceError(f"--traces-dir {folder} is not a folder")
        root = root.resolve()
        try:
            entries = sorted(e for e in os.listdir(root) if e.endswith(TRACE_SUFFIX))
        except OSError as exc:
            raise TraceSourceError(f"--traces-dir {folder} cannot be read ({exc.strerror or exc})") from None
        files = []
        for name in entries:
            path = root / name
            if path.is_dir():
                continue
            real = path.resolve()
            if root not in real.parents:
                raise TraceSourceError(f"{name}: a symbolic link to a file outside --traces-dir {folder}")
            if not real.is_file():
                continue  # a dangling link, a socket: not a trace file
            files.append(TraceFile(name, str(real)))
        if not files:
            raise TraceSourceError(f"--traces-dir {folder} holds no trace file (*{TRACE_SUFFIX})")
        key = (str(root), tuple((f.name, _stat_key(f.path)) for f in files))
        with _CHECKED_LOCK:
            known = _CHECKED.get(key)
        if known is None:
            for f in files:
                _check(f)
            known = cls(root, tuple(files))
            with _CHECKED_LOCK:
                _CHECKED[key] = known
        return known

    def assignment(self, fleet: FleetIndex) -> Mapping[int, TraceFile]:
        """Endpoint index -> its file: ``<clientId>.cst.gz`` by name, the rest in order (cached per fleet)."""
        cached = self._assigned
        if cached is not None and cached[0] is fleet:
            return cached[1]
        out: dict[int, TraceFile] = {}
        rest = []
        for f in self.files:
            index = fleet.index_of_client_id(f.stem) if f.stem.isdigit() else None
            if index is not None and index not in out:
                out[index] = f
            else:
                rest.append(f)
        index = 0
        for f in rest:
            while index < fleet.size and index in out:
                index += 1
            if index >= fleet.size:
                break
            out[index] = f
            index += 1
        self._assigned = (fleet, out)
        return out

    def file_for(self, fleet: FleetIndex, index: int) -> TraceFile | None:
        return self.assignment(fleet).get(index)


_CHECKED: dict[tuple[str, tuple[tuple[str, tuple[int, int]], ...]], TraceSources] = {}
_CHECKED_LOCK = threading.Lock()


def _stat_key(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _check(f: TraceFile) -> None:
    """Refuse a file that is not a gzip-compressed, valid, full CST trace (one sentence naming it)."""
    from client import IntegrityError, TraceFormatError, open_trace, validate_trace

    try:
        with open(f.path, "rb") as fh:
            magic = fh.read(2)
        if magic != GZIP_MAGIC:
            raise TraceSourceError(
                f"{f.name}: not a gzip-compressed CST trace (it does not start with 1f 8b)"
            )
        issues = validate_trace(f.path, max_errors=1)
        if issues:
            raise TraceSourceError(f"{f.name}: not a valid CST trace: {issues[0]}")
        with open_trace(f.path) as trace:
            spec = trace.header.get("api_specific")
        if isinstance(spec, dict) and spec.get("scan_mode") == "diff":
            raise TraceSourceError(
                f"{f.name}: a diff trace; serve full traces (the endpoint's whole inventory)"
            )
    except (TraceFormatError, IntegrityError) as exc:
        raise TraceSourceError(f"{f.name}: not a valid CST trace: {exc}") from None
    except OSError as exc:
        raise TraceSourceError(f"{f.name}: cannot be read ({exc.strerror or exc})") from None


def read_trace_file(path: str) -> bytes:
    """A checked trace file's bytes, refusing a path that became a symbolic link since it was checked."""
    if os.path.realpath(path) != path:
        raise TraceSourceError(f"{os.path.basename(path)}: changed into a symbolic link while served")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def load_trace_file(path: str) -> GeneratedTrace:
    """A trace file as the catalog holds traces: its bytes and its manifest, computed from the file.

    The manifest's ``record_count``, ``by_type`` and ``findings`` are the client's reading of it
    (:func:`client.summarize`) at the header's ``api_specific.scan_time``, or at the file's modification
    time when the header has none; ``scan_id`` is the header's (empty when it has none).
    """
    from client import open_trace, summarize
    from simulator.traces.records import rfc3339

    data = read_trace_file(path)
    with open_trace(data) as trace:
        spec: Any = trace.header.get("api_specific")
        spec = spec if isinstance(spec, dict) else {}
        fallback = None if spec.get("scan_time") else os.stat(path).st_mtime
        summary = summarize(trace, scan_time=fallback).to_dict()
    manifest = {
        "scan": 1,
        "scan_id": str(spec.get("scan_id") or ""),
        "scan_time": str(spec.get("scan_time") or rfc3339(int(fallback or 0))),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "record_count": summary["record_count"],
        "by_type": summary["by_type"],
        "findings": summary["findings"],
    }
    return GeneratedTrace(data=data, manifest=manifest)


def trace_file_records(data: bytes) -> list[dict[str, Any]]:
    """A trace file's records, read by the client (any layout the format allows)."""
    from client import open_trace

    with open_trace(data) as trace:
        return list(trace)


__all__ = [
    "TRACE_SUFFIX",
    "FleetIndex",
    "TraceFile",
    "TraceSourceError",
    "TraceSources",
    "load_trace_file",
    "read_trace_file",
    "trace_file_records",
]
