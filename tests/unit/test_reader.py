"""The trace reader: containers, JSON layouts, positions in errors, and the ``trace`` sub-commands."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from client._errors import IntegrityError, TraceFormatError
from client._trace import TraceStats, _iter_objects, iter_records, open_trace
from simulator.cli import main
from tests.unit.test_reader_support import (
    blob_record,
    cert_record,
    evidence_zip,
    gz,
    header,
    key_record,
    make_cert,
    pgp_record,
    trace_text,
    zipcrypto_zip,
)

RECORDS = [
    key_record("rsa", bits=1024),
    {},
    {"path": "/tmp/a b\u00e9", "type": "x", "details": {"braces": "}{ ][", "quote": 'a"\\n"b'}},
    pgp_record(),
    blob_record(),
]
OBJECTS = [header(), *RECORDS]
WANTED = [r for r in RECORDS if r]


def _chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


LAYOUTS = {
    "newline": trace_text(OBJECTS),
    "crlf": trace_text(OBJECTS, b"\r\n"),
    "whitespace": trace_text(OBJECTS, b" \t \n\n  "),
    "back-to-back": trace_text(OBJECTS, b""),
    "spanning-lines": trace_text(OBJECTS, indent=2),
    "spanning-back-to-back": trace_text(OBJECTS, b"", indent=1),
    "no-final-newline": trace_text(OBJECTS)[:-1],
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_every_layout_yields_the_same_objects_at_their_offsets(layout: str, chunk: int) -> None:
    data = LAYOUTS[layout]
    got = list(_iter_objects(_chunked(data, chunk), TraceStats()))
    assert [value for _, _, value in got] == OBJECTS
    assert [index for index, _, _ in got] == list(range(len(OBJECTS)))
    for _, offset, value in got:
        assert data[offset : offset + 1] == b"{"
        end = (
            offset + len(json.dumps(value, ensure_ascii=False).encode())
            if layout in ("newline", "crlf")
            else None
        )
        if end is not None:
            assert json.loads(data[offset:end]) == value


def test_several_objects_on_one_line_then_one_per_line() -> None:
    data = trace_text(OBJECTS[:3], b" ")[:-1] + b"\n" + trace_text(OBJECTS[3:])
    assert list(iter_records(data)) == WANTED


def test_a_very_long_line_of_back_to_back_objects_is_split_as_it_arrives() -> None:
    record = {"path": "/x", "type": "t", "pad": "p" * 500}
    data = trace_text([header()], b"") + trace_text([record] * 6000, b"")  # ~3 MB, not one newline
    with open_trace(_chunked(data, 65536)) as trace:
        assert sum(1 for _ in trace) == 6000
        assert trace.stats.decompressed_bytes == len(data)


def test_plain_gzip_and_multi_member_gzip_read_the_same() -> None:
    text = LAYOUTS["newline"]
    cut = len(text) // 3
    sources: list[Any] = [text, gz(text), gz(text[:cut]) + gz(text[cut : 2 * cut]) + gz(text[2 * cut :])]
    for source in sources:
        with open_trace(source) as trace:
            assert trace.header == OBJECTS[0]
            assert list(trace) == WANTED
            assert trace.stats.records == len(WANTED)
            assert trace.stats.skipped == 1
            assert trace.stats.objects == len(OBJECTS)
            assert trace.stats.decompressed_bytes == len(text)
            assert trace.stats.compressed_bytes == len(source)


def test_gzip_zero_padding_after_the_last_member_is_ignored() -> None:
    assert list(iter_records(gz(LAYOUTS["newline"]) + b"\0" * 1000)) == WANTED


def test_sources_path_file_object_and_chunk_iterable(tmp_path: Path) -> None:
    data = gz(LAYOUTS["newline"])
    path = tmp_path / "t.cst.gz"
    path.write_bytes(data)
    assert list(iter_records(path)) == WANTED
    assert list(iter_records(str(path))) == WANTED
    assert list(iter_records(io.BytesIO(data), chunk_size=5)) == WANTED
    assert list(iter_records(iter(_chunked(data, 3)))) == WANTED


def test_evidence_zip_with_zipcrypto_is_decrypted_and_gunzipped() -> None:
    data = gz(LAYOUTS["newline"])
    for z in (evidence_zip(data), zipcrypto_zip("trace.cst.gz", data, deflate=True)):
        with open_trace(_chunked(z, 100)) as trace:
            assert list(trace) == WANTED
            assert trace.stats.compressed_bytes == len(z)
            assert trace.stats.decompressed_bytes == len(LAYOUTS["newline"])


def test_evidence_zip_holding_a_plain_trace_is_read() -> None:
    assert list(iter_records(zipcrypto_zip("trace.cst", LAYOUTS["back-to-back"]))) == WANTED


def test_zip_with_a_wrong_password_is_an_integrity_error() -> None:
    z = zipcrypto_zip("trace.cst.gz", gz(LAYOUTS["newline"]), password=b"secret")
    with pytest.raises(IntegrityError, match="password 'infected'"):
        list(iter_records(z))


def test_zip_with_a_flipped_byte_or_cut_short_is_an_integrity_error() -> None:
    z = bytearray(zipcrypto_zip("trace.cst", LAYOUTS["newline"] * 20))
    z[200] ^= 0x55  # inside the stored member: only the CRC can tell
    with pytest.raises(IntegrityError, match="integrity check"):
        list(iter_records(bytes(z)))
    whole = zipcrypto_zip("trace.cst", LAYOUTS["newline"] * 20)
    with pytest.raises(IntegrityError, match="truncated"):
        list(iter_records(whole[: len(whole) // 2]))


def test_zip_with_two_members_is_refused() -> None:
    one = zipcrypto_zip("a", LAYOUTS["newline"])
    two = one[: one.index(b"PK\x01\x02")] + one[: one.index(b"PK\x01\x02")]
    with pytest.raises(IntegrityError, match="more than one file"):
        list(iter_records(two + one[one.index(b"PK\x01\x02") :]))


def test_truncated_gzip_names_the_next_object_and_the_offset_reached() -> None:
    text = LAYOUTS["newline"] * 50
    with pytest.raises(TraceFormatError, match="gzip stream is truncated") as err:
        list(iter_records(gz(text)[:-100]))
    assert err.value.offset is not None and 0 < err.value.offset <= len(text)
    assert err.value.index is not None and err.value.index > 0


def test_corrupt_gzip_is_a_trace_format_error() -> None:
    data = bytearray(gz(LAYOUTS["newline"]))
    data[-8] ^= 0xFF  # the CRC-32 of the member
    with pytest.raises(TraceFormatError, match="gzip stream is corrupt") as err:
        list(iter_records(bytes(data)))
    assert err.value.__cause__ is not None and isinstance(err.value.__cause__, zlib.error)


@pytest.mark.parametrize("layout", ["newline", "back-to-back", "spanning-lines"])
def test_bad_json_names_the_object_index_and_byte_offset(layout: str) -> None:
    sep = {"newline": b"\n", "back-to-back": b"", "spanning-lines": b"\n"}[layout]
    indent = 2 if layout == "spanning-lines" else None
    good = trace_text(OBJECTS[:3], sep, indent=indent)
    bad = b'{"path": "/x", "size_bytes": 12,, "type": "t"}'
    data = good + bad + sep + trace_text(OBJECTS[3:], sep, indent=indent)
    with pytest.raises(TraceFormatError, match="not valid JSON") as err:
        list(iter_records(gz(data)))
    assert err.value.index == 3
    assert err.value.offset == len(good) + bad.index(b",,") + 1
    assert "object 3" in str(err.value) and f"byte offset {err.value.offset}" in str(err.value)


def test_a_last_object_that_never_closes_is_truncation() -> None:
    data = trace_text(OBJECTS[:3]) + b'{"path": "/x", "type": '
    with pytest.raises(TraceFormatError, match="truncated") as err:
        list(iter_records(data))
    assert (err.value.index, err.value.offset) == (3, len(trace_text(OBJECTS[:3])))


def test_values_that_are_not_objects_and_missing_headers_are_refused() -> None:
    with pytest.raises(TraceFormatError, match="not a JSON object") as err:
        list(iter_records(trace_text([header()]) + b"[1, 2]\n"))
    assert err.value.index == 1
    with pytest.raises(TraceFormatError, match="not a CST header"):
        open_trace(trace_text(RECORDS))
    with pytest.raises(TraceFormatError, match="empty"):
        open_trace(b"  \n{}\n")


def test_an_oversized_object_is_refused_without_reading_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("client._trace.MAX_OBJECT_BYTES", 1 << 20)
    data = trace_text([header()]) + b'{"path": "/x", "pad": "' + b"p" * (3 << 20)
    with pytest.raises(TraceFormatError, match="exceeds") as err:
        list(iter_records(iter(_chunked(data, 1 << 16))))
    assert err.value.index == 1


def test_summary_trailer_is_kept_apart_from_records() -> None:
    with open_trace(trace_text([header(scan_mode="diff"), *WANTED, {"summary": {"added": 0}}])) as trace:
        assert list(trace) == WANTED
        assert trace.trailer == {"summary": {"added": 0}}


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_trace(tmp_path / "nope.gz")


# --- the CLI ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_cli_inspect_json_and_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rsa_key: rsa.RSAPrivateKey
) -> None:
    path = tmp_path / "e.zip"
    records = [cert_record(make_cert(rsa_key, days=3)), key_record("rsa", bits=1024), {}]
    path.write_bytes(evidence_zip(gz(trace_text([header(), *records]))))
    assert main(["trace", "inspect", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["record_count"] == 2 and out["hostname"] == "web-01"
    assert out["by_type"] == {"X509 CERTIFICATE": 1, "rsa_private_key": 1}
    assert out["findings"]["weak_key"] == 1 and out["findings"]["expired"] == 1
    assert out["stats"]["skipped"] == 1
    assert main(["trace", "inspect", str(path)]) == 0
    table = capsys.readouterr().out
    assert "X509 CERTIFICATE" in table and "unencrypted_private_key" in table


def test_cli_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad, corrupt = tmp_path / "good.cst", tmp_path / "bad.cst.gz", tmp_path / "corrupt.gz"
    good.write_bytes(trace_text([header(), key_record("ec"), {}, pgp_record(), blob_record()]))
    broken = key_record("rsa") | {"size_bytes": -1}
    bad.write_bytes(gz(trace_text([header(), key_record("rsa"), broken])))
    corrupt.write_bytes(gz(trace_text(OBJECTS))[:-20])
    assert main(["trace", "validate", str(good)]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["trace", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "object 2 at byte" in err and "size_bytes" in err
    assert main(["trace", "validate", str(corrupt)]) == 1
    assert "truncated" in capsys.readouterr().err
    assert main(["trace", "validate", str(tmp_path / "missing.gz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_positioned_records_carry_their_index_and_offset() -> None:
    data = LAYOUTS["whitespace"]
    with open_trace(data) as trace:
        placed = list(trace.positioned())
    assert [index for index, _, _ in placed] == [1, 3, 4, 5]  # index 2 is the skipped {}
    for index, offset, record in placed:
        assert record == OBJECTS[index]
        assert data[offset : offset + 1] == b"{"
