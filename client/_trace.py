"""Streaming reader for CST traces: evidence zip → gzip → concatenated JSON.

A scanner trace reaches 4 GB and 10^6 records, and it arrives as a download, so nothing here ever holds
the whole trace: bytes flow through three small layers, each working on one chunk at a time.

* **zip** (auto-detected by its ``PK`` magic): the Threat Response evidence zip, one member encrypted
  with legacy ZipCrypto (password ``infected``). ``stream_unzip`` decrypts it in compiled code.
* **gzip** (``1f 8b`` magic, else the text is plain): ``zlib`` with a cap on each output piece, one
  decompressor per member because real traces may be multi-member.
* **JSON**: objects one after another. The fast path is ``orjson`` on each line (the shape real traces
  have); a line it rejects falls back to ``json.JSONDecoder.raw_decode``, which splits lines holding
  several objects and joins objects spanning lines.

Every error names the object index (0 is the header; ``{}`` objects count) and the byte offset in the
decompressed text. A corrupt stream raises :class:`TraceFormatError` (zip layer: :class:`IntegrityError`);
content that parses but breaks the format is the validator's business (:mod:`client._validate`, which
reads through :func:`read_objects`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import os
import re
import struct
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, cast

import orjson
from stream_unzip import (
    IncorrectPasswordError,
    MissingPasswordError,
    TruncatedDataError,
    UnzipError,
    stream_unzip,
)
from stream_unzip import IntegrityError as _ZipIntegrityError

from client._errors import IntegrityError, TraceFormatError

EVIDENCE_PASSWORD = b"infected"
CHUNK_BYTES = 1 << 20  # read size, and the cap on each decompressed piece: bounds memory per layer
MAX_OBJECT_BYTES = 16 << 20  # a record is a few KB; anything bigger is a broken or hostile trace
_LONG_LINE = 1 << 20  # a partial line this long means objects without newlines: split them early

Record = dict[str, Any]


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


Source = str | os.PathLike[str] | bytes | bytearray | memoryview | _Readable | Iterable[bytes]
"""A path, the bytes themselves, a binary file object, or an iterable of byte chunks (a download)."""


@dataclass(slots=True)
class TraceStats:
    """Counters that grow while a trace is read (also used to place errors)."""

    compressed_bytes: int = 0  # bytes read from the source (zip or gzip or plain)
    decompressed_bytes: int = 0  # bytes of JSON text produced so far
    objects: int = 0  # top-level JSON objects produced so far, header and ``{}`` included
    records: int = 0  # artifact records yielded
    skipped: int = 0  # ``{}`` objects skipped


# --- bytes in ------------------------------------------------------------------------------------------


def _source_chunks(source: Source, stats: TraceStats, chunk_size: int) -> Iterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), chunk_size):
            chunk = bytes(view[start : start + chunk_size])
            stats.compressed_bytes += len(chunk)
            yield chunk
    elif isinstance(source, str | os.PathLike):
        with open(source, "rb") as f:
            yield from _read_chunks(f, stats, chunk_size)
    elif hasattr(source, "read"):
        yield from _read_chunks(cast(_Readable, source), stats, chunk_size)
    else:
        for chunk in source:
            if chunk:
                stats.compressed_bytes += len(chunk)
                yield bytes(chunk)


def _read_chunks(f: _Readable, stats: TraceStats, chunk_size: int) -> Iterator[bytes]:
    while chunk := f.read(chunk_size):
        stats.compressed_bytes += len(chunk)
        yield chunk


def _peek(chunks: Iterator[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``size`` bytes (fewer at the end), and an iterator that still yields them."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= size:
            break
    return head[:size], itertools.chain((head,) if head else (), chunks)


def _text_chunks(
    chunks: Iterator[bytes], stats: TraceStats
) -> tuple[Iterator[bytes], Iterator[bytes] | None]:
    """Peel the zip and gzip layers, whichever are present (detected by magic bytes).

    Returns the text chunks and, for a zip, the zip layer itself (see :func:`read_objects`).
    """
    head, chunks = _peek(chunks, 4)
    unzipped = None
    if head[:2] == b"PK" and head[2:4] in (b"\x03\x04", b"\x05\x06"):
        unzipped = _unzip(chunks, stats)
        head, chunks = _peek(unzipped, 2)
    if head[:2] == b"\x1f\x8b":
        return _gunzip(chunks, stats), unzipped
    return _plain(chunks, stats), unzipped


def _unzip(chunks: Iterator[bytes], stats: TraceStats) -> Iterator[bytes]:
    members = 0
    try:
        for name, _size, member in stream_unzip(chunks, password=EVIDENCE_PASSWORD, chunk_size=CHUNK_BYTES):
            members += 1
            if members > 1:
                raise IntegrityError(
                    f"the evidence zip holds more than one file ({name.decode(errors='replace')!r} is the "
                    "second); expected only the trace"
                )
            yield from member
    except (UnzipError, struct.error, zlib.error) as exc:
        raise IntegrityError(
            f"the evidence zip {_zip_problem(exc)} (after {stats.compressed_bytes} bytes of the zip, "
            f"near object {stats.objects}, byte offset {stats.decompressed_bytes}); download it again"
        ) from exc
    if members == 0:
        raise IntegrityError("the evidence zip holds no file; expected the gzipped trace")


def _zip_problem(exc: Exception) -> str:
    if isinstance(exc, IncorrectPasswordError | MissingPasswordError):
        return "cannot be decrypted with the password 'infected'"
    if isinstance(exc, TruncatedDataError):
        return "is truncated"
    if isinstance(exc, _ZipIntegrityError):
        return f"fails its integrity check ({type(exc).__name__})"
    return f"is not a valid zip ({type(exc).__name__})"


def _plain(chunks: Iterator[bytes], stats: TraceStats) -> Iterator[bytes]:
    for chunk in chunks:
        stats.decompressed_bytes += len(chunk)
        yield chunk


def _gunzip(chunks: Iterator[bytes], stats: TraceStats) -> Iterator[bytes]:
    limit = CHUNK_BYTES
    d = zlib.decompressobj(wbits=31)
    started = False  # the current member has been fed some input
    members = 0
    for data in chunks:
        while data:
            if not started and members and data[:1] == b"\0":
                # Like gzip(1), accept zero padding after the last member (tape-style block padding).
                if data.strip(b"\0"):
                    raise _gzip_error("holds data after its zero padding", stats)
                break
            started = True
            while True:
                try:
                    out = d.decompress(data, limit)
                except zlib.error as exc:
                    raise _gzip_error(f"is corrupt ({exc})", stats) from exc
                if out:
                    stats.decompressed_bytes += len(out)
                    yield out
                if d.eof:
                    data = d.unused_data
                    d = zlib.decompressobj(wbits=31)
                    started = False
                    members += 1
                    break
                data = d.unconsumed_tail
                # A full piece may leave output buffered inside zlib even when all input is consumed.
                if not data and len(out) < limit:
                    break
    if started:
        raise _gzip_error("is truncated: it ends inside a member", stats)


def _gzip_error(problem: str, stats: TraceStats) -> TraceFormatError:
    return TraceFormatError(
        f"the gzip stream {problem} after {stats.compressed_bytes} compressed bytes",
        index=stats.objects,
        offset=stats.decompressed_bytes,
    )


# --- JSON objects --------------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


def _split_text(
    text: bytes, *, at_line_end: bool
) -> tuple[list[tuple[int, Any]], int, tuple[str, int] | None]:
    """Split the complete objects off ``text``.

    Returns ``(objects with their relative offsets, bytes consumed, error)``. When ``text`` ends at a
    line end (or the end of the stream) a parse error that runs into the end means "incomplete" (JSON
    strings and literals cannot span lines) and any other is a real error; when the text was cut
    anywhere (a very long line), every error counts as incomplete and is judged later at a line end.
    """
    # latin-1 maps each byte to one character, so positions are byte offsets; raw_decode only finds
    # the object's extent, and orjson then parses the exact bytes with strict UTF-8.
    s = text.decode("latin-1")
    end_of_content = len(s.rstrip(" \t\n\r"))
    found: list[tuple[int, Any]] = []
    pos = 0
    while True:
        pos = _WS.match(s, pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string
        if pos >= len(s):
            return found, len(s), None
        try:
            _, end = _DECODER.raw_decode(s, pos)
        except json.JSONDecodeError as exc:
            if not at_line_end or exc.pos >= end_of_content:
                return found, pos, None
            return found, pos, (exc.msg, exc.pos)
        try:
            found.append((pos, orjson.loads(text[pos:end])))
        except orjson.JSONDecodeError as exc:
            return found, pos, (str(exc), pos)
        pos = end


def _bad_json(message: str, index: int, offset: int) -> TraceFormatError:
    return TraceFormatError(f"the trace is not valid JSON: {message}", index=index, offset=offset)


def _too_big(index: int, offset: int) -> TraceFormatError:
    return TraceFormatError(
        f"an object exceeds {MAX_OBJECT_BYTES >> 20} MiB or never closes", index=index, offset=offset
    )


def _iter_objects(chunks: Iterable[bytes], stats: TraceStats) -> Generator[tuple[int, int, Any], None, None]:
    """Yield ``(index, offset, value)`` for each top-level JSON value of the decompressed text."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    index = 0
    offset = 0  # absolute offset of the start of ``tail``
    tail = b""  # the current, unfinished line
    pending: list[bytes] | None = None  # lines of an object that started earlier and has not closed
    pending_off = pending_size = 0
    long_at = _LONG_LINE

    for chunk in chunks:
        data = tail + chunk if tail else chunk
        lines = data.split(b"\n")
        tail = lines.pop()
        if lines:
            long_at = _LONG_LINE
        for line in lines:
            if pending is not None:
                pending.append(line)
                pending_size += len(line) + 1
                if b"}" in line:  # an object can only close on a line holding "}"
                    text = b"\n".join(pending)
                    found, used, err = _split_text(text, at_line_end=True)
                    for rel, value in found:
                        stats.objects = index + 1
                        yield index, pending_off + rel, value
                        index += 1
                    if err:
                        raise _bad_json(err[0], index, pending_off + err[1])
                    pending_off += used
                    pending = [text[used:]] if used < len(text) else None
                    pending_size = len(text) - used
                if pending_size > MAX_OBJECT_BYTES:
                    raise _too_big(index, pending_off)
            elif line:
                try:
                    value = loads(line)
                except decode_error:
                    found, used, err = _split_text(line, at_line_end=True)
                    for rel, value in found:
                        stats.objects = index + 1
                        yield index, offset + rel, value
                        index += 1
                    if err:
                        raise _bad_json(err[0], index, offset + err[1]) from None
                    if used < len(line):
                        pending, pending_off, pending_size = [line[used:]], offset + used, len(line) - used
                else:
                    stats.objects = index + 1
                    # point at the "{", not at the indentation orjson skipped
                    yield index, offset if line[0] == 123 else offset + len(line) - len(line.lstrip()), value
                    index += 1
            offset += len(line) + 1
        if len(tail) >= long_at:
            if pending is not None:  # fold the open object into the long line: it continues there
                tail = b"\n".join([*pending, tail])
                offset, pending = pending_off, None
            found, used, _ = _split_text(tail, at_line_end=False)
            for rel, value in found:
                stats.objects = index + 1
                yield index, offset + rel, value
                index += 1
            tail = tail[used:]
            offset += used
            if len(tail) > MAX_OBJECT_BYTES:
                raise _too_big(index, offset)
            long_at = max(_LONG_LINE, 2 * len(tail))  # re-split only after real growth: no quadratic rescans

    if pending is not None:
        text, base = b"\n".join([*pending, tail]), pending_off
    else:
        text, base = tail, offset
    if text.strip():
        found, used, err = _split_text(text, at_line_end=True)
        for rel, value in found:
            stats.objects = index + 1
            yield index, base + rel, value
            index += 1
        if err:
            raise _bad_json(err[0], index, base + err[1])
        if used < len(text):
            raise TraceFormatError(
                "the trace is truncated: its last object never closes", index=index, offset=base + used
            )


def read_objects(
    source: Source, stats: TraceStats, chunk_size: int
) -> Generator[tuple[int, int, Any], None, None]:
    """Yield ``(index, offset, value)`` for every top-level JSON value of a trace, ``{}`` included.

    The layer under :class:`TraceReader` and the validator: no value is checked here, only parsed.
    ``stats`` grows as the stream is read; close the generator to release the source.
    """
    text, unzipped = _text_chunks(_source_chunks(source, stats, chunk_size), stats)
    try:
        yield from _iter_objects(text, stats)
    except TraceFormatError:
        if unzipped is not None:
            # A zip's CRC is checked only after its member: a damaged download first shows up as bad
            # gzip or JSON. Read the zip to its end so the root cause (IntegrityError) wins if it is one.
            for _ in unzipped:
                pass
        raise


# --- records -------------------------------------------------------------------------------------------


def is_trailer(obj: Record) -> bool:
    """A summary trailer (diff traces): ``summary`` and no ``path``; it is not a record."""
    return "summary" in obj and "path" not in obj


class TraceReader:
    """An open trace: ``.header``, then iteration over the artifact records, with ``.stats``.

    ``{}`` objects are skipped; a summary trailer (diff traces) is kept in ``.trailer``, not yielded.
    Iterating twice continues where the first loop stopped: the trace is a stream.
    """

    def __init__(self, source: Source, *, chunk_size: int = CHUNK_BYTES) -> None:
        self.stats = TraceStats()
        self.trailer: Record | None = None
        self._objects = read_objects(source, self.stats, chunk_size)
        try:
            self.header: Record = self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> Record:
        for index, offset, value in self._objects:
            if not isinstance(value, dict):
                raise TraceFormatError("a top-level value is not a JSON object", index=index, offset=offset)
            if not value:
                self.stats.skipped += 1
                continue
            if value.get("format") != "CST":
                raise TraceFormatError(
                    "the first object is not a CST header (its format is not 'CST')",
                    index=index,
                    offset=offset,
                )
            return value
        raise TraceFormatError("the trace is empty: it has no header", index=0, offset=0)

    def positioned(self) -> Iterator[tuple[int, int, Record]]:
        """Yield ``(index, offset, record)``: for callers that report where a record sits."""
        stats = self.stats
        for index, offset, value in self._objects:
            if type(value) is not dict:
                raise TraceFormatError("a top-level value is not a JSON object", index=index, offset=offset)
            if not value:
                stats.skipped += 1
            elif is_trailer(value):
                self.trailer = value
            else:
                stats.records += 1
                yield index, offset, value

    def __iter__(self) -> Iterator[Record]:
        for _, _, record in self.positioned():
            yield record

    def close(self) -> None:
        """Stop reading and release the source (closes a file opened from a path)."""
        self._objects.close()

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


def open_trace(source: Source, *, chunk_size: int = CHUNK_BYTES) -> TraceReader:
    """Open a trace (zip, gzip or plain; path, bytes, file object or chunk iterable) and read its header.

    >>> with open_trace("host.zip") as trace:  # doctest: +SKIP
    ...     print(trace.header["api_specific"]["hostname"], sum(1 for _ in trace), trace.stats)

    Raises ``OSError`` for a path that cannot be opened, :class:`TraceFormatError` when the stream does
    not parse (with object index and byte offset) and :class:`IntegrityError` for a bad evidence zip.
    """
    return TraceReader(source, chunk_size=chunk_size)


def iter_records(source: Source, *, chunk_size: int = CHUNK_BYTES) -> Iterator[Record]:
    """Yield the artifact records of a trace, header and ``{}`` skipped.

    >>> types = collections.Counter(r["type"] for r in iter_records(download_chunks))  # doctest: +SKIP
    """
    with open_trace(source, chunk_size=chunk_size) as trace:
        yield from trace


# --- shared value parsing ------------------------------------------------------------------------------


def parse_time(value: object) -> datetime:
    """An aware UTC datetime from epoch seconds, epoch ms (> 1e11) or an RFC 3339 string.

    >>> parse_time("2026-11-01T00:00:00Z") == parse_time(1_793_491_200) == parse_time(1_793_491_200_000)
    True
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and "T" in value.upper():
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone")
        return parsed.astimezone(UTC)
    raise ValueError(f"{value!r} is not an RFC 3339 time")


def parse_bigint(value: object) -> int:
    """A big integer from a decimal string (the format's choice) or ``0x`` hex; ints pass through.

    >>> parse_bigint("65537") == parse_bigint("0x10001") == 65537
    True
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value:
        if value[:2].lower() == "0x":
            return int(value[2:], 16)
        if value.isdigit():
            return int(value)
    raise ValueError(f"{value!r} is not a decimal or 0x-hex integer")


def decode_der(encoded: object) -> bytes:
    """The DER bytes of ``details.encoded``: base64 (the format's choice) or hex.

    >>> decode_der("MAA=") == decode_der("3000") == b"0\\x00"
    True
    """
    if not isinstance(encoded, str) or not encoded:
        raise ValueError("encoded is not a non-empty string")
    if len(encoded) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in encoded[:64]):
        try:  # a DER certificate starts 30 82: base64 of it starts "MI", so hex is unambiguous
            return bytes.fromhex(encoded)
        except ValueError:
            pass
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"encoded is neither base64 nor hex ({exc})") from exc


__all__ = [
    "CHUNK_BYTES",
    "EVIDENCE_PASSWORD",
    "MAX_OBJECT_BYTES",
    "Record",
    "Source",
    "TraceReader",
    "TraceStats",
    "decode_der",
    "is_trailer",
    "iter_records",
    "open_trace",
    "parse_bigint",
    "parse_time",
    "read_objects",
]
