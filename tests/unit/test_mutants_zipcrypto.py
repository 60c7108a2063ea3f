"""Tests that kill mutmut's survivors in simulator/traces/zipcrypto.py (docs/testing.md).

The zip's every header field, the CRC table, the encryption header's derivation, the 4 GiB limit and
the choice between the Python loop and the numba one, each pinned where a mutant used to slip by.
(The UTF-8 name flag has tests of its own.)
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable

import pytest

from simulator.traces import zipcrypto

DATA = b"hello"
NAME = "trace.cst.gz"


def _parts(blob: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """The local header, the encrypted payload, the central header and the end record of a one-member zip."""
    name_len = struct.unpack_from("<H", blob, 26)[0]
    local_end = 30 + name_len
    central_at = blob.index(b"PK\x01\x02")
    end_at = blob.index(b"PK\x05\x06")
    return blob[:local_end], blob[local_end:central_at], blob[central_at:end_at], blob[end_at:]


def test_crc_table_is_the_crc32_table() -> None:
    # table[n] is what one byte n ^ 0xFF does to a fresh CRC-32 register, so zlib can check every entry.
    expected = tuple(zlib.crc32(bytes([n ^ 0xFF])) ^ 0xFF000000 for n in range(256))
    assert zipcrypto._crc_table() == expected


def test_every_header_field_is_what_zip_readers_expect() -> None:
    blob = zipcrypto.build_evidence_zip(NAME, DATA)
    local, payload, central, end = _parts(blob)
    crc = zlib.crc32(DATA)
    fields = (0x0001, 0, 0, (1 << 5) | 1, crc, len(DATA) + 12, len(DATA))
    assert struct.unpack("<4sH", local[:6]) == (b"PK\x03\x04", 20)
    assert struct.unpack("<HHHHIII", local[6:26]) == fields
    assert struct.unpack("<HH", local[26:30]) == (len(NAME), 0)
    assert local[30:] == NAME.encode()
    assert len(payload) == len(DATA) + 12
    assert struct.unpack("<4sHH", central[:8]) == (b"PK\x01\x02", 20, 20)
    assert struct.unpack("<HHHHIII", central[8:28]) == fields
    # name length, extra, comment, disk, internal attributes, external attributes, local header offset
    assert struct.unpack("<HHHHHII", central[28:46]) == (len(NAME), 0, 0, 0, 0, 0, 0)
    assert central[46:] == NAME.encode()
    offset = len(local) + len(payload)
    assert struct.unpack("<4sHHHHIIH", end) == (b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0)


def test_the_zip_is_pinned_byte_for_byte() -> None:
    # Byte-identical zips are a promise (the module docstring): a change here changes every served zip.
    blob = zipcrypto.build_evidence_zip(NAME, DATA)
    assert (
        hashlib.sha256(blob).hexdigest() == "1002919c801ff7fb5035201288ba6642fc81e7d4d167cb3bc2e90326217ac56f"
    )


def test_the_encryption_header_depends_on_the_name_and_the_content() -> None:
    def payload(name: str, data: bytes) -> bytes:
        return _parts(zipcrypto.build_evidence_zip(name, data))[1]

    assert payload("a.gz", DATA) != payload("b.gz", DATA)
    assert payload("a.gz", b"hellp") != payload("a.gz", DATA)


class _Sized:
    """Stands for a payload of ``size`` bytes without holding them (only ``len`` is asked first)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def test_a_payload_over_4_gib_is_refused_in_one_sentence_and_the_limit_itself_is_not() -> None:
    limit = 0xFFFFFFFF - 12  # the 12-byte encryption header must fit in the 32-bit size field too
    with pytest.raises(ValueError, match=r"^evidence over 4 GiB needs ZIP64, which this writer does not do$"):
        zipcrypto.build_evidence_zip(NAME, _Sized(limit + 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # past the size check: zlib.crc32 then refuses the stand-in
        zipcrypto.build_evidence_zip(NAME, _Sized(limit))  # type: ignore[arg-type]


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The numba path replaced by a recorder answering like the Python loop (threshold 64 bytes)."""
    calls: list[int] = []

    def fake(data: bytes, keys: tuple[int, int, int]) -> bytes:
        calls.append(len(data))
        return zipcrypto.encrypt_python(data, keys)

    def provider() -> Callable[[bytes, tuple[int, int, int]], bytes]:
        return fake

    monkeypatch.setattr(zipcrypto, "_numba_encrypt", provider)
    monkeypatch.setattr(zipcrypto, "ACCELERATE_ABOVE", 64)  # the rule, not the size, is under test
    monkeypatch.setattr(zipcrypto, "ACCELERATE_AFTER", 200)
    monkeypatch.setattr(zipcrypto, "_python_bytes", 0)  # as in a fresh process
    return calls


def test_only_payloads_above_the_threshold_take_the_fast_path(fast_calls: list[int]) -> None:
    keys = zipcrypto.initial_keys()
    at = bytes(zipcrypto.ACCELERATE_ABOVE)
    above = at + b"\x00"
    assert zipcrypto.encrypt(at, keys) == zipcrypto.encrypt_python(at, keys)
    assert fast_calls == []
    assert zipcrypto.encrypt(above, keys) == zipcrypto.encrypt_python(above, keys)
    assert fast_calls == [len(above)]


def test_small_payloads_take_the_fast_path_once_python_has_encrypted_enough(fast_calls: list[int]) -> None:
    keys = zipcrypto.initial_keys()
    for _ in range(4):  # 4 x 50 bytes: Python until 200 bytes have gone that way
        assert zipcrypto.encrypt(bytes(50), keys) == zipcrypto.encrypt_python(bytes(50), keys)
    assert fast_calls == [] and zipcrypto._python_bytes == 200
    assert zipcrypto.encrypt(b"abc", keys) == zipcrypto.encrypt_python(b"abc", keys)
    assert fast_calls == [3] and zipcrypto._python_bytes == 200  # the fast path does not count


def test_fast_true_and_false_override_the_threshold(fast_calls: list[int]) -> None:
    keys = zipcrypto.initial_keys()
    zipcrypto.encrypt(b"abc", keys, fast=True)
    zipcrypto.encrypt(bytes(zipcrypto.ACCELERATE_ABOVE + 1), keys, fast=False)
    assert fast_calls == [3]
    zipcrypto.build_evidence_zip(NAME, DATA, fast=True)
    assert fast_calls == [3, len(DATA) + 12]


def test_without_numba_the_python_loop_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipcrypto, "_numba_encrypt", lambda: None)
    keys = zipcrypto.initial_keys()
    assert zipcrypto.accelerated() is False
    assert zipcrypto.encrypt(b"abc", keys, fast=True) == zipcrypto.encrypt_python(b"abc", keys)


def test_accelerated_says_whether_the_numba_path_exists(fast_calls: list[int]) -> None:
    assert zipcrypto.accelerated() is True


def test_a_member_name_of_up_to_64_kib_is_written_unsigned() -> None:
    # The name length fields are unsigned 16-bit: a 40 000-byte name fits (a signed field would not).
    name = "n" * 40_000
    blob = zipcrypto.build_evidence_zip(name, DATA)
    local, _, central, _ = _parts(blob)
    assert struct.unpack("<H", local[26:28]) == (40_000,)
    assert struct.unpack("<H", central[28:30]) == (40_000,)
