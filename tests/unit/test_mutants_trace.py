"""Tests that kill mutmut's survivors in client/_trace.py (docs/testing.md, "Mutation testing").

Exact values where the contract tests only check shapes: counters, byte offsets, error texts, the
small parsers shared with the validator.
"""

from __future__ import annotations

import io
import re
import zlib
from datetime import UTC, datetime

import pytest

from client import _trace
from client._errors import IntegrityError, TraceFormatError
from client._trace import (
    CHUNK_BYTES,
    EVIDENCE_PASSWORD,
    MAX_OBJECT_BYTES,
    TraceStats,
    _iter_objects,
    _peek,
    _source_chunks,
    _split_text,
    _text_chunks,
    decode_der,
    is_trailer,
    iter_records,
    open_trace,
    parse_bigint,
    parse_time,
    read_objects,
)
from tests.unit.test_reader_support import evidence_zip, gz, header, trace_text, zipcrypto_zip

HEADER = header()
REC = {"path": "/a", "type": "x"}


def objects(data: bytes, chunk: int = 1 << 20) -> list[tuple[int, int, object]]:
    return list(read_objects(data, TraceStats(), chunk))


# --------------------------------------------------------------------------- constants, stats


def test_constants() -> None:
    assert EVIDENCE_PASSWORD == b"infected"
    assert CHUNK_BYTES == 1 << 20
    assert MAX_OBJECT_BYTES == 16 << 20
    assert _trace._LONG_LINE == 1 << 20


def test_stats_start_at_zero() -> None:
    s = TraceStats()
    assert (s.compressed_bytes, s.decompressed_bytes, s.objects, s.records, s.skipped) == (0, 0, 0, 0, 0)


# --------------------------------------------------------------------------- sources


def test_bytes_source_is_chunked_and_counted() -> None:
    stats = TraceStats()
    assert list(_source_chunks(b"abcdefg", stats, 3)) == [b"abc", b"def", b"g"]
    assert stats.compressed_bytes == 7
    stats = TraceStats()
    chunks = list(_source_chunks(bytearray(b"abcd"), stats, 2))
    assert chunks == [b"ab", b"cd"] and all(type(c) is bytes for c in chunks)
    assert list(_source_chunks(memoryview(b"xyz"), TraceStats(), 10)) == [b"xyz"]


def test_path_file_and_iterable_sources(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "t"
    p.write_bytes(b"hello world")
    stats = TraceStats()
    assert list(_source_chunks(str(p), stats, 4)) == [b"hell", b"o wo", b"rld"]
    assert stats.compressed_bytes == 11
    stats = TraceStats()
    assert list(_source_chunks(p, stats, 6)) == [b"hello ", b"world"]
    assert stats.compressed_bytes == 11
    stats = TraceStats()
    assert list(_source_chunks(io.BytesIO(b"12345"), stats, 2)) == [b"12", b"34", b"5"]
    assert stats.compressed_bytes == 5
    stats = TraceStats()
    got = list(_source_chunks(iter([b"ab", b"", bytearray(b"cde")]), stats, 1))
    assert got == [b"ab", b"cde"] and all(type(c) is bytes for c in got)
    assert stats.compressed_bytes == 5


def test_peek() -> None:
    head, rest = _peek(iter([b"a", b"bc", b"def"]), 2)
    assert head == b"ab"
    assert b"".join(rest) == b"abcdef"
    head, rest = _peek(iter([b"abcd"]), 4)
    assert head == b"abcd" and list(rest) == [b"abcd"]
    head, rest = _peek(iter([b"x"]), 4)
    assert head == b"x" and list(rest) == [b"x"]
    head, rest = _peek(iter([]), 4)
    assert head == b"" and list(rest) == []
    # It stops reading once it has enough.
    source = iter([b"ab", b"cd", b"ef"])
    head, rest = _peek(source, 2)
    assert head == b"ab" and next(source) == b"cd"


# --------------------------------------------------------------------------- layers


def test_plain_counts_decompressed_bytes() -> None:
    stats = TraceStats()
    text, unzipped = _text_chunks(iter([b"ab", b"cd"]), stats)
    assert unzipped is None
    assert b"".join(text) == b"abcd" and stats.decompressed_bytes == 4


def test_gzip_counts_decompressed_bytes() -> None:
    data = trace_text([HEADER, REC])
    stats = TraceStats()
    text, unzipped = _text_chunks(iter([gz(data)]), stats)
    assert unzipped is None
    assert b"".join(text) == data and stats.decompressed_bytes == len(data)


def test_pk_without_a_zip_signature_is_plain() -> None:
    stats = TraceStats()
    text, unzipped = _text_chunks(iter([b"PK\x01\x02rest"]), stats)
    assert unzipped is None and b"".join(text) == b"PK\x01\x02rest"
    text, unzipped = _text_chunks(iter([b"\x1f\x8a..."]), TraceStats())
    assert b"".join(text) == b"\x1f\x8a..."


def test_zip_of_plain_text_is_read_and_the_zip_layer_returned() -> None:
    data = trace_text([HEADER, REC])
    stats = TraceStats()
    text, unzipped = _text_chunks(iter([zipcrypto_zip("t.json", data)]), stats)
    assert unzipped is not None
    assert b"".join(text) == data


def test_empty_zip_is_refused() -> None:
    empty = b"PK\x05\x06" + b"\x00" * 18
    with pytest.raises(IntegrityError, match=r"^the evidence zip holds no file; expected the gzipped trace$"):
        list(iter_records(empty))


def test_second_member_message() -> None:
    one = zipcrypto_zip("a.cst", trace_text([HEADER]))
    # Two local entries back to back: stream_unzip reads members until a central directory.
    two = zipcrypto_zip("first", trace_text([HEADER]))
    local1 = one[: one.index(b"PK\x01\x02")]
    local2 = two[: two.index(b"PK\x01\x02")]
    with pytest.raises(IntegrityError) as caught:
        list(iter_records(local1 + local2 + b"PK\x05\x06" + b"\x00" * 18))
    assert (
        str(caught.value)
        == "the evidence zip holds more than one file ('first' is the second); expected only the trace"
    )


def test_zip_problem_texts() -> None:
    from stream_unzip import (
        CRC32IntegrityError,
        IncorrectPasswordError,
        MissingPasswordError,
        TruncatedDataError,
        UnzipError,
    )

    problem = _trace._zip_problem
    assert problem(IncorrectPasswordError()) == "cannot be decrypted with the password 'infected'"
    assert problem(MissingPasswordError()) == "cannot be decrypted with the password 'infected'"
    assert problem(TruncatedDataError()) == "is truncated"
    assert problem(CRC32IntegrityError()) == "fails its integrity check (CRC32IntegrityError)"
    assert problem(UnzipError()) == "is not a valid zip (UnzipError)"
    assert problem(zlib.error()) == "is not a valid zip (error)"


def test_wrong_password_message_names_the_position() -> None:
    data = zipcrypto_zip("t", gz(trace_text([HEADER])), password=b"nope")
    with pytest.raises(IntegrityError) as caught:
        list(iter_records(data))
    assert str(caught.value).startswith(
        "the evidence zip cannot be decrypted with the password 'infected' (after "
    )
    assert "near object 0, byte offset 0); download it again" in str(caught.value)


def test_truncated_zip_message() -> None:
    data = evidence_zip(gz(trace_text([HEADER, REC])))
    cut = data[: len(data) // 2]
    with pytest.raises((IntegrityError, TraceFormatError)) as caught:
        list(iter_records(cut))
    assert isinstance(caught.value, IntegrityError)
    assert f"(after {len(cut)} bytes of the zip" in str(caught.value)


# --------------------------------------------------------------------------- gzip


def test_gzip_zero_padding_and_data_after_it() -> None:
    data = trace_text([HEADER, REC])
    assert [r for r in iter_records(gz(data) + b"\0" * 10)] == [REC]
    with pytest.raises(TraceFormatError) as caught:
        list(iter_records(gz(data) + b"\0\0junk"))
    assert str(caught.value).startswith("the gzip stream holds data after its zero padding after ")


def test_leading_zero_byte_inside_a_member_is_not_padding() -> None:
    # A member's compressed bytes may start a chunk with 0: only *after* a member is it padding.
    data = gz(trace_text([HEADER, REC]))
    for cut in range(1, len(data)):
        chunks = [data[:cut], data[cut:]]
        assert list(read_objects(iter(chunks), TraceStats(), 1 << 20))[1][2] == REC


def test_multi_member_gzip_split_anywhere() -> None:
    a, b = trace_text([HEADER]), trace_text([REC, REC])
    data = gz(a) + gz(b)
    want = list(iter_records(a + b))
    for size in (1, 3, 17):
        got = list(iter_records(iter([data[i : i + size] for i in range(0, len(data), size)])))
        assert got == want


def test_gzip_output_larger_than_the_piece_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "CHUNK_BYTES", 64)
    recs = [{"path": f"/p{i}", "type": "x", "pad": "z" * 50} for i in range(50)]
    data = trace_text([HEADER, *recs])
    stats = TraceStats()
    text, _ = _text_chunks(iter([gz(data)]), stats)
    pieces = list(text)
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) <= 64
    assert stats.decompressed_bytes == len(data)


def test_truncated_gzip_message() -> None:
    data = gz(trace_text([HEADER, REC]))
    with pytest.raises(TraceFormatError) as caught:
        list(iter_records(data[:-8]))
    assert str(caught.value).startswith(
        "the gzip stream is truncated: it ends inside a member after "
        f"{len(data) - 8} compressed bytes (at object"
    )


def test_corrupt_gzip_message() -> None:
    data = bytearray(gz(trace_text([HEADER, REC] * 20)))
    data[20] ^= 0xFF
    data[21] ^= 0xFF
    with pytest.raises(TraceFormatError) as caught:
        list(iter_records(bytes(data)))
    assert str(caught.value).startswith("the gzip stream is corrupt (")


# --------------------------------------------------------------------------- JSON


def test_split_text() -> None:
    assert _split_text(b'{"a":1} {"b":2}\n', at_line_end=True) == ([(0, {"a": 1}), (8, {"b": 2})], 16, None)
    assert _split_text(b"  \n", at_line_end=True) == ([], 3, None)
    # An object cut short: incomplete, not an error.
    assert _split_text(b'{"a":1} {"b"', at_line_end=True) == ([(0, {"a": 1})], 8, None)
    assert _split_text(b'{"a":1} {"b"  \n', at_line_end=True) == ([(0, {"a": 1})], 8, None)
    # A real error before the end of the content.
    found, used, err = _split_text(b'{"a":1} {"b" 1} {}', at_line_end=True)
    assert found == [(0, {"a": 1})] and used == 8
    assert err is not None and err[1] == 13
    # Cut anywhere: every error is "incomplete".
    assert _split_text(b'{"a":1} {"b" 1} {}', at_line_end=False) == ([(0, {"a": 1})], 8, None)
    # Invalid UTF-8 found by orjson.
    found, used, err = _split_text(b'{"a":1} {"b":"\xff"}', at_line_end=True)
    assert found == [(0, {"a": 1})] and used == 8 and err is not None and err[1] == 8


def test_bad_json_and_too_big_messages() -> None:
    e = _trace._bad_json("oops", 3, 40)
    assert str(e) == "the trace is not valid JSON: oops (at object 3, byte offset 40)"
    assert (e.index, e.offset) == (3, 40)
    e = _trace._too_big(2, 7)
    assert str(e) == "an object exceeds 16 MiB or never closes (at object 2, byte offset 7)"


def test_offsets_of_indented_and_back_to_back_objects() -> None:
    data = b'{"format":"CST"}\n   {"a":1}\n{"b":2}{"c":3}\n{"d":\n4}\n'
    got = objects(data)
    assert got == [
        (0, 0, {"format": "CST"}),
        (1, 20, {"a": 1}),
        (2, 28, {"b": 2}),
        (3, 35, {"c": 3}),
        (4, 43, {"d": 4}),
    ]


@pytest.mark.parametrize("chunk", [1, 2, 5, 100])
def test_offsets_do_not_depend_on_chunking(chunk: int) -> None:
    data = b'{"format":"CST"}\n   {"a":1}\n{"b":2}{"c":3}\n{"d":\n4}\n{"e":\n\n5} {"f":6}\n[1]'
    assert objects(data, chunk) == objects(data)
    assert objects(data)[-1] == (7, len(data) - 3, [1])


def test_stats_objects_follow_the_index() -> None:
    stats = TraceStats()
    gen = _iter_objects(iter([b'{"a":1}\n{"b":2}{"c":3}\n{"d":\n4}\n{"e":5}']), stats)
    seen = []
    for index, _, _ in gen:
        seen.append((index, stats.objects))
    assert seen == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]


def test_bad_json_positions_in_each_path() -> None:
    # On a single line (fast path rejected, split finds the error).
    with pytest.raises(TraceFormatError) as caught:
        objects(b'{"format":"CST"}\n{"a":1} {"b" 1}\n')
    assert (caught.value.index, caught.value.offset) == (2, 30)
    assert str(caught.value).startswith("the trace is not valid JSON: ")
    # Inside an object spanning lines.
    with pytest.raises(TraceFormatError) as caught:
        objects(b'{"format":"CST"}\n{"a":\n1 2}\n')
    assert (caught.value.index, caught.value.offset) == (1, 25)
    # At the very end, no newline.
    with pytest.raises(TraceFormatError) as caught:
        objects(b'{"format":"CST"}\n{"a" 1}')
    assert (caught.value.index, caught.value.offset) == (1, 22)


def test_pending_object_spanning_many_lines_then_more() -> None:
    data = b'{"format":"CST"}\n{"a":\n[\n1,\n2\n]\n}{"b":\n2}\n{"c":3}\n'
    assert [(i, o) for i, o, _ in objects(data)] == [(0, 0), (1, 17), (2, 33), (3, 42)]
    assert [v for _, _, v in objects(data)][1:] == [{"a": [1, 2]}, {"b": 2}, {"c": 3}]


def test_pending_without_closing_brace_on_a_line_waits() -> None:
    data = b'{"format":"CST"}\n{"a":\n"}"\n,"b":1}\n'
    assert objects(data)[1] == (1, 17, {"a": "}", "b": 1})


def test_truncated_last_object_message() -> None:
    with pytest.raises(TraceFormatError) as caught:
        objects(b'{"format":"CST"}\n{"a":\n1')
    assert (
        str(caught.value)
        == "the trace is truncated: its last object never closes (at object 1, byte offset 17)"
    )
    with pytest.raises(TraceFormatError) as caught:
        objects(b'{"format":"CST"}\n{"a":1')
    assert (caught.value.index, caught.value.offset) == (1, 17)


def test_trailing_whitespace_is_not_an_object() -> None:
    assert len(objects(b'{"format":"CST"}\n  \n\t')) == 1


def test_long_lines_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "_LONG_LINE", 16)
    data = b'{"format":"CST"}' + b'{"a":1}' * 20 + b'{"b":\n2}\n'
    got = objects(data, 8)
    assert len(got) == 22
    assert got[1] == (1, 16, {"a": 1}) and got[20] == (20, 16 + 19 * 7, {"a": 1})
    assert got[21] == (21, 16 + 20 * 7, {"b": 2})
    assert got == objects(data)


def test_long_line_folds_a_pending_object(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "_LONG_LINE", 16)
    data = b'{"format":"CST"}\n{"a":\n' + b'"' + b"x" * 40 + b'"}' + b'{"b":2}' * 5 + b"\n"
    got = objects(data, 4)
    assert got == objects(data, 1 << 20)
    assert got[1][:2] == (1, 17) and got[1][2] == {"a": "x" * 40}
    assert got[2][:2] == (2, 17 + 6 + 43)


def test_oversized_pending_and_long_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", 32)
    monkeypatch.setattr(_trace, "_LONG_LINE", 8)
    with pytest.raises(TraceFormatError) as caught:
        objects(b'{"format":"CST"}\n{"a":\n' + b"1,\n" * 20 + b"}\n", 4)
    assert str(caught.value).startswith("an object exceeds ")
    assert (caught.value.index, caught.value.offset) == (1, 17)
    with pytest.raises(TraceFormatError) as caught:
        objects(b'{"format":"CST"}\n{"a":"' + b"y" * 100 + b'"}\n', 4)
    assert (caught.value.index, caught.value.offset) == (1, 17)


def test_pending_exactly_at_the_limit_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    obj = b'{"a":\n1}'
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", len(obj) + 1)
    assert objects(b'{"format":"CST"}\n' + obj + b"\n")[1][2] == {"a": 1}


def test_bad_gzip_inside_a_zip_reports_the_zip_problem_first() -> None:
    data = bytearray(evidence_zip(gz(trace_text([HEADER, REC] * 50))))
    data[-60] ^= 0xFF  # in the central directory: the member itself reads fine
    records = list(iter_records(bytes(data)))
    assert len(records) == 99  # 50 records and 49 more headers (the reader does not judge them)


# --------------------------------------------------------------------------- reader


def test_header_skips_empty_objects_and_counts_them() -> None:
    with open_trace(trace_text([{}, {}, HEADER, {}, REC, {"summary": {}}])) as trace:
        assert trace.header == HEADER
        assert trace.stats.skipped == 2
        assert list(trace) == [REC]
        assert trace.stats.skipped == 3 and trace.stats.records == 1
        assert trace.trailer == {"summary": {}}


def test_header_errors() -> None:
    with pytest.raises(TraceFormatError) as caught:
        open_trace(b'{}\n{"format":"X"}\n')
    assert str(caught.value) == (
        "the first object is not a CST header (its format is not 'CST') (at object 1, byte offset 3)"
    )
    with pytest.raises(TraceFormatError) as caught:
        open_trace(b"{}\n[1]\n")
    assert str(caught.value) == "a top-level value is not a JSON object (at object 1, byte offset 3)"
    with pytest.raises(TraceFormatError) as caught:
        open_trace(b"{}\n")
    assert str(caught.value) == "the trace is empty: it has no header (at object 0, byte offset 0)"


def test_record_that_is_not_an_object() -> None:
    with open_trace(trace_text([HEADER]) + b"[1]\n") as trace, pytest.raises(TraceFormatError) as caught:
        list(trace)
    assert (
        str(caught.value)
        == f"a top-level value is not a JSON object (at object 1, byte offset {len(trace_text([HEADER]))})"
    )


def test_trailer_and_record_kinds() -> None:
    assert is_trailer({"summary": 1})
    assert not is_trailer({"summary": 1, "path": "/x"})
    assert not is_trailer({"path": "/x"})
    with open_trace(trace_text([HEADER, {"summary": 1, "path": "/p"}])) as trace:
        assert list(trace) == [{"summary": 1, "path": "/p"}] and trace.trailer is None


def test_header_failure_closes_the_source(tmp_path) -> None:  # type: ignore[no-untyped-def]
    closed = []

    class Src(io.BytesIO):
        def close(self) -> None:
            closed.append(True)
            super().close()

    p = tmp_path / "t"
    p.write_bytes(b"[1]\n")
    with pytest.raises(TraceFormatError):
        open_trace(p)
    reader = open_trace(trace_text([HEADER, REC]), chunk_size=3)
    reader.close()
    assert list(reader) == []


def test_chunk_size_is_passed_on() -> None:
    data = trace_text([HEADER, REC])
    calls: list[int] = []

    class Src:
        def __init__(self) -> None:
            self.buf = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            calls.append(size)
            return self.buf.read(size)

    assert list(iter_records(Src(), chunk_size=5)) == [REC]
    assert set(calls) == {5}
    calls.clear()
    with open_trace(Src(), chunk_size=7) as trace:
        list(trace)
    assert set(calls) == {7}
    calls.clear()
    with open_trace(Src()) as trace:
        list(trace)
    assert set(calls) == {CHUNK_BYTES}


def test_context_manager_closes() -> None:
    with open_trace(trace_text([HEADER, REC, REC])) as trace:
        assert trace.__enter__() is trace
        next(iter(trace))
    assert list(trace) == []


# --------------------------------------------------------------------------- value parsers


def test_parse_time() -> None:
    want = datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time(1_793_491_200) == want
    assert parse_time(1_793_491_200.0) == want
    assert parse_time(1_793_491_200_000) == want
    assert parse_time(100_000_000_000) == datetime.fromtimestamp(100_000_000_000, UTC)
    assert parse_time(100_000_000_001) == datetime.fromtimestamp(100_000_000.001, UTC)
    assert parse_time("2026-11-01T00:00:00Z") == want
    assert parse_time("2026-11-01t01:00:00+01:00") == want
    assert parse_time("2026-11-01T01:00:00+01:00").tzinfo == UTC
    naive = datetime(2026, 11, 1)
    assert parse_time(naive) == want
    aware = datetime(2026, 11, 1, 1, tzinfo=UTC)
    assert parse_time(aware) is aware


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "a boolean is not a time"),
        ("2026-11-01T00:00:00", "'2026-11-01T00:00:00' has no time zone"),
        ("2026-11-01", "'2026-11-01' is not an RFC 3339 time"),
        (None, "None is not an RFC 3339 time"),
    ],
)
def test_parse_time_errors(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        parse_time(value)


def test_parse_bigint() -> None:
    assert parse_bigint(7) == 7
    assert parse_bigint("65537") == 65537
    assert parse_bigint("0x10001") == 65537
    assert parse_bigint("0X1f") == 31
    for bad in (True, "", "12a", "-5", 1.5, None, "0xZZ"):
        with pytest.raises(ValueError, match=r"is not a decimal or 0x-hex integer|invalid literal"):
            parse_bigint(bad)
    with pytest.raises(ValueError, match=r"^'x1' is not a decimal or 0x-hex integer$"):
        parse_bigint("x1")
    with pytest.raises(ValueError, match=r"^False is not a decimal or 0x-hex integer$"):
        parse_bigint(False)


def test_decode_der() -> None:
    assert decode_der("3000") == b"0\x00"
    assert decode_der("MAA=") == b"0\x00"
    assert decode_der("ABCD") == bytes.fromhex("abcd")
    assert decode_der("abcdef") == bytes.fromhex("abcdef")
    # Hex-looking for 64 characters but not hex after: base64.
    odd = "A" * 64 + "Zz=="
    assert decode_der(odd) == __import__("base64").b64decode(odd)
    # Odd length of hex digits: base64.
    assert decode_der("abc=") == __import__("base64").b64decode("abc=")
    with pytest.raises(ValueError, match=r"^encoded is not a non-empty string$"):
        decode_der("")
    with pytest.raises(ValueError, match=r"^encoded is not a non-empty string$"):
        decode_der(12)
    with pytest.raises(ValueError, match=r"^encoded is neither base64 nor hex \("):
        decode_der("!!!")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13, 64, 1000])
def test_highly_compressed_gzip_in_small_chunks_flushes_everything(
    monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    # A few input bytes may leave more than one output piece buffered inside zlib.
    monkeypatch.setattr(_trace, "CHUNK_BYTES", 64)
    data = b"{}\n" * 5000
    packed = gz(data)
    stats = TraceStats()
    text, _ = _text_chunks(iter([packed[i : i + size] for i in range(0, len(packed), size)]), stats)
    pieces = list(text)
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) == 64


def test_zip_pieces_follow_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "CHUNK_BYTES", 16)
    data = trace_text([HEADER, REC] * 20)
    text, _ = _text_chunks(iter([zipcrypto_zip("t", data, deflate=True)]), TraceStats())
    pieces = list(text)
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) <= 16


def test_second_member_with_a_name_that_is_not_utf8() -> None:
    one = zipcrypto_zip("a.cst", trace_text([HEADER]))
    two = zipcrypto_zip("ab", trace_text([HEADER]))
    local1 = one[: one.index(b"PK\x01\x02")]
    local2 = two[: two.index(b"PK\x01\x02")]
    local2 = local2[:30] + b"\xff\xfe" + local2[32:]
    with pytest.raises(IntegrityError) as caught:
        list(iter_records(local1 + local2 + b"PK\x05\x06" + b"\x00" * 18))
    assert "('\ufffd\ufffd' is the second)" in str(caught.value)


def test_data_after_padding_is_refused_whatever_it_is() -> None:
    data = trace_text([HEADER, REC])
    for junk in (b"XX", b"X", b"\0X"):
        with pytest.raises(TraceFormatError, match="holds data after its zero padding"):
            list(iter_records(gz(data) + b"\0\0" + junk))


def test_padding_then_another_chunk() -> None:
    data = trace_text([HEADER, REC])
    with pytest.raises(TraceFormatError, match=r"^the gzip stream is corrupt \("):
        list(iter_records(iter([gz(data) + b"\0\0", b"junk"])))
    assert list(iter_records(iter([gz(data) + b"\0", b"\0\0"]))) == [REC]


def test_a_zlib_stream_after_a_gzip_member_is_corrupt() -> None:
    data = trace_text([HEADER, REC])
    with pytest.raises(TraceFormatError, match=r"^the gzip stream is corrupt \("):
        list(iter_records(gz(data) + zlib.compress(trace_text([REC]))))


def test_split_text_names_the_utf8_problem() -> None:
    _, _, err = _split_text(b'{"b":"\xff"}', at_line_end=True)
    assert err is not None and "UTF-8" in err[0]


def test_an_empty_source_has_no_header() -> None:
    with pytest.raises(TraceFormatError, match=r"^the trace is empty: it has no header"):
        open_trace(b"")
    with pytest.raises(TraceFormatError, match=r"^the trace is empty: it has no header"):
        open_trace(iter([]))


def test_pending_object_size_counts_each_line_and_its_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b'{"format":"CST"}\n{"a":\n[\n1\n]}\n'
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", 9)  # '{"a":' 5, then "[\n" 2 and "1\n" 2: 9
    assert objects(data)[1][2] == {"a": [1]}
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", 8)
    with pytest.raises(TraceFormatError, match="exceeds"):
        objects(data)


def test_a_closed_multi_line_object_frees_its_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", 64)
    data = b'{"format":"CST"}\n{"a":\n1}\n' + b'{"path":"/x","type":"t"}\n' * 20
    assert len(objects(data)) == 22


def test_bad_json_in_a_multi_line_object_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", 64)
    data = b'{"format":"CST"}\n{"a":\n1 2}\n' + b'{"path":"/x","type":"t"}\n' * 20
    with pytest.raises(TraceFormatError) as caught:
        objects(data)
    assert str(caught.value).startswith("the trace is not valid JSON: ")
    assert (caught.value.index, caught.value.offset) == (1, 25)


def test_parse_time_answers_in_the_utc_zone_object() -> None:
    assert parse_time("2026-11-01T01:00:00+01:00").tzinfo is UTC


def test_hex_with_spaces_is_not_der() -> None:
    with pytest.raises(ValueError, match="neither base64 nor hex"):
        decode_der("ab  cd")


@pytest.mark.parametrize(
    "data",
    [
        b'{"format":"CST"}\n{"a":\n1 2}\n',  # inside an object spanning lines
        b'{"format":"CST"}\n{"a":1} {"b" 2}\n',  # on one line holding several objects
        b'{"format":"CST"}\n{"a":1} {"b" 2}',  # at the very end
    ],
)
def test_bad_json_message_is_the_decoders(data: bytes) -> None:
    with pytest.raises(TraceFormatError) as caught:
        objects(data)
    assert re.match(
        r"the trace is not valid JSON: Expecting '[,:]' delimiter \(at object ", str(caught.value)
    )


def pulls_when_yielded(chunks: list[bytes]) -> list[tuple[int, object]]:
    """Each value with the number of chunks read when it came out: the reader must not read ahead."""
    pulled = [0]

    def source():  # type: ignore[no-untyped-def]
        for chunk in chunks:
            pulled[0] += 1
            yield chunk

    return [(pulled[0], value) for _, _, value in _iter_objects(source(), TraceStats())]


def test_objects_come_out_as_soon_as_their_line_ends() -> None:
    got = pulls_when_yielded([b'{"a":\n1}\n', b"[1]\n", b"[2]\n"])
    assert got == [(1, {"a": 1}), (2, [1]), (3, [2])]
    got = pulls_when_yielded([b'{"a":1} {"b":2}\n', b"[1]\n", b"[2]\n"])
    assert got == [(1, {"a": 1}), (1, {"b": 2}), (2, [1]), (3, [2])]


def test_bad_json_on_a_line_is_raised_before_reading_on() -> None:
    pulled = [0]

    def source():  # type: ignore[no-untyped-def]
        for chunk in (b'{"a":1} {"b" 2}\n', b'{"c":3}\n'):
            pulled[0] += 1
            yield chunk

    with pytest.raises(TraceFormatError):
        list(_iter_objects(source(), TraceStats()))
    assert pulled[0] == 1


def test_a_pending_object_size_starts_at_its_own_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b'{"format":"CST"}\n{"a":1} {"b":\n[\n2]}\n'
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", 7)  # '{"b":' 5, then "[\n" 2
    assert [v for _, _, v in objects(data)][1:] == [{"a": 1}, {"b": [2]}]


def test_a_bare_one_character_value() -> None:
    assert objects(b'{"format":"CST"}\n1\n')[1] == (1, 17, 1)


def test_a_long_line_cut_inside_a_string_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "_LONG_LINE", 16)
    data = b'{"format":"CST"}\n{"a":"' + b"x" * 40 + b'"}{"b":1}\n'
    assert [v for _, _, v in objects(data, 8)][1:] == [{"a": "x" * 40}, {"b": 1}]


def test_stats_objects_on_long_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "_LONG_LINE", 16)
    stats = TraceStats()
    data = b'{"a":1}' * 10
    seen = [
        (index, stats.objects)
        for index, _, _ in _iter_objects(iter([data[i : i + 8] for i in range(0, 70, 8)]), stats)
    ]
    assert seen == [(i, i + 1) for i in range(10)]


def test_a_long_tail_exactly_at_the_limit_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace, "_LONG_LINE", 8)
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", 16)
    data = b'{"a":"xxxxxxxxxx"}'
    chunks = [data[i : i + 4] for i in range(0, len(data), 4)]
    assert [v for _, _, v in _iter_objects(iter(chunks), TraceStats())] == [{"a": "xxxxxxxxxx"}]
    monkeypatch.setattr(_trace, "MAX_OBJECT_BYTES", 15)
    with pytest.raises(TraceFormatError, match="exceeds"):
        list(_iter_objects(iter(chunks), TraceStats()))


def test_truncation_offset_after_complete_objects() -> None:
    with pytest.raises(TraceFormatError) as caught:
        objects(b'{"format":"CST"}\n{"b":2} {"c":')
    assert (caught.value.index, caught.value.offset) == (2, 25)
