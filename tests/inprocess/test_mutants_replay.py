"""Tests that kill mutmut's survivors in simulator/record/replay.py (docs/testing.md).

Small hand-made recordings, replayed by an in-process app: the query and the path as sent take part in
matching, an exact recording wins over one with placeholders, the miss message names the first nearest
recording, replayed answers keep their status and header names but not the server's own headers, and
recorded paths outside the route table still need a session and show as operation ``unknown``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from simulator.app import create_app
from simulator.faults.wire import TRANSPORT_KEY
from simulator.record.har import Exchange, HarWriter
from simulator.record.matching import Shape
from simulator.record.replay import Replay, ReplayError, Track, _ResetResponse, live_shape
from simulator.settings import Settings
from tests.record_helpers import SESSION_PLACEHOLDER

pytestmark = pytest.mark.anyio
TOKEN = "token-0123456789abcdef"


def exchange(method: str, url_path: str, answer: Any, *, status: int = 200, **fields: Any) -> Exchange:
    """A recorded JSON answer to ``method url_path`` (a placeholder session on the request)."""
    fields.setdefault("response_headers", [("content-type", "application/json")])
    return Exchange(
        method,
        f"http://tanium.example{url_path}",
        status=status,
        request_headers=[("session", SESSION_PLACEHOLDER), ("content-type", "application/json")],
        response_body=json.dumps(answer).encode(),
        **fields,
    )


@asynccontextmanager
async def serving(replay: Replay, *, session: str | None = "anything") -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(seed=5, endpoints=2, token=TOKEN), replay=replay)
    headers = {"session": session} if session is not None else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=headers) as http:
        http.app = app  # type: ignore[attr-defined]  # for the journal
        yield http


def test_a_track_hands_out_its_answers_in_order_then_the_last_again() -> None:
    first, second, third = (exchange("GET", "/api/v2/a", n) for n in range(3))
    track = Track(Shape.of("GET", "/api/v2/a"), first)
    track.exchanges += [second, third]
    assert [track.next() for _ in range(5)] == [first, second, third, third, third]
    assert track.served == 5


def test_the_defaults_are_strict_at_recorded_speed() -> None:
    replay = Replay([])
    assert (replay.mode, replay.speed, replay.source) == ("strict", 1.0, "the recording")
    assert repr(replay) == "Replay('the recording', 0 exchanges, strict, speed 1)"
    assert replay.miss(Shape.of("GET", "/api/v2/a")) == (
        "not in the recording: GET /api/v2/a; the recording holds no exchange"
    )


def test_a_loaded_recording_is_named_by_its_path(tmp_path: Path) -> None:
    har = tmp_path / "s.har"
    with HarWriter(har):
        pass
    replay = Replay.load(har)
    assert (replay.mode, replay.speed, replay.source) == ("strict", 1.0, str(har))
    assert repr(replay) == f"Replay({str(har)!r}, 0 exchanges, strict, speed 1)"
    assert replay.miss(Shape.of("GET", "/api/v2/a")).endswith(f"; {har} holds no exchange")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "fast"}, "replay mode 'fast' is not one of strict, hybrid"),
        ({"speed": -1.0}, "replay speed -1.0 is not a number of at least 0 (0 = no delay)"),
        ({"speed": float("nan")}, "replay speed nan is not a number of at least 0 (0 = no delay)"),
    ],
)
def test_bad_options_are_one_sentence(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ReplayError) as info:
        Replay([], **options)
    assert str(info.value) == message


def test_the_live_shape_falls_back_on_the_decoded_path_and_no_query() -> None:
    scope = {"type": "http", "method": "get", "path": "/api/v2/a b", "headers": []}
    shape = live_shape(scope, b"")
    assert (shape.method, shape.path, shape.query, shape.display) == (
        "GET",
        "/api/v2/a b",
        (),
        "GET /api/v2/a b",
    )


async def test_the_path_as_sent_is_matched_not_decoded_twice() -> None:
    # %25 is a literal "%": decoding the already decoded path would turn "%41" into "A"
    replay = Replay([exchange("GET", "/api/v2/x%2541", "percent"), exchange("GET", "/api/v2/xA", "letter")])
    async with serving(replay) as http:
        assert (await http.get("/api/v2/x%2541")).json() == "percent"
        assert (await http.get("/api/v2/xA")).json() == "letter"


async def test_the_query_takes_part_in_matching() -> None:
    replay = Replay([exchange("GET", "/api/v2/a?x=1", "one"), exchange("GET", "/api/v2/a?x=2", "two")])
    async with serving(replay) as http:
        assert (await http.get("/api/v2/a", params={"x": "2"})).json() == "two"
        assert (await http.get("/api/v2/a", params={"x": "1"})).json() == "one"
        missing = await http.post("/api/v2/a", params={"x": "3"})
    assert missing.status_code == 404
    assert missing.json()["text"] == (
        "404 Item Not Found: not in the recording: POST /api/v2/a?x=3; "
        "nearest recorded: GET /api/v2/a?x=1 (differs in: method, query param x)"
    )


async def test_an_exact_recording_wins_over_an_earlier_one_with_placeholders() -> None:
    login = "/api/v2/session/login"
    replay = Replay(
        [
            exchange("POST", login, "any", request_body=b'{"username": "<username>", "password": "<p>"}'),
            exchange("POST", login, "admin", request_body=b'{"username": "admin", "password": "tanium"}'),
        ]
    )
    async with serving(replay) as http:
        assert (await http.post(login, json={"password": "tanium", "username": "admin"})).json() == "admin"
        assert (await http.post(login, json={"password": "x", "username": "bob"})).json() == "any"


async def test_of_equally_near_recordings_the_miss_names_the_first() -> None:
    replay = Replay([exchange("GET", "/api/v2/a", 1), exchange("GET", "/api/v2/b", 2)])
    async with serving(replay) as http:
        answer = await http.get("/api/v2/c")
    assert answer.json()["text"] == (
        "404 Item Not Found: not in the recording: GET /api/v2/c; "
        "nearest recorded: GET /api/v2/a (differs in: path)"
    )


async def test_the_answer_keeps_its_status_and_header_names_not_the_servers_own_headers() -> None:
    recorded = exchange(
        "GET",
        "/api/v2/a",
        {"ok": True},
        status=201,
        response_headers=[
            ("Content-Type", "application/json"),
            ("X-Recorded", "yes"),
            ("Content-Length", "999"),
            ("Date", "Mon, 01 Jan 2024 00:00:00 GMT"),
            ("Server", "upstream"),
        ],
    )
    async with serving(Replay([recorded])) as http:
        answer = await http.get("/api/v2/a")
    assert (answer.status_code, answer.json()) == (201, {"ok": True})
    raw = [(k.decode(), v.decode()) for k, v in answer.headers.raw]
    assert ("x-recorded", "yes") in raw and ("content-type", "application/json") in raw
    assert answer.headers.get_list("content-length") == [str(len(recorded.response_body or b""))]
    assert "date" not in answer.headers and "server" not in answer.headers


async def test_a_recorded_path_outside_the_route_table_needs_a_session_and_is_operation_unknown() -> None:
    replay = Replay([exchange("GET", "/api/v2/server_info", {"version": "7.6"})])
    async with serving(replay, session=None) as http:
        denied = await http.get("/api/v2/server_info")
        assert (denied.status_code, denied.json()) == (
            401,
            {"text": "401 Unauthorized: missing session header"},
        )
        answer = await http.get("/api/v2/server_info", headers={"session": "x"})
        assert answer.json() == {"version": "7.6"}
        journal = http.app.state.runtime.journal  # type: ignore[attr-defined]
    assert [(e.path, e.operation, e.status) for e in journal.query()] == [
        ("/api/v2/server_info", "unknown", 401),
        ("/api/v2/server_info", "unknown", 200),
    ]


@pytest.mark.parametrize("mode", ["strict", "hybrid"])
async def test_control_routes_stay_the_simulators_even_for_a_method_they_lack(mode: str) -> None:
    async with serving(Replay([exchange("GET", "/api/v2/a", 1)], mode=mode)) as http:
        answer = await http.post("/_sim/health")
    assert answer.status_code == 405


async def test_a_fall_through_handler_reads_the_body_again_then_the_clients_messages() -> None:
    app = create_app(Settings(seed=5, endpoints=1, token=TOKEN))
    seen: list[Any] = []

    async def own(request: Request) -> Response:
        seen.extend([await request.receive(), await request.receive()])
        return JSONResponse("own")

    endpoint = Replay([], mode="hybrid")._endpoint(own, auth=False)
    client: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"{}", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return client.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v2/a",
        "raw_path": b"/api/v2/a",
        "query_string": b"",
        "headers": [(b"content-length", b"2")],
        "app": app,
    }
    answer = await endpoint(Request(scope, receive))
    assert answer.body == b'"own"'
    assert [(m["type"], m.get("body"), m.get("more_body", False)) for m in seen] == [
        ("http.request", b"{}", False),
        ("http.disconnect", None, False),
    ]


async def test_a_reset_aborts_the_transport_and_waits_for_the_client_to_go() -> None:
    class Transport:
        aborted = False

        def get_extra_info(self, name: str) -> None:
            return None

        def abort(self) -> None:
            self.aborted = True

    transport = Transport()
    received: list[str] = []
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        received.append("receive")
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await _ResetResponse()({"type": "http", "state": {TRANSPORT_KEY: transport}}, receive, send)
    assert (transport.aborted, received, sent) == (True, ["receive"], [])
