"""HAR 1.2 files: what ``tanium-sim record`` writes and what replay and ``conform`` read.

One entry per exchange, in the order the exchanges finished. The file is valid HAR after every entry:
the writer keeps the closing ``]}}`` at the end and writes each new entry over it, so a recording
whose proxy was killed is still readable up to its last whole exchange (:func:`read_har` also recovers
a file cut in the middle of an entry).

Bodies: text bodies (JSON, plain text) are stored inline; binary bodies inline as base64 up to
``inline_limit`` bytes. Larger bodies go to a side file named by their SHA-256 in ``<stem>.bodies/``
next to the HAR (``content._file``), or are left out (``content._omitted``) with their size and hash
(``content._sha256``): both are HAR custom fields (HAR allows fields starting with ``_``).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with HarWriter(folder / "s.har") as har:
...     har.add(Exchange("GET", "http://sim/api/v2/x", status=200, response_body=b'{"a":1}',
...                      response_headers=[("content-type", "application/json")]))
>>> [(e.method, e.path, e.status, e.response_body) for e in read_har(folder / "s.har")]
[('GET', '/api/v2/x', 200, b'{"a":1}')]
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CREATOR = {"name": "tanium-sim", "version": "0.1.0"}
INLINE_LIMIT = 1 << 20  # bodies up to 1 MiB stay inside the HAR
_HEAD = b'{"log":{"version":"1.2","creator":%s,"pages":[],"entries":[\n'
_TAIL = b"\n]}}\n"
_partials = itertools.count(1)
TEXT_TYPES = ("application/json", "text/", "application/problem+json", "application/x-www-form-urlencoded")


class HarError(ValueError):
    """A file that is not a HAR this tool can read (one sentence: which file and why)."""


@dataclass
class Exchange:
    """One request and its answer, as recorded."""

    method: str
    url: str
    status: int = 0  # 0: no answer (the upstream reset or hung)
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes | None = b""  # None: left out of the recording (too large)
    response_size: int | None = None  # None: len(response_body)
    response_sha256: str | None = None
    status_text: str = ""
    time_ms: float = 0.0
    started: float = 0.0  # epoch seconds
    comment: str = ""

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)

    def header(self, name: str, *, response: bool = True) -> str | None:
        name = name.lower()
        headers = self.response_headers if response else self.request_headers
        return next((v for k, v in headers if k.lower() == name), None)

    @property
    def mime_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip()

    @property
    def size(self) -> int:
        if self.response_size is not None:
            return self.response_size
        return len(self.response_body or b"")


def _is_text(mime: str) -> bool:
    return mime.startswith(TEXT_TYPES)


def _iso(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch or 0.0, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _headers(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs]


class HarWriter:
    """Appends exchanges to a HAR file that stays valid after each one; a context manager."""

    def __init__(
        self, path: str | Path, *, inline_limit: int = INLINE_LIMIT, side_files: bool = True
    ) -> None:
        self.path = Path(path)
        self.inline_limit = inline_limit
        self.side_files = side_files
        self.bodies = self.path.with_name(self.path.stem + ".bodies")
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        head = _HEAD % json.dumps(CREATOR, separators=(",", ":")).encode()
        os.write(self._fd, head + _TAIL)
        self._end = len(head)  # where the next entry goes (the tail follows it)

    def content(self, body: bytes | None, mime: str, size: int | None, sha256: str | None) -> dict[str, Any]:
        """The HAR ``content`` of a body: inline text, inline base64, a side file or left out."""
        if body is None:
            return {"size": size or 0, "mimeType": mime, "_omitted": True, "_sha256": sha256 or ""}
        out: dict[str, Any] = {"size": len(body), "mimeType": mime}
        if len(body) > self.inline_limit:
            digest = sha256 or hashlib.sha256(body).hexdigest()
            out["_sha256"] = digest
            if self.side_files:
                partial = self.partial_side_file()
                with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                    f.write(body)
                out.update(self.keep_side_file(partial, digest, len(body), mime))
            else:
                out["_omitted"] = True
            return out
        if _is_text(mime):
            try:
                out["text"] = body.decode("utf-8")
                return out
            except UnicodeDecodeError:
                pass
        out["text"] = base64.b64encode(body).decode()
        out["encoding"] = "base64"
        return out

    def side_file(self, digest: str) -> Path:
        """Where a streamed body with this SHA-256 goes (the proxy writes it while streaming)."""
        self.bodies.mkdir(exist_ok=True)
        return self.bodies / digest

    def partial_side_file(self) -> Path:
        """A fresh temporary name for a body being written (``.partial-*``, skipped by :func:`iter_bodies`);
        create it with mode 0600, like the HAR.

        Written under this name and renamed by :meth:`keep_side_file` once whole, so a side file named by
        a digest always holds that digest's bytes, even after a crash.
        """
        self.bodies.mkdir(exist_ok=True)
        return self.bodies / f".partial-{os.getpid()}-{next(_partials)}"

    def keep_side_file(self, partial: Path, digest: str, size: int, mime: str) -> dict[str, Any]:
        """Rename a whole body to its digest's side file; the HAR ``content`` that points at it."""
        os.replace(partial, self.side_file(digest))
        return {"size": size, "mimeType": mime, "_sha256": digest, "_file": f"{self.bodies.name}/{digest}"}

    def add(self, exchange: Exchange, *, content: dict[str, Any] | None = None) -> None:
        """Append one exchange (``content``: a ready ``response.content``, for bodies already on disk)."""
        request_mime = (exchange.header("content-type", response=False) or "").split(";")[0]
        request: dict[str, Any] = {
            "method": exchange.method,
            "url": exchange.url,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": _headers(exchange.request_headers),
            "queryString": [{"name": k, "value": v} for k, v in exchange.query],
            "headersSize": -1,
            "bodySize": len(exchange.request_body),
        }
        if exchange.request_body:
            post = self.content(exchange.request_body, request_mime or "application/octet-stream", None, None)
            request["postData"] = {"mimeType": post["mimeType"], "text": post.get("text", "")}
            if post.get("encoding"):
                request["postData"]["_encoding"] = post["encoding"]
        body_content = content or self.content(
            exchange.response_body, exchange.mime_type, exchange.response_size, exchange.response_sha256
        )
        entry: dict[str, Any] = {
            "startedDateTime": _iso(exchange.started),
            "time": round(exchange.time_ms, 3),
            "request": request,
            "response": {
                "status": exchange.status,
                "statusText": exchange.status_text,
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": _headers(exchange.response_headers),
                "content": body_content,
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": body_content.get("size", 0),
            },
            "cache": {},
            "timings": {"send": 0, "wait": round(exchange.time_ms, 3), "receive": 0},
        }
        if exchange.comment:
            entry["comment"] = exchange.comment
        data = (b",\n" if self.count else b"") + json.dumps(entry, separators=(",", ":")).encode()
        # One write of the entry and the tail over the old tail: the file is whole HAR again at once.
        os.pwrite(self._fd, data + _TAIL, self._end)
        self._end += len(data)
        self.count += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> HarWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _entries(text: str, source: Path) -> list[dict[str, Any]]:
    """The entries of a HAR document; a document cut inside an entry gives the entries before it."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        log = doc.get("log")
        if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
            raise HarError(f"{source}: not a HAR file (no log.entries)")
        return [e for e in log["entries"] if isinstance(e, dict)]
    start = text.find('"entries"')
    bracket = text.find("[", start)
    if start < 0 or bracket < 0:
        raise HarError(f"{source}: not a HAR file (not JSON, and no entries found)")
    decoder = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    pos = bracket + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break  # cut inside this entry: keep the whole ones before it
        if isinstance(entry, dict):
            out.append(entry)
    return out


def _body(content: dict[str, Any], folder: Path) -> bytes | None:
    if content.get("_file"):
        side = (folder / str(content["_file"])).resolve()
        if folder.resolve() not in side.parents:
            raise HarError(f"a side file outside the recording's folder: {content['_file']}")
        return side.read_bytes() if side.exists() else None
    if content.get("_omitted"):
        return None
    text = content.get("text")
    if text is None:
        return b""
    if content.get("encoding") == "base64":
        return base64.b64decode(text)
    return str(text).encode("utf-8")


def _pairs(items: Any) -> list[tuple[str, str]]:
    if not isinstance(items, list):
        return []
    return [(str(h.get("name", "")), str(h.get("value", ""))) for h in items if isinstance(h, dict)]


def read_har(path: str | Path) -> list[Exchange]:
    """Every whole exchange of a HAR file, in order (side files read from next to it)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise HarError(f"cannot read {source}: {exc}") from None
    exchanges = []
    for entry in _entries(text, source):
        request, response = entry.get("request") or {}, entry.get("response") or {}
        content = response.get("content") or {}
        post = request.get("postData") or {}
        request_body = str(post.get("text", "")).encode("utf-8")
        if post.get("_encoding") == "base64":
            request_body = base64.b64decode(post.get("text", ""))
        started = entry.get("startedDateTime") or ""
        try:
            epoch = dt.datetime.fromisoformat(str(started).replace("Z", "+00:00")).timestamp()
        except ValueError:
            epoch = 0.0
        body = _body(content, source.parent)
        exchanges.append(
            Exchange(
                method=str(request.get("method", "GET")).upper(),
                url=str(request.get("url", "")),
                status=int(response.get("status") or 0),
                request_headers=_pairs(request.get("headers")),
                request_body=request_body,
                response_headers=_pairs(response.get("headers")),
                response_body=body,
                response_size=int(content.get("size") or 0) if body is None else None,
                response_sha256=content.get("_sha256"),
                status_text=str(response.get("statusText", "")),
                time_ms=float(entry.get("time") or 0.0),
                started=epoch,
                comment=str(entry.get("comment", "")),
            )
        )
    return exchanges


def iter_bodies(path: str | Path) -> Iterator[Path]:
    """The side files of a recording (for tests and for sharing a recording)."""
    folder = Path(path).with_name(Path(path).stem + ".bodies")
    if folder.is_dir():
        yield from sorted(p for p in folder.iterdir() if not p.name.startswith("."))


__all__ = ["INLINE_LIMIT", "Exchange", "HarError", "HarWriter", "iter_bodies", "read_har"]
