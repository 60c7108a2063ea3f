"""The ZipCrypto evidence zip opens with zipfile and stream_unzip, and is byte-identical."""

from __future__ import annotations

import io
import zipfile

import pytest
from stream_unzip import stream_unzip

from simulator.traces import EVIDENCE_PASSWORD, build_evidence_zip, zipcrypto

DATA = bytes(range(256)) * 300 + b"tail"


def test_the_fast_path_is_there_to_compare() -> None:
    """numba is a dependency: without it ``fast=True`` silently runs the Python loop, and the comparisons
    of the two paths below would compare the Python loop with itself."""
    assert zipcrypto.accelerated(), "numba did not load: the fast ZipCrypto path is not being tested"


@pytest.mark.parametrize("fast", [False, True])
def test_zipfile_reads_it(fast: bool) -> None:
    if fast:
        assert zipcrypto.accelerated()
    blob = build_evidence_zip("trace.cst.gz", DATA, fast=fast)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        info = zf.getinfo("trace.cst.gz")
        assert info.flag_bits & 1 and info.compress_type == zipfile.ZIP_STORED
        assert zf.read("trace.cst.gz", pwd=EVIDENCE_PASSWORD) == DATA
        with pytest.raises(RuntimeError, match="password"):
            zf.read("trace.cst.gz", pwd=b"wrong")


def test_stream_unzip_reads_it() -> None:
    blob = build_evidence_zip("trace.cst.gz", DATA)
    members = [(name, b"".join(chunks)) for name, _, chunks in stream_unzip([blob], password=b"infected")]
    assert members == [(b"trace.cst.gz", DATA)]


def test_deterministic_and_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_evidence_zip("a.gz", DATA) == build_evidence_zip("a.gz", DATA)
    # The fast path must really run: a Python loop standing in for it would make the comparison vacuous.
    monkeypatch.setattr(zipcrypto, "encrypt_python", _refuse_python)
    fast = build_evidence_zip("a.gz", DATA, fast=True)
    monkeypatch.undo()
    assert fast == build_evidence_zip("a.gz", DATA, fast=False)
    assert build_evidence_zip("a.gz", DATA) != build_evidence_zip("b.gz", DATA)


def _refuse_python(data: bytes, keys: tuple[int, int, int]) -> bytes:
    raise AssertionError("fast=True fell back to the pure-Python ZipCrypto loop")


@pytest.mark.parametrize("name", ["trace.cst.gz", "tracé-Ω.cst.gz", "日本.cst.gz"])
def test_names_round_trip_and_utf8_names_are_flagged(name: str) -> None:
    """zipfile (and Tanium's readers) decode a name as CP437 unless bit 11 says UTF-8."""
    blob = build_evidence_zip(name, b"x")
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        (info,) = zf.infolist()
        assert info.filename == name
        assert bool(info.flag_bits & 0x800) == (not name.isascii())
        assert zf.read(name, pwd=EVIDENCE_PASSWORD) == b"x"
    members = [(raw, b"".join(chunks)) for raw, _, chunks in stream_unzip([blob], password=b"infected")]
    assert members == [(name.encode(), b"x")]  # stream_unzip gives the raw bytes: UTF-8


def test_empty_member() -> None:
    blob = build_evidence_zip("empty.gz", b"")
    assert zipfile.ZipFile(io.BytesIO(blob)).read("empty.gz", pwd=EVIDENCE_PASSWORD) == b""


def test_python_loop_inverts_zipfiles_decrypter() -> None:
    encrypted = zipcrypto.encrypt_python(DATA[:5000], zipcrypto.initial_keys())
    decrypt = zipfile._ZipDecrypter(EVIDENCE_PASSWORD)  # type: ignore[attr-defined]
    assert decrypt(encrypted) == DATA[:5000]
