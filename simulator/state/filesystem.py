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

from simulator.clock import iso_ms
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


@dataclass(frozen=True)
class FileEntry:
    """A file or directory on an endpoint, as ``file/info`` and ``file/list`` show it."""

    path: str
    size: int
    created_at: float
    modified_at: float
    is_dir: bool

    def name(self, windows: bool) -> str:
        base = ntpath.basename(self.path) if windows else posixpath.basename(self.path)
        return base or self.path

    def permissions(self, windows: bool) -> str:
        if windows:
            return "rw-" if not self.is_dir else "rwx"
        return "drwxr-xr-x" if self.is_dir else ("-rwxr-xr-x" if self.size == SCANNER_SIZE else "-rw-r-----")

    def to_api(self, windows: bool) -> dict[str, Any]:
        return {
            "canonicalPath": self.path,
            "name": self.name(windows),
            "path": self.path,
            "size": self.size,
            "createdDate": iso_ms(self.created_at),
            "modifiedDate": iso_ms(self.modified_at),
            "permissions": self.permissions(windows),
            "type": "DIRECTORY" if self.is_dir else "FILE",
        }


def normalize(raw: object, *, windows: bool) -> str:
    """A request's path, normalized for comparison; 400 when it is not an absolute path."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadRequest("path must be a non-empty string")
    if "\x00" in raw or len(raw) > 4096:
        raise BadRequest("path contains a NUL byte or is too long")
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
            scanner, SCANNER_SIZE, SCANNER_INSTALLED_AT, SCANNER_INSTALLED_AT, False
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
