"""Streaming reader and validator for CST traces: evidence zip → gzip → concatenated JSON.

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
content that parses but breaks the format is reported by :func:`validate_trace` as :class:`TraceIssue`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import os
import re
import struct
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from types import TracebackType
from typing import Any, Protocol, TypeGuard, cast

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


@dataclass(frozen=True, slots=True)
class TraceIssue:
    """One way a trace breaks the format: which object, where, and what is wrong."""

    index: int
    offset: int
    message: str

    def __str__(self) -> str:
        return f"object {self.index} at byte {self.offset}: {self.message}"


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

    Returns the text chunks and, for a zip, the zip layer itself (see :func:`_objects`).
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


def _objects(
    source: Source, stats: TraceStats, chunk_size: int
) -> Generator[tuple[int, int, Any], None, None]:
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


def _is_trailer(obj: Record) -> bool:
    return "summary" in obj and "path" not in obj


class TraceReader:
    """An open trace: ``.header``, then iteration over the artifact records, with ``.stats``.

    ``{}`` objects are skipped; a summary trailer (diff traces) is kept in ``.trailer``, not yielded.
    Iterating twice continues where the first loop stopped: the trace is a stream.
    """

    def __init__(self, source: Source, *, chunk_size: int = CHUNK_BYTES) -> None:
        self.stats = TraceStats()
        self.trailer: Record | None = None
        self._objects = _objects(source, self.stats, chunk_size)
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
            elif _is_trailer(value):
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


# --- validation ----------------------------------------------------------------------------------------

_FINGERPRINT_KINDS = {"cert-der", "spki", "openpgp-v4", "blob"}
_KEY_FIELDS = {"rsa": ("n", "e"), "dsa": ("p", "q", "g", "y"), "ec": ("x", "y")}
_HEX = re.compile(r"[0-9a-fA-F]+")


def validate_trace(
    source: Source, *, max_errors: int = 20, chunk_size: int = CHUNK_BYTES
) -> list[TraceIssue]:
    """Check a trace against the CST format (spec sections 2-3, docs/cst-format.md); ``[]`` means valid.

    Stops after ``max_errors`` issues. A stream that does not parse raises instead (TraceFormatError,
    or IntegrityError for the zip layer), because nothing after that point can be checked.

    >>> for issue in validate_trace("host.cst.gz"):  # doctest: +SKIP
    ...     print(issue)  # object 12 at byte 3456: size_bytes must be an int >= 0
    """
    stats = TraceStats()
    checker = _Checker()
    issues: list[TraceIssue] = []
    objects = _objects(source, stats, chunk_size)
    try:
        for index, offset, value in objects:
            for message in checker.check(value):
                issues.append(TraceIssue(index, offset, message))
                if len(issues) >= max_errors:
                    return issues
        issues.extend(TraceIssue(stats.objects, stats.decompressed_bytes, m) for m in checker.finish())
    finally:
        objects.close()
    return issues[:max_errors]


class _Checker:
    """Format rules applied object by object; keeps the little state the trailer check needs."""

    def __init__(self) -> None:
        # Trust-store roots repeat across a trace: parse each DER once (per validation, not globally).
        self.cert_view = lru_cache(maxsize=4096)(_cert_view)
        self.header: Record | None = None
        self.records = 0
        self.ops: dict[str, int] = {"added": 0, "removed": 0, "modified": 0}
        self.trailer: Record | None = None

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, dict):
            return ["a top-level value is not a JSON object"]
        if not value:
            return []
        if self.trailer is not None:
            return ["an object follows the summary trailer, which must be last"]
        if self.header is None:
            self.header = value
            if value.get("format") != "CST" and "path" in value:
                return ["the first object must be the CST header, found a record", *self._record(value)]
            return self._header(value)
        if _is_trailer(value):
            self.trailer = value
            return self._trailer(value)
        self.records += 1
        return self._record(value)

    def finish(self) -> list[str]:
        return ["the trace is empty: it has no header"] if self.header is None else []

    def _header(self, h: Record) -> list[str]:
        problems = []
        if h.get("format") != "CST":
            problems.append("header: format must be 'CST'")
        for name in ("version", "api"):
            if not isinstance(h.get(name), str):
                problems.append(f"header: {name} must be a string")
        if "tags" in h and not isinstance(h["tags"], list):
            problems.append("header: tags must be a list")
        if "anonymized" in h and not isinstance(h["anonymized"], bool):
            problems.append("header: anonymized must be a boolean")
        spec = h.get("api_specific")
        if not isinstance(spec, dict):
            return [*problems, "header: api_specific must be an object"]
        if "scan_time" in spec:
            problems += _time_problem("header: api_specific.scan_time", spec["scan_time"], strings_only=True)
        mode = spec.get("scan_mode", "full")
        if mode not in ("full", "diff"):
            problems.append("header: api_specific.scan_mode must be 'full' or 'diff'")
        if mode == "diff":
            if not isinstance(spec.get("baseline_scan_id"), str):
                problems.append("header: a diff trace needs api_specific.baseline_scan_id (string)")
            count = spec.get("baseline_record_count")
            if "baseline_record_count" in spec and not (_is_int(count) and count >= 0):
                problems.append("header: api_specific.baseline_record_count must be an int >= 0")
        return problems

    def _record(self, r: Record) -> list[str]:
        problems: list[str] = []
        op = r.get("op")
        if op is not None:
            if op not in self.ops:
                return ["op must be 'added', 'removed' or 'modified'"]
            self.ops[op] += 1
        for name in ("path", "type"):
            if not isinstance(r.get(name), str) or not r[name]:
                problems.append(f"{name} must be a non-empty string")
        if "fingerprint" in r or op == "removed":
            problems += _fingerprint_problems(r.get("fingerprint"))
        if op == "removed":  # a removal carries only its identity
            return problems
        if op == "modified" and not isinstance(r.get("previous"), dict):
            problems.append("a modified record needs a previous object")
        size = r.get("size_bytes")
        if not (_is_int(size) and size >= 0):
            problems.append("size_bytes must be an int >= 0")
        for name in ("encrypted", "public"):
            if not isinstance(r.get(name), bool):
                problems.append(f"{name} must be a boolean")
        problems += _time_problem("last_modified", r.get("last_modified"), strings_only=False)
        if "key" in r:
            problems += _key_problems("key", r["key"])
        details = r.get("details")
        if not isinstance(details, dict):
            return [*problems, "details must be an object"]
        pgp = details.get("key")
        if isinstance(pgp, dict) and isinstance(pgp.get("key"), dict):
            problems += _key_problems("details.key.key", pgp["key"], value_optional=True)
        if "encoded" in details:
            problems += _certificate_problems(details, r.get("fingerprint"), self.cert_view)
        return problems

    def _trailer(self, t: Record) -> list[str]:
        summary = t["summary"]
        if not isinstance(summary, dict):
            return ["summary trailer: summary must be an object"]
        problems = []
        for op, seen in self.ops.items():
            if op in summary and summary[op] != seen:
                problems.append(f"summary trailer: {op} says {summary[op]!r} but the trace holds {seen}")
        if "records" in summary and summary["records"] != self.records:
            problems.append(
                f"summary trailer: records says {summary['records']!r} but the trace holds {self.records}"
            )
        return problems


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _time_problem(name: str, value: object, *, strings_only: bool) -> list[str]:
    if _is_int(value) and not strings_only:
        return []
    if isinstance(value, str):
        try:
            parse_time(value)
        except ValueError:
            return [f"{name} is not an RFC 3339 time: {value!r}"]
        return []
    kinds = "an RFC 3339 string" if strings_only else "an int (epoch seconds or ms) or an RFC 3339 string"
    return [f"{name} must be {kinds}"]


def _fingerprint_problems(fp: object) -> list[str]:
    if not isinstance(fp, dict):
        return ["fingerprint must be an object with alg, kind and value"]
    problems = []
    if fp.get("alg") not in ("sha256", "openpgp-v4"):
        problems.append("fingerprint.alg must be 'sha256' or 'openpgp-v4'")
    if fp.get("kind") not in _FINGERPRINT_KINDS:
        problems.append(f"fingerprint.kind must be one of {sorted(_FINGERPRINT_KINDS)}")
    value = fp.get("value")
    want = 40 if fp.get("alg") == "openpgp-v4" else 64
    if not (isinstance(value, str) and len(value) == want and _HEX.fullmatch(value)):
        problems.append(f"fingerprint.value must be {want} hex digits")
    return problems


def _key_problems(name: str, key: object, *, value_optional: bool = False) -> list[str]:
    if not isinstance(key, dict) or not isinstance(key.get("type"), str):
        return [f"{name} must be an object with a type"]
    value = key.get("value")
    if value is None and value_optional:
        return []
    if not isinstance(value, dict):
        return [f"{name}.value must be an object"]
    problems = []
    for field in _KEY_FIELDS.get(key["type"], ()):
        try:
            parse_bigint(value.get(field))
        except ValueError:
            problems.append(f"{name}.value.{field} must be a decimal (or 0x-hex) integer string")
    if key["type"] == "ec" and not isinstance(value.get("curve"), str):
        problems.append(f"{name}.value.curve must be a string")
    return problems


# Attribute type spellings a trace may use, mapped to OIDs; unknown spellings compare as dotted OIDs.
_NAME_TYPES = {
    "cn": "2.5.4.3", "commonname": "2.5.4.3", "c": "2.5.4.6", "countryname": "2.5.4.6",
    "l": "2.5.4.7", "localityname": "2.5.4.7", "st": "2.5.4.8", "s": "2.5.4.8",
    "stateorprovincename": "2.5.4.8", "street": "2.5.4.9", "streetaddress": "2.5.4.9",
    "o": "2.5.4.10", "organizationname": "2.5.4.10", "ou": "2.5.4.11",
    "organizationalunitname": "2.5.4.11", "serialnumber": "2.5.4.5", "title": "2.5.4.12",
    "dc": "0.9.2342.19200300.100.1.25", "domaincomponent": "0.9.2342.19200300.100.1.25",
    "uid": "0.9.2342.19200300.100.1.1", "userid": "0.9.2342.19200300.100.1.1",
    "emailaddress": "1.2.840.113549.1.9.1", "email": "1.2.840.113549.1.9.1", "e": "1.2.840.113549.1.9.1",
    "sn": "2.5.4.4", "surname": "2.5.4.4", "gn": "2.5.4.42", "givenname": "2.5.4.42",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _CertView:
    """What the DER says, in the shape the trace's fields are compared against."""

    sha256: str
    version: int
    serial: int
    issuer: tuple[tuple[str, str], ...]
    subject: tuple[tuple[str, str], ...]
    not_before: datetime
    not_after: datetime
    signature_names: frozenset[str]  # lower-case names and the dotted OID of the signature algorithm
    signature: str


def _cert_view(encoded: str) -> _CertView:
    from cryptography import x509

    der = decode_der(encoded)
    cert = x509.load_der_x509_certificate(der)
    oid = cert.signature_algorithm_oid
    names = {oid.dotted_string}
    if oid._name != "Unknown OID":
        names.add(oid._name.lower())

    def rdns(name: x509.Name) -> tuple[tuple[str, str], ...]:
        return tuple((a.oid.dotted_string, str(a.value)) for a in name)

    return _CertView(
        sha256=hashlib.sha256(der).hexdigest(),
        version=cert.version.value + 1,
        serial=cert.serial_number,
        issuer=rdns(cert.issuer),
        subject=rdns(cert.subject),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        signature_names=frozenset(names),
        signature=cert.signature.hex(),
    )


def _trace_name(value: object) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            return None
        kind: str = item["type"]
        out.append((_NAME_TYPES.get(kind.lower(), kind), str(item.get("value"))))
    return tuple(out)


def _certificate_problems(
    details: Record, fingerprint: object, cert_view: Callable[[str], _CertView]
) -> list[str]:
    try:
        view = cert_view(details["encoded"]) if isinstance(details["encoded"], str) else None
    except ValueError as exc:  # cryptography raises ValueError for DER it cannot parse
        return [f"details.encoded is not a parseable DER certificate ({exc})"]
    if view is None:
        return ["details.encoded must be a base64 string"]
    problems = []
    tbs = details.get("tbs_certificate")
    if not isinstance(tbs, dict):
        problems.append("details.tbs_certificate must be an object")
        tbs = {}
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("version", lambda: str(tbs["version"]) == str(view.version)),
        ("serial", lambda: parse_bigint(tbs["serial"]) == view.serial),
        ("issuer", lambda: _trace_name(tbs["issuer"]) == view.issuer),
        ("subject", lambda: _trace_name(tbs["subject"]) == view.subject),
        ("validity.not_before", lambda: parse_time(tbs["validity"]["not_before"]) == view.not_before),
        ("validity.not_after", lambda: parse_time(tbs["validity"]["not_after"]) == view.not_after),
    ]
    for name, agrees in checks:
        try:
            ok = agrees()
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(f"tbs_certificate.{name} does not agree with the DER in details.encoded")
    algorithm = details.get("signature_algorithm")
    if not (isinstance(algorithm, dict) and str(algorithm.get("algorithm")).lower() in view.signature_names):
        problems.append("signature_algorithm does not agree with the DER in details.encoded")
    signature = details.get("signature")
    if signature is not None and (not isinstance(signature, str) or signature.lower() != view.signature):
        problems.append("signature does not agree with the DER in details.encoded")
    if (
        isinstance(fingerprint, dict)
        and fingerprint.get("kind") == "cert-der"
        and str(fingerprint.get("value")).lower() != view.sha256
    ):
        problems.append("fingerprint.value is not the SHA-256 of the certificate DER")
    return problems


__all__ = [
    "CHUNK_BYTES",
    "EVIDENCE_PASSWORD",
    "MAX_OBJECT_BYTES",
    "Record",
    "Source",
    "TraceIssue",
    "TraceReader",
    "TraceStats",
    "decode_der",
    "iter_records",
    "open_trace",
    "parse_bigint",
    "parse_time",
    "validate_trace",
]
