"""Each endpoint's (tiny, virtual) file system: the scanner binary, its trace, and their folders.

Paths come from requests as strings and are only ever compared with this table: the simulator never
opens a host path, so traversal strings (``/opt/cryptosense/../../etc/passwd``) normalize to paths the
endpoint simply does not have.
"""

from __future__ import annotations

import hashlib
import ntpath
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.clock import epoch_ms
from simulator.errors import BadRequest
from simulator.state.fleet import Endpoint

LINUX_SCANNER = "/opt/cryptosense/bin/cs-host-scanner"
WINDOWS_SCANNER = "C:\\Program Files\\Cryptosense\\cs-host-scanner.exe"
# A stand-in for the scanner binary: deterministic bytes (an ELF magic, then a hash stream), 64 KiB.
SCANNER_BYTES = (
    b"\x7fELF\x02\x01\x01\x00"
    + b"".join(hashlib.sha256(b"cs-host-scanner:%d" % i).digest() for i in range(2048))[: 64 * 1024 - 8]
)
SCANNER_SIZE = len(SCANNER_BYTES)
SCANNER_INSTALLED_AT = 1_767_225_600.0  # 2026-01-01T00:00:00Z
# Longest path a request may name (PATH_MAX on Linux; INFERRED, the real limit is undocumented).
MAX_PATH_CHARS = 4096
# Mode bits as the API sends them, a plain integer: 438 (0o666) is what public client fixtures show for
# a file; 0o755 for folders and the scanner binary is INFERRED.
FILE_MODE = 0o666
EXEC_MODE = 0o755


@dataclass(frozen=True)
class FileEntry:
    """A file or directory on an endpoint, as ``file/info`` and ``file/list`` show it (docs/api.md §3)."""

    path: str
    size: int
    created_at: float
    modified_at: float
    is_dir: bool
    executable: bool = False

    def name(self, windows: bool) -> str:
        base = ntpath.basename(self.path) if windows else posixpath.basename(self.path)
        return base or self.path

    @property
    def permissions(self) -> int:
        return EXEC_MODE if self.is_dir or self.executable else FILE_MODE

    def to_entry(self, windows: bool) -> dict[str, Any]:
        """One item of a ``file/list`` answer: ``name`` is the bare file name."""
        return {
            "type": "DIRECTORY" if self.is_dir else "FILE",
            "name": self.name(windows),
            "permissions": self.permissions,
            "size": self.size,
            "createdDate": epoch_ms(self.created_at),
            "modifiedDate": epoch_ms(self.modified_at),
        }

    def to_info(self, windows: bool) -> dict[str, Any]:
        """The ``info`` of a ``file/info`` answer: ``name`` and ``canonicalPath`` are the full path."""
        return {**self.to_entry(windows), "name": self.path, "canonicalPath": self.path}


def normalize(raw: object, *, windows: bool) -> str:
    """A request's path, normalized for comparison; 400 when it is not an absolute path."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest("path must be a non-empty string")
    if len(raw) > MAX_PATH_CHARS:
        raise BadRequest(f"path is {len(raw)} characters long; at most {MAX_PATH_CHARS} are accepted")
    if "\x00" in raw:
        raise BadRequest("path must not contain a NUL byte")
    if windows:
        path = ntpath.normpath(raw.replace("/", "\\"))
        if not ntpath.isabs(path) or not ntpath.splitdrive(path)[0]:
            raise BadRequest(f"path must be absolute, e.g. C:\\ProgramData\\...: {raw!r}")
        return path
    if not raw.startswith("/"):
        raise BadRequest(f"path must be absolute, e.g. /opt/...: {raw!r}")
    return posixpath.normpath(raw).replace("//", "/")


def _key(path: str, windows: bool) -> str:
    return path.lower() if windows else path


class EndpointFiles:
    """The files an endpoint has; the trace's size and time come from ``trace_stat``."""

    def __init__(self, linux_trace_path: str, windows_trace_path: str) -> None:
        self.linux_trace_path = linux_trace_path
        self.windows_trace_path = windows_trace_path

    def trace_path(self, endpoint: Endpoint) -> str:
        return self.windows_trace_path if endpoint.is_windows else self.linux_trace_path

    def diff_path(self, endpoint: Endpoint) -> str:
        """The diff trace, next to the full one (``trace.diff.cst.gz``), present from scan 2 on."""
        from simulator.traces.diff import diff_trace_path

        return diff_trace_path(self.trace_path(endpoint))

    def scanner_path(self, endpoint: Endpoint) -> str:
        return WINDOWS_SCANNER if endpoint.is_windows else LINUX_SCANNER

    def entries(
        self,
        endpoint: Endpoint,
        trace_stat: Callable[[], tuple[int, float] | None],
        *,
        scanner_installed: bool = True,
        diff_stat: Callable[[], tuple[int, float] | None] | None = None,
    ) -> dict[str, FileEntry]:
        """Every file and directory of the endpoint, keyed for lookup."""
        if not scanner_installed:  # the uninstall package removes the binary, the traces and their folders
            return {}
        windows = endpoint.is_windows
        mod = ntpath if windows else posixpath
        files: dict[str, FileEntry] = {}
        scanner = self.scanner_path(endpoint)
        files[_key(scanner, windows)] = FileEntry(
            scanner, SCANNER_SIZE, SCANNER_INSTALLED_AT, SCANNER_INSTALLED_AT, False, executable=True
        )
        stat = trace_stat() if endpoint.has_trace else None
        if stat is not None:
            size, modified = stat
            trace = self.trace_path(endpoint)
            files[_key(trace, windows)] = FileEntry(trace, size, modified, modified, False)
            diff = diff_stat() if diff_stat is not None else None
            if diff is not None:
                path = self.diff_path(endpoint)
                files[_key(path, windows)] = FileEntry(path, diff[0], diff[1], diff[1], False)
        for entry in list(files.values()):
            parent = mod.dirname(entry.path)
            while parent and _key(parent, windows) not in files:
                files[_key(parent, windows)] = FileEntry(
                    parent, 4096, SCANNER_INSTALLED_AT, SCANNER_INSTALLED_AT, True
                )
                up = mod.dirname(parent)
                if up == parent:
                    break
                parent = up
        return files

    @staticmethod
    def lookup(files: dict[str, FileEntry], path: str, windows: bool) -> FileEntry | None:
        return files.get(_key(path, windows))

    @staticmethod
    def children(files: dict[str, FileEntry], path: str, windows: bool) -> list[FileEntry]:
        mod = ntpath if windows else posixpath
        parent = _key(path, windows)
        return sorted(
            (e for k, e in files.items() if _key(mod.dirname(e.path), windows) == parent and k != parent),
            key=lambda e: e.path,
        )
