"""The hot path's caches and short cuts answer exactly what the plain code did (loadtests/RESULTS.md).

A connection record keeps its last rendering while the time stays in the span it holds for; the
listing is joined from the cached JSON; ``JSONResponse`` builds Starlette's headers itself; ``read_body``
reads ASGI messages without ``request.stream()``. Each is checked against the plain computation.
"""

from __future__ import annotations

import asyncio
import math
import pickle
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from simulator.api.http import JSONResponse, header, read_body
from simulator.errors import PayloadTooLarge
from simulator.state.connections import ConnectionRecord, render_listing


def record(**changes: Any) -> ConnectionRecord:
    base = ConnectionRecord(
        id="remote:host-1:1234:7",
        client_id="1234",
        hostname="host-1",
        ip="10.0.0.1",
        platform="Linux",
        eid="7",
        user_id="1",
        initiated_at=1_000.25,
        ready_delay_s=0.2,
        reachable=True,
        unreachable_timeout_s=5.0,
        idle_timeout_s=600.0,
        last_activity_at=1_000.25,
    )
    return replace(base, **changes)


def edges(r: ConnectionRecord) -> list[float]:
    """Every time at which the plain rendering may change, computed as status_at computes them."""
    times = [
        r.initiated_at + r.unreachable_timeout_s,
        r.connected_at,
        max(r.last_activity_at, r.connected_at) + r.idle_timeout_s,
    ]
    if r.closed_at is not None:
        times.append(r.closed_at)
    return times


times_ = st.floats(min_value=990.0, max_value=3_000.0, allow_nan=False)


@st.composite
def records(draw: st.DrawFn) -> ConnectionRecord:
    initiated = draw(times_)
    r = record(
        initiated_at=initiated,
        ready_delay_s=draw(st.sampled_from([0.0, 0.2, 1.5, draw(st.floats(0, 50))])),
        reachable=draw(st.booleans()),
        unreachable_timeout_s=draw(st.sampled_from([0.0, 5.0, draw(st.floats(0, 100))])),
        idle_timeout_s=draw(st.sampled_from([0.0, 60.0, 600.0, math.inf, draw(st.floats(0, 900))])),
        last_activity_at=initiated + draw(st.floats(0, 500)),
    )
    if draw(st.booleans()):
        r = replace(r, closed_at=initiated + draw(st.floats(-10, 1_000)))  # a clock set back included
    return r


@settings(max_examples=300, deadline=None)
@given(records(), st.lists(times_, max_size=12), st.data())
def test_cached_rendering_is_the_plain_rendering_at_any_time(
    r: ConnectionRecord, extra: list[float], data: st.DataObject
) -> None:
    # the change points themselves and their float neighbours, in an order hypothesis picks
    near = [t for e in edges(r) for t in (math.nextafter(e, -math.inf), e, math.nextafter(e, math.inf))]
    moments = data.draw(st.permutations([*near, *extra, r.initiated_at]))
    for now in moments:
        plain = r.render(now)
        assert r.to_api(now) == plain, now
        assert r.api_json(now) == orjson.dumps(plain), now
        since, until = r.steady(now)
        assert since <= now < until or now == math.inf  # at +inf the span is empty: rendered each time


def test_to_api_hands_out_copies() -> None:
    r = record()
    first = r.to_api(1_100.0)
    first["status"] = "mangled"
    first.clear()
    assert r.to_api(1_100.0)["status"] == "connected"
    assert r.to_api(1_100.0) is not r.to_api(1_100.0)
    assert r.api_json(1_100.0) == orjson.dumps(r.render(1_100.0))


def test_the_cache_stays_out_of_equality_copies_and_pickles() -> None:
    r = record()
    plain = record()
    r.to_api(2_000.0)
    assert "_api" in vars(r)
    assert r == plain and hash(r) == hash(plain) and repr(r) == repr(plain)
    for copy in (pickle.loads(pickle.dumps(r)), replace(r), replace(r, closed_at=2_100.0)):
        assert "_api" not in vars(copy)
    assert pickle.dumps(r) == pickle.dumps(plain)
    again = pickle.loads(pickle.dumps(r))
    assert again == r and again.to_api(2_000.0) == r.to_api(2_000.0)


def test_nan_times_render_plainly() -> None:
    r = record(closed_at=math.nan)
    for now in (999.0, 1_000.25, 1_000.45, 1_700.0, math.nan, math.inf):
        assert r.to_api(now) == r.render(now)
    assert r.steady(math.nan) == (-math.inf, 1_000.45)  # empty: nan is never >= since


def test_listing_joins_what_orjson_would_write() -> None:
    rs = [record(), record(id="b", reachable=False), record(id="c", closed_at=1_100.0)]
    for now in (1_000.0, 1_000.3, 1_006.0, 1_200.0, 5_000.0):
        assert render_listing(rs, now) == orjson.dumps([r.render(now) for r in rs])
    assert render_listing([], 1_000.0) == orjson.dumps([])


@pytest.mark.parametrize(
    ("content", "status"),
    [(["a"], 200), ({"x": None}, 201), ("remote:undefined:1:", 200), ({}, 200), ([], 299)],
)
def test_json_response_headers_are_starlettes(content: Any, status: int) -> None:
    fast = JSONResponse(content, status_code=status)
    # Starlette's generic path, as JSONResponse took it before the short cut
    plain = Response.__new__(JSONResponse)
    Response.__init__(plain, content, status_code=status)
    assert vars(fast) == vars(plain)  # every attribute Starlette's __init__ sets, and no other
    assert vars(JSONResponse.from_json(orjson.dumps(content), status)) == vars(plain)
    assert fast.headers["content-length"] == str(len(fast.body))


@pytest.mark.parametrize(
    ("status", "headers"), [(204, None), (304, None), (401, {"WWW-Authenticate": "Session"}), (500, None)]
)
def test_json_response_other_answers_take_starlettes_path(status: int, headers: Any) -> None:
    fast = JSONResponse({"text": "x"}, status_code=status, headers=headers)
    plain = Response.__new__(JSONResponse)
    Response.__init__(plain, {"text": "x"}, status, headers)
    assert vars(fast) == vars(plain)
    with pytest.raises(ValueError, match="2xx"):
        JSONResponse.from_json(b"{}", 204)


def _request(messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers or []}
    return Request(scope, receive)


def _body(*chunks: bytes) -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]


def test_read_body_reads_what_starlette_reads() -> None:
    for chunks in [(b"",), (b"{}",), (b"{", b"", b'"a": 1}'), (b"", b"[1]")]:
        mine = asyncio.run(read_body(_request(_body(*chunks)), 100))
        starlettes = asyncio.run(_request(_body(*chunks)).body())
        assert mine == starlettes == b"".join(chunks)


def test_read_body_limits_disconnects_and_reads_once() -> None:
    with pytest.raises(PayloadTooLarge):
        asyncio.run(read_body(_request(_body(b"x" * 8, b"y" * 8)), 10))
    with pytest.raises(PayloadTooLarge):
        asyncio.run(read_body(_request(_body(b"{}"), [(b"content-length", b"11")]), 10))
    with pytest.raises(ClientDisconnect):
        asyncio.run(read_body(_request([*_body(b"{")[:0], {"type": "http.disconnect"}]), 10))
    request = _request(_body(b"{}"))
    assert asyncio.run(read_body(request, 10)) == b"{}"
    with pytest.raises(RuntimeError, match="Stream consumed"):
        asyncio.run(read_body(request, 10))


def test_header_is_the_first_value_like_starlettes() -> None:
    request = _request([], [(b"session", b"a"), (b"x-other", b"b"), (b"session", b"c")])
    assert header(request, b"session") == request.headers.get("session") == "a"
    assert header(request, b"missing") is request.headers.get("missing") is None
