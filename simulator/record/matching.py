"""How a replay recognises a request: its :class:`Shape`, the same for a recorded request and a live one.

A shape is the method, the operation and path parameters the path resolves to in the route table
(:data:`simulator.operations.OPERATIONS`; a path outside it is kept literally), the query, the
``tanium-options`` header (it pages platform listings) and the body, normalized: paths and their ids
URL-decoded, JSON parsed with keys sorted, numbers compared as the strings path ids are (``101`` and
``"101"`` are the same ``clientId``). A recorded value the recording proxy replaced by a placeholder
(``<session-1>``, ``<password>``) matches any value.

>>> recorded = Shape.of("DELETE", "/plugin/products/threat-response/api/v1/conns/close/remote%3Ah%3A101%3A7")
>>> recorded.operation, recorded.params
('close_connection', (('cid', 'remote:h:101:7'),))
>>> live = Shape.of("DELETE", "/plugin/products/threat-response/api/v1/conns/close/remote:h:101:7")
>>> recorded.key == live.key
True
>>> Shape.of("POST", "/x", body=b'{"s": "<session-1>"}').matches(Shape.of("POST", "/x", body=b'{"s": "abc"}'))
True
>>> Shape.of("GET", "/api/v2/questions/5").differences(Shape.of("GET", "/api/v2/questions/6"))
['path param id']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

from simulator.operations import match_operation

PLACEHOLDER = re.compile(r"<[A-Za-z][\w.-]*>")  # what the recording proxy writes in place of a secret
MATCHED_HEADERS = ("tanium-options",)  # request headers that change the answer (platform paging)


def resolve(method: str, path: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The operation and path parameters of a (decoded) path; ``("", ())`` outside the route table."""
    found = match_operation(method, path)
    if found is None or found[0].control:
        return "", ()
    return found[0].name, tuple(sorted(found[1].groupdict().items()))


def normalize(value: Any) -> Any:
    """JSON with sorted keys and ids as strings (``True``/``None`` stay themselves)."""
    if isinstance(value, dict):
        return {str(k): normalize(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return normalize(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return raw  # not JSON: compared byte for byte


def _header(name: str, value: str) -> Any:
    try:
        return normalize(orjson.loads(value))
    except orjson.JSONDecodeError:
        return value


def _canonical(value: Any) -> bytes:
    if isinstance(value, bytes):
        return b"raw:" + value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _same(recorded: Any, live: Any) -> bool:
    if isinstance(recorded, str) and PLACEHOLDER.fullmatch(recorded):
        return True
    if isinstance(recorded, dict):
        return (
            isinstance(live, dict)
            and recorded.keys() == live.keys()
            and all(_same(v, live[k]) for k, v in recorded.items())
        )
    if isinstance(recorded, list):
        return (
            isinstance(live, list)
            and len(recorded) == len(live)
            and all(_same(r, v) for r, v in zip(recorded, live, strict=True))
        )
    return bool(recorded == live)


def _fields(recorded: Any, live: Any, prefix: str = "") -> list[str]:
    """The dotted names of the body fields that differ (``target.clientId``, ``ids[0]``)."""
    if _same(recorded, live):
        return []
    if isinstance(recorded, dict) and isinstance(live, dict):
        out: list[str] = []
        for key in sorted(set(recorded) | set(live)):
            name = f"{prefix}.{key}" if prefix else key
            if key not in recorded or key not in live:
                out.append(name)
            else:
                out += _fields(recorded[key], live[key], name)
        return out
    if isinstance(recorded, list) and isinstance(live, list) and len(recorded) == len(live):
        out = []
        for index, (r, v) in enumerate(zip(recorded, live, strict=True)):
            out += _fields(r, v, f"{prefix}[{index}]")
        return out
    return [prefix or ""]


Pairs = tuple[tuple[str, Any], ...]


def _names_differing(recorded: Pairs, live: Pairs) -> list[str]:
    """The names whose values differ between two lists of (name, value) pairs."""
    out = []
    for name in sorted({k for k, _ in recorded} | {k for k, _ in live}):
        mine = [v for k, v in recorded if k == name]
        theirs = [v for k, v in live if k == name]
        if len(mine) != len(theirs) or not all(_same(r, v) for r, v in zip(mine, theirs, strict=True)):
            out.append(name)
    return out


@dataclass(frozen=True)
class Shape:
    """What identifies a request for replay (see the module docstring); ``key`` is its exact form."""

    method: str
    path: str  # decoded
    operation: str  # "" when the path is outside the route table
    params: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, Any], ...]
    body: Any
    display: str = field(compare=False)  # METHOD PATH[?QUERY], for messages

    @classmethod
    def of(
        cls,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> Shape:
        """The shape of a request; ``path`` and ``query`` as on the wire (URL-encoded) or decoded."""
        method = method.upper()
        decoded = unquote(path)
        operation, params = resolve(method, decoded)
        pairs = tuple(sorted(parse_qsl(query, keep_blank_values=True)))
        wanted = {k.lower(): v for k, v in (headers or ()) if k.lower() in MATCHED_HEADERS}
        shaped = tuple((name, _header(name, wanted[name])) for name in MATCHED_HEADERS if name in wanted)
        display = f"{method} {decoded}" + (f"?{unquote(query)}" if query else "")
        return cls(method, decoded, operation, params, pairs, shaped, _body(body), display)

    @property
    def key(self) -> tuple[Any, ...]:
        """Equal for requests the recording cannot tell apart (placeholders aside)."""
        target = self.params if self.operation else (("path", self.path),)
        headers = tuple((k, _canonical(v)) for k, v in self.headers)
        return (self.method, self.operation, target, self.query, headers, _canonical(self.body))

    @property
    def route(self) -> tuple[str, str]:
        """The method and the operation (or the literal path): where to look for recordings."""
        return self.method, self.operation or self.path

    def matches(self, live: Shape) -> bool:
        """Whether ``live`` is this recorded request, a placeholder here matching any value there."""
        if self.route != live.route:
            return False
        return not (
            _names_differing(self.params, live.params)
            or _names_differing(self.query, live.query)
            or _names_differing(self.headers, live.headers)
            or not _same(self.body, live.body)
        )

    def differences(self, live: Shape) -> list[str]:
        """What tells ``live`` apart from this recorded request, most telling first."""
        out: list[str] = []
        if self.path != live.path:
            if self.operation and self.operation == live.operation:
                out += [f"path param {n}" for n in _names_differing(self.params, live.params)]
            else:
                out.append("path")
        if self.method != live.method:
            out.append("method")
        out += [f"query param {n}" for n in _names_differing(self.query, live.query)]
        out += [f"header {n}" for n in _names_differing(self.headers, live.headers)]
        if isinstance(self.body, dict) and isinstance(live.body, dict):
            out += [f"body field {name}" for name in _fields(self.body, live.body)]
        elif not _same(self.body, live.body):
            out.append("body")
        return out


def distance(differences: list[str]) -> int:
    """How far apart two requests are, from their :meth:`Shape.differences`: another route outweighs
    everything else, then another method, then each path parameter, then each other difference."""

    def weight(difference: str) -> int:
        if difference == "path":
            return 100
        if difference == "method":
            return 10
        return 5 if difference.startswith("path param ") else 1

    return sum(weight(d) for d in differences)


__all__ = ["MATCHED_HEADERS", "PLACEHOLDER", "Shape", "distance", "normalize", "resolve"]
