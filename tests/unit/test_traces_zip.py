"""The ZipCrypto evidence zip opens with zipfile and stream_unzip, and is byte-identical."""

from __future__ import annotations

import io
import zipfile

import pytest
from stream_unzip import stream_unzip

from simulator.traces import EVIDENCE_PASSWORD, build_evidence_zip, zipcrypto

DATA = bytes(range(256)) * 300 + b"tail"


@pytest.mark.parametrize("fast", [False, True])
def test_zipfile_reads_it(fast: bool) -> None:
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


def test_deterministic_and_paths_agree() -> None:
    assert build_evidence_zip("a.gz", DATA) == build_evidence_zip("a.gz", DATA)
    assert build_evidence_zip("a.gz", DATA, fast=True) == build_evidence_zip("a.gz", DATA, fast=False)
    assert build_evidence_zip("a.gz", DATA) != build_evidence_zip("b.gz", DATA)


def test_empty_member() -> None:
    blob = build_evidence_zip("empty.gz", b"")
    assert zipfile.ZipFile(io.BytesIO(blob)).read("empty.gz", pwd=EVIDENCE_PASSWORD) == b""


def test_python_loop_inverts_zipfiles_decrypter() -> None:
    encrypted = zipcrypto.encrypt_python(DATA[:5000], zipcrypto.initial_keys())
    decrypt = zipfile._ZipDecrypter(EVIDENCE_PASSWORD)  # type: ignore[attr-defined]
    assert decrypt(encrypted) == DATA[:5000]
