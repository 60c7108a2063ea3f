"""Tests that kill mutmut's survivors in simulator/state/filesystem.py (docs/testing.md).

Each endpoint's virtual file system: the entries it lists (names, modes, sizes, times), path
normalization and its 400 texts, and the folders derived from the files.
"""

from __future__ import annotations

import pytest

from simulator.errors import BadRequest
from simulator.state.filesystem import (
    LINUX_SCANNER,
    SCANNER_INSTALLED_AT,
    SCANNER_SIZE,
    WINDOWS_SCANNER,
    EndpointFiles,
    FileEntry,
    normalize,
)
from simulator.state.fleet import Endpoint

LINUX_TRACE = "/opt/cryptosense/traces/trace.cst.gz"
WINDOWS_TRACE = "C:\\ProgramData\\Cryptosense\\traces\\trace.cst.gz"
T0 = SCANNER_INSTALLED_AT


def _endpoint(*, windows: bool = False, has_trace: bool = True) -> Endpoint:
    return Endpoint(
        index=0,
        client_id="1",
        hostname="h",
        ip="10.16.0.1",
        platform="Windows" if windows else "Linux",
        os="os",
        user="u",
        profile="small",
        online=True,
        has_trace=has_trace,
        scanner_version="1.12.0",
    )


def _files() -> EndpointFiles:
    return EndpointFiles(LINUX_TRACE, WINDOWS_TRACE)


def _bad(raw: object, *, windows: bool = False) -> str:
    with pytest.raises(BadRequest) as caught:
        normalize(raw, windows=windows)
    return caught.value.detail


# -- FileEntry ------------------------------------------------------------------------------------


def test_entry_names_are_base_names_by_platform_and_the_path_for_a_root() -> None:
    assert FileEntry("/a/b.txt", 1, 0.0, 0.0, False).name(False) == "b.txt"
    assert FileEntry("C:\\a\\b.txt", 1, 0.0, 0.0, False).name(True) == "b.txt"
    # A Windows path read as POSIX has no separator: the whole path is its name.
    assert FileEntry("C:\\a\\b.txt", 1, 0.0, 0.0, False).name(False) == "C:\\a\\b.txt"
    assert FileEntry("/", 4096, 0.0, 0.0, True).name(False) == "/"
    assert FileEntry("C:\\", 4096, 0.0, 0.0, True).name(True) == "C:\\"


def test_modes_are_755_for_folders_and_executables_666_for_files() -> None:
    assert FileEntry("/d", 4096, 0.0, 0.0, True).permissions == 0o755
    assert FileEntry("/x", 1, 0.0, 0.0, False, executable=True).permissions == 0o755
    assert FileEntry("/f", 1, 0.0, 0.0, False).permissions == 0o666 == 438
    assert FileEntry("/f", 1, 0.0, 0.0, False).executable is False


def test_a_file_entry_and_its_info() -> None:
    entry = FileEntry("/a/b.txt", 12, 10.5, 20.25, False)
    assert entry.to_entry(False) == {
        "type": "FILE",
        "name": "b.txt",
        "permissions": 438,
        "size": 12,
        "createdDate": 10500,
        "modifiedDate": 20250,
    }
    assert entry.to_info(False) == {
        "type": "FILE",
        "name": "/a/b.txt",
        "permissions": 438,
        "size": 12,
        "createdDate": 10500,
        "modifiedDate": 20250,
        "canonicalPath": "/a/b.txt",
    }
    folder = FileEntry("C:\\Dir\\Sub", 4096, 1.0, 2.0, True)
    assert folder.to_entry(True) == {
        "type": "DIRECTORY",
        "name": "Sub",
        "permissions": 493,
        "size": 4096,
        "createdDate": 1000,
        "modifiedDate": 2000,
    }
    assert folder.to_info(True)["name"] == folder.to_info(True)["canonicalPath"] == "C:\\Dir\\Sub"


# -- normalize ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, 7, b"/x", "", "   "])
def test_a_path_must_be_a_non_empty_string(raw: object) -> None:
    assert _bad(raw) == "path must be a non-empty string"
    assert _bad(raw, windows=True) == "path must be a non-empty string"


def test_a_path_is_at_most_4096_characters() -> None:
    longest = "/" + "a" * 4095
    assert normalize(longest, windows=False) == longest
    assert _bad(longest + "b") == "path is 4097 characters long; at most 4096 are accepted"
    assert (
        _bad("C:\\" + "a" * 4094, windows=True) == "path is 4097 characters long; at most 4096 are accepted"
    )


def test_a_path_has_no_nul_byte() -> None:
    assert _bad("/a\x00b") == "path must not contain a NUL byte"
    assert _bad("C:\\a\x00b", windows=True) == "path must not contain a NUL byte"


def test_posix_paths_are_absolute_and_normalized() -> None:
    assert _bad("opt/x") == "path must be absolute, e.g. /opt/...: 'opt/x'"
    assert _bad("C:\\x") == "path must be absolute, e.g. /opt/...: 'C:\\\\x'"
    assert normalize("/opt/cryptosense/../../etc/passwd", windows=False) == "/etc/passwd"
    assert normalize("/opt/./a/", windows=False) == "/opt/a"
    assert normalize("//opt//a", windows=False) == "/opt/a"  # normpath keeps a leading "//"


def test_windows_paths_have_a_drive_and_take_either_slash() -> None:
    assert normalize("C:/ProgramData/x/../y", windows=True) == "C:\\ProgramData\\y"
    assert normalize("c:\\a\\.\\b", windows=True) == "c:\\a\\b"
    expected = "path must be absolute, e.g. C:\\ProgramData\\...: "
    assert _bad("ProgramData\\x", windows=True) == expected + "'ProgramData\\\\x'"
    assert _bad("\\ProgramData\\x", windows=True) == expected + "'\\\\ProgramData\\\\x'"  # no drive
    assert _bad("C:ProgramData", windows=True) == expected + "'C:ProgramData'"  # drive, not absolute


# -- EndpointFiles --------------------------------------------------------------------------------


def test_paths_by_platform() -> None:
    files = _files()
    linux, windows = _endpoint(), _endpoint(windows=True)
    assert files.trace_path(linux) == LINUX_TRACE
    assert files.trace_path(windows) == WINDOWS_TRACE
    assert files.diff_path(linux) == "/opt/cryptosense/traces/trace.diff.cst.gz"
    assert files.diff_path(windows) == "C:\\ProgramData\\Cryptosense\\traces\\trace.diff.cst.gz"
    assert files.scanner_path(linux) == LINUX_SCANNER == "/opt/cryptosense/bin/cs-host-scanner"
    assert files.scanner_path(windows) == WINDOWS_SCANNER


def test_an_uninstalled_scanner_leaves_no_files() -> None:
    def never() -> tuple[int, float] | None:
        raise AssertionError("no trace to stat")

    assert _files().entries(_endpoint(), never, scanner_installed=False) == {}


def test_a_linux_endpoint_has_the_scanner_its_trace_its_diff_and_their_folders() -> None:
    files = _files().entries(_endpoint(), lambda: (100, 50.0), diff_stat=lambda: (7, 60.0))
    assert files == {
        LINUX_SCANNER: FileEntry(LINUX_SCANNER, SCANNER_SIZE, T0, T0, False, executable=True),
        LINUX_TRACE: FileEntry(LINUX_TRACE, 100, 50.0, 50.0, False),
        "/opt/cryptosense/traces/trace.diff.cst.gz": FileEntry(
            "/opt/cryptosense/traces/trace.diff.cst.gz", 7, 60.0, 60.0, False
        ),
        "/opt/cryptosense/bin": FileEntry("/opt/cryptosense/bin", 4096, T0, T0, True),
        "/opt/cryptosense": FileEntry("/opt/cryptosense", 4096, T0, T0, True),
        "/opt": FileEntry("/opt", 4096, T0, T0, True),
        "/": FileEntry("/", 4096, T0, T0, True),
        "/opt/cryptosense/traces": FileEntry("/opt/cryptosense/traces", 4096, T0, T0, True),
    }
    assert list(files)[:3] == [LINUX_SCANNER, LINUX_TRACE, "/opt/cryptosense/traces/trace.diff.cst.gz"]
    assert SCANNER_SIZE == 64 * 1024


def test_a_windows_endpoint_keys_its_files_in_lower_case() -> None:
    files = _files().entries(_endpoint(windows=True), lambda: (100, 50.0))
    assert sorted(files) == [
        "c:\\",
        "c:\\program files",
        "c:\\program files\\cryptosense",
        "c:\\program files\\cryptosense\\cs-host-scanner.exe",
        "c:\\programdata",
        "c:\\programdata\\cryptosense",
        "c:\\programdata\\cryptosense\\traces",
        "c:\\programdata\\cryptosense\\traces\\trace.cst.gz",
    ]
    assert files["c:\\programdata\\cryptosense"] == FileEntry(
        "C:\\ProgramData\\Cryptosense", 4096, T0, T0, True
    )
    assert files["c:\\"].path == "C:\\"
    assert (
        _files().lookup(files, "C:\\PROGRAMDATA\\CRYPTOSENSE", True) == files["c:\\programdata\\cryptosense"]
    )


def test_without_a_trace_or_its_stat_only_the_scanner_and_its_folders_are_there() -> None:
    calls: list[str] = []

    def stat() -> tuple[int, float] | None:
        calls.append("trace")
        return (1, 1.0)

    files = _files().entries(_endpoint(has_trace=False), stat, diff_stat=lambda: (1, 1.0))
    assert sorted(files) == ["/", "/opt", "/opt/cryptosense", "/opt/cryptosense/bin", LINUX_SCANNER]
    assert calls == []  # an endpoint without a trace is not asked for its size
    files = _files().entries(_endpoint(), lambda: None, diff_stat=lambda: (1, 1.0))
    assert sorted(files) == ["/", "/opt", "/opt/cryptosense", "/opt/cryptosense/bin", LINUX_SCANNER]
    files = _files().entries(_endpoint(), lambda: (5, 2.0), diff_stat=lambda: None)
    assert LINUX_TRACE in files and "/opt/cryptosense/traces/trace.diff.cst.gz" not in files
    files = _files().entries(_endpoint(), lambda: (5, 2.0))
    assert "/opt/cryptosense/traces/trace.diff.cst.gz" not in files


def test_lookup_ignores_case_on_windows_only() -> None:
    linux = _files().entries(_endpoint(), lambda: (5, 2.0))
    assert EndpointFiles.lookup(linux, "/opt", False) == FileEntry("/opt", 4096, T0, T0, True)
    assert EndpointFiles.lookup(linux, "/OPT", False) is None
    windows = _files().entries(_endpoint(windows=True), lambda: (5, 2.0))
    assert EndpointFiles.lookup(windows, "c:\\PROGRAMDATA", True) is not None
    assert EndpointFiles.lookup(windows, "c:\\nothing", True) is None


def test_children_are_the_direct_entries_in_path_order() -> None:
    linux = _files().entries(_endpoint(), lambda: (5, 2.0), diff_stat=lambda: (1, 1.0))
    names = [e.path for e in EndpointFiles.children(linux, "/opt/cryptosense/traces", False)]
    assert names == ["/opt/cryptosense/traces/trace.cst.gz", "/opt/cryptosense/traces/trace.diff.cst.gz"]
    assert [e.path for e in EndpointFiles.children(linux, "/", False)] == ["/opt"]  # not "/" itself
    assert [e.path for e in EndpointFiles.children(linux, "/opt/cryptosense", False)] == [
        "/opt/cryptosense/bin",
        "/opt/cryptosense/traces",
    ]
    assert EndpointFiles.children(linux, "/OPT", False) == []
    windows = _files().entries(_endpoint(windows=True), lambda: (5, 2.0))
    assert [e.path for e in EndpointFiles.children(windows, "C:\\PROGRAMDATA", True)] == [
        "C:\\ProgramData\\Cryptosense"
    ]
    assert [e.path for e in EndpointFiles.children(windows, "c:\\", True)] == [
        "C:\\Program Files",
        "C:\\ProgramData",
    ]


def test_a_windows_diff_trace_is_keyed_in_lower_case_too() -> None:
    files = _files().entries(_endpoint(windows=True), lambda: (5, 2.0), diff_stat=lambda: (3, 4.0))
    diff = "C:\\ProgramData\\Cryptosense\\traces\\trace.diff.cst.gz"
    assert EndpointFiles.lookup(files, diff.upper(), True) == FileEntry(diff, 3, 4.0, 4.0, False)


def test_a_backslash_is_part_of_a_posix_name() -> None:
    odd = EndpointFiles("/opt/odd\\dir/trace.cst.gz", WINDOWS_TRACE)
    files = odd.entries(_endpoint(), lambda: (5, 2.0))
    assert "/opt/odd\\dir" in files and "/opt/odd" not in files
    assert [e.path for e in EndpointFiles.children(files, "/opt", False)] == [
        "/opt/cryptosense",
        "/opt/odd\\dir",
    ]
    assert [e.path for e in EndpointFiles.children(files, "/opt/odd\\dir", False)] == [
        "/opt/odd\\dir/trace.cst.gz"
    ]


def test_a_relative_trace_path_adds_no_nameless_folder() -> None:
    files = EndpointFiles("trace.cst.gz", WINDOWS_TRACE).entries(_endpoint(), lambda: (5, 2.0))
    assert "trace.cst.gz" in files and "" not in files
