"""Replay (simulator/record/replay.py): a session recorded against the in-process simulator, answered back.

The recording is made by hand with httpx through :class:`tests.record_helpers.RecordingTransport`
(connect, conns waiting then connected, file request, task STARTED then COMPLETED, list evidence,
download, delete it, close, delete the connection), its ``session`` header replaced by a placeholder as
the recording proxy does. The replaying app runs another world (another seed), so every answer that
matches the recording came from it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from simulator.app import create_app
from simulator.cli import main
from simulator.cli.replay_options import replay_from_args
from simulator.cli.types import UsageError
from simulator.clock import ManualClock, VirtualSleep
from simulator.record.har import Exchange, HarWriter
from simulator.record.replay import Replay, ReplayError
from simulator.scenarios import Scenario
from simulator.settings import Settings
from tests.inprocess.conftest import TOKEN, TR
from tests.record_helpers import SESSION_PLACEHOLDER, RecordingTransport

pytestmark = pytest.mark.anyio
OTHER_SESSION = "token-replayed-by-someone-else"


@dataclass
class Recorded:
    """The recorded session: its HAR, exchanges and the ids the simulator handed out."""

    har: Path
    exchanges: list[Exchange]
    client_id: str
    cid: str
    task_id: int
    uuid: str
    trace_path: str


@pytest.fixture
async def recorded(app: Starlette, clock: ManualClock, tmp_path: Path) -> Recorded:
    recorder = RecordingTransport(httpx.ASGITransport(app=app), clock=clock.now)
    backend, lifecycle = app.state.backend, app.state.settings.lifecycle
    endpoint = backend.fleet.endpoint(0)
    path = backend.files.trace_path(endpoint)
    async with httpx.AsyncClient(
        transport=recorder, base_url="http://sim", headers={"session": TOKEN}
    ) as http:
        assert (
            await http.post(f"{TR}/conns/connect", json={"target": {"clientId": endpoint.client_id}})
        ).is_success
        assert [c["status"] for c in (await http.get(f"{TR}/conns")).json()] == ["waiting"]
        clock.advance(lifecycle.connect_delay_s)
        (conn,) = (await http.get(f"{TR}/conns")).json()
        assert conn["status"] == "connected"
        task_id = (await http.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})).json()["taskInfo"][
            "id"
        ]
        assert (await http.get(f"{TR}/tasks/{task_id}")).json()["data"]["status"] == "STARTED"
        clock.advance(lifecycle.task_duration_s)
        task = (await http.get(f"{TR}/tasks/{task_id}")).json()["data"]
        assert task["status"] == "COMPLETED"
        uuid = task["results"]["fileResults"][0]["uuid"]
        assert (await http.get(f"{TR}/filedownload")).json()["fileEvidence"][0]["uuid"] == uuid
        assert (await http.get(f"{TR}/filedownload/data/{uuid}")).headers["content-type"] == "application/zip"
        assert (await http.request("DELETE", f"{TR}/filedownload", json={"ids": [uuid]})).is_success
        assert (await http.delete(f"{TR}/conns/close/{conn['id']}")).is_success
        assert (await http.delete(f"{TR}/conns/delete/{conn['id']}")).is_success
    har = recorder.write(tmp_path / "session.har")
    return Recorded(har, recorder.exchanges, endpoint.client_id, conn["id"], task_id, uuid, path)


Replaying = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def replaying(settings: Settings) -> Replaying:
    """``async with replaying(har, mode=..., ...) as http``: an httpx client on an app replaying ``har``."""

    @asynccontextmanager
    async def start(
        har: Path,
        *,
        mode: str = "strict",
        speed: float = 0.0,
        session: str = OTHER_SESSION,
        world: Settings | None = None,
        **app_options: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        world = world or Settings(seed=99, endpoints=3, token=TOKEN)
        app = create_app(world, replay=Replay.load(har, mode=mode, speed=speed), **app_options)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim", headers={"session": session}
        ) as c:
            yield c

    return start


async def send(http: httpx.AsyncClient, exchange: Exchange) -> httpx.Response:
    """The recorded request again (its method, URL and body; the client's own session header)."""
    headers = {"content-type": "application/json"} if exchange.request_body else {}
    return await http.request(exchange.method, exchange.url, content=exchange.request_body, headers=headers)


def states(answers: list[httpx.Response]) -> list[str]:
    out = []
    for r in answers:
        data = r.json()
        out.append(data[0]["status"] if isinstance(data, list) else data["data"]["status"])
    return out


async def test_strict_replay_answers_every_request_as_recorded(
    recorded: Recorded, replaying: Replaying
) -> None:
    assert all(dict(e.request_headers)["session"] == SESSION_PLACEHOLDER for e in recorded.exchanges)
    async with replaying(recorded.har) as http:
        for exchange in recorded.exchanges:
            answer = await send(http, exchange)
            assert (answer.status_code, answer.content) == (exchange.status, exchange.response_body)
            assert answer.headers["content-type"] == exchange.header("content-type")


async def test_repeated_requests_get_the_recorded_answers_in_order_then_the_last_again(
    recorded: Recorded, replaying: Replaying
) -> None:
    async with replaying(recorded.har) as http:
        polls = [await http.get(f"{TR}/conns") for _ in range(4)]
        assert states(polls) == ["waiting", "connected", "connected", "connected"]
        assert polls[3].content == polls[1].content
        tasks = [await http.get(f"{TR}/tasks/{recorded.task_id}") for _ in range(3)]
        assert states(tasks) == ["STARTED", "COMPLETED", "COMPLETED"]


async def test_ids_the_client_learnt_are_followed_however_it_encodes_them(
    recorded: Recorded, replaying: Replaying
) -> None:
    async with replaying(recorded.har) as http:
        # the recorded clientId as a number, the body spaced and ordered otherwise
        connect = await http.post(
            f"{TR}/conns/connect", json={"target": {"clientId": int(recorded.client_id)}}
        )
        assert connect.json() == f"remote:undefined:{recorded.client_id}:"
        encoded = recorded.cid.replace(":", "%3A")
        assert (await http.delete(f"{TR}/conns/close/{encoded}")).json() == {}
        assert (await http.delete(f"{TR}/conns/close/{recorded.cid}")).json() == {}
        body = b'{ "ids" : [ "%s" ] }' % recorded.uuid.encode()
        assert (await http.request("DELETE", f"{TR}/filedownload", content=body)).json() == {}
        download = await http.get(f"{TR}/filedownload/data/{recorded.uuid}")
        (exchange,) = [e for e in recorded.exchanges if "/filedownload/data/" in e.url]
        assert download.content == exchange.response_body


@pytest.mark.parametrize(
    ("method", "path", "body", "nearest", "differs"),
    [
        ("GET", f"{TR}/tasks/999", None, f"GET {TR}/tasks/{{task_id}}", "path param task_id"),
        (
            "POST",
            f"{TR}/conns/{{cid}}/file",
            {"path": "/etc/x"},
            f"POST {TR}/conns/{{cid}}/file",
            "body field path",
        ),
        ("DELETE", f"{TR}/conns", None, f"GET {TR}/conns", "method"),
        ("GET", "/api/v2/not-recorded", None, None, "path"),
    ],
)
async def test_an_unrecorded_request_is_a_404_naming_the_nearest_recorded_one(
    recorded: Recorded,
    replaying: Replaying,
    method: str,
    path: str,
    body: dict[str, str] | None,
    nearest: str | None,
    differs: str,
) -> None:
    ids = {"cid": recorded.cid, "task_id": recorded.task_id}
    async with replaying(recorded.har) as http:
        answer = await http.request(method, path.format(**ids), json=body)
    assert answer.status_code == 404
    text = answer.json()["text"]
    head = f"404 Item Not Found: not in the recording: {method} {path.format(**ids)}; nearest recorded: "
    assert text.startswith(head), text
    if nearest is not None:
        assert text == f"{head}{nearest.format(**ids)} (differs in: {differs})"
    assert text.endswith(f"(differs in: {differs})")


async def test_hybrid_lets_the_simulator_answer_what_the_recording_lacks(
    recorded: Recorded, replaying: Replaying, settings: Settings, app: Starlette
) -> None:
    other = app.state.backend.fleet.endpoint(1).client_id  # the same world as the recording's
    async with replaying(recorded.har, mode="hybrid", world=settings, session=TOKEN) as http:
        status = await http.get(f"{TR}/status")
        assert status.status_code == 200 and "not in the recording" not in status.text
        # an unrecorded POST: the body the replay read reaches the simulator's handler
        connect = await http.post(f"{TR}/conns/connect", json={"target": {"clientId": other}})
        assert (connect.status_code, connect.json()) == (200, f"remote:undefined:{other}:")
        # recorded requests are still answered from the recording, with any session
        assert states([await http.get(f"{TR}/conns")]) == ["waiting"]
        replayed = await http.get(f"{TR}/conns", headers={"session": "token-wrong"})
        assert states([replayed]) == ["connected"]
        # what falls through meets the simulator's own authentication
        denied = await http.get(f"{TR}/status", headers={"session": "token-wrong"})
        assert (denied.status_code, denied.json()) == (401, {"text": "401 Unauthorized: invalid session"})
        assert (await http.get("/api/v2/not-a-route")).json() == {"text": "404 Item Not Found"}
    async with replaying(recorded.har, mode="strict", world=settings, session=TOKEN) as http:
        assert (await http.get(f"{TR}/status")).status_code == 404


@pytest.mark.parametrize("session", [None, ""])
async def test_a_replayed_request_still_needs_a_session_header(
    recorded: Recorded, replaying: Replaying, session: str | None
) -> None:
    async with replaying(recorded.har) as http:
        if session is None:
            del http.headers["session"]
        else:
            http.headers["session"] = session
        for path in (f"{TR}/conns", f"{TR}/tasks/999"):
            answer = await http.get(path)
            assert (answer.status_code, answer.json()) == (
                401,
                {"text": "401 Unauthorized: missing session header"},
            )


def write_har(path: Path, *exchanges: Exchange) -> Path:
    with HarWriter(path) as har:
        for exchange in exchanges:
            har.add(exchange)
    return path


def json_exchange(
    method: str, path: str, answer: Any, *, headers: dict[str, str] | None = None, **fields: Any
) -> Exchange:
    """A recorded JSON answer; the request carried a placeholder session and ``headers``."""
    return Exchange(
        method,
        f"http://tanium.example{path}",
        status=200,
        request_headers=[("session", SESSION_PLACEHOLDER), *(headers or {}).items()],
        response_headers=[("content-type", "application/json")],
        response_body=json.dumps(answer).encode(),
        **fields,
    )


@pytest.mark.parametrize(("speed", "delays"), [(1.0, [0.4, 0.4]), (2.0, [0.2, 0.2]), (0.0, [])])
async def test_recorded_latency_is_replayed_on_the_injected_sleep(
    tmp_path: Path, replaying: Replaying, speed: float, delays: list[float]
) -> None:
    har = write_har(tmp_path / "s.har", json_exchange("GET", f"{TR}/conns", [], time_ms=400))
    clock = ManualClock()
    sleep = VirtualSleep(clock)
    async with replaying(har, speed=speed, clock=clock, sleep=sleep) as http:
        assert [(await http.get(f"{TR}/conns")).json() for _ in range(2)] == [[], []]
    assert sleep.delays == delays
    assert clock.now() - ManualClock().now() == pytest.approx(sum(delays))


async def test_scenario_latency_and_faults_apply_on_top_of_the_recording(
    recorded: Recorded, replaying: Replaying
) -> None:
    scenario = Scenario.from_text(
        "latency: {operations: {get_task: {model: fixed, ms: 100}}}\n"
        "faults: [{name: once, match: {operation: get_task}, times: 1,"
        " fault: {type: status, status: 503}}]\n",
        source="on-top.yaml",
    )
    clock = ManualClock()
    sleep = VirtualSleep(clock)
    async with replaying(recorded.har, scenario=scenario, clock=clock, sleep=sleep) as http:
        answers = [await http.get(f"{TR}/tasks/{recorded.task_id}") for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 200, 200]
    assert states(answers[1:]) == ["STARTED", "COMPLETED"]  # the fault used no recorded answer
    assert sleep.delays == [0.1, 0.1, 0.1]  # the recording took no time on its manual clock


async def test_a_body_left_out_of_the_recording_answers_404_saying_so(
    tmp_path: Path, replaying: Replaying
) -> None:
    download = Exchange(
        "GET",
        f"http://tanium.example{TR}/filedownload/data/u-1",
        status=200,
        response_headers=[("content-type", "application/zip")],
        response_body=None,
        response_size=5_000_000,
    )
    async with replaying(write_har(tmp_path / "s.har", download)) as http:
        answer = await http.get(f"{TR}/filedownload/data/u-1")
    assert answer.status_code == 404
    assert answer.json()["text"] == (
        f"404 Item Not Found: the response body of GET {TR}/filedownload/data/u-1 was not recorded "
        "(5000000 bytes, left out by the recording's size limit): record again without --max-body"
    )


async def test_an_exchange_recorded_without_an_answer_resets_the_connection(
    tmp_path: Path, replaying: Replaying
) -> None:
    har = write_har(tmp_path / "s.har", Exchange("GET", f"http://tanium.example{TR}/conns", status=0))
    async with replaying(har) as http:
        with pytest.raises(httpx.ReadError):
            await http.get(f"{TR}/conns")


async def test_placeholders_match_any_value_and_login_needs_no_session(
    tmp_path: Path, replaying: Replaying
) -> None:
    login = json_exchange(
        "POST",
        "/api/v2/session/login",
        {"data": {"session": SESSION_PLACEHOLDER}},
        headers={"content-type": "application/json"},
        request_body=b'{"username": "<username>", "password": "<password>"}',
    )
    async with replaying(write_har(tmp_path / "s.har", login)) as http:
        del http.headers["session"]
        answer = await http.post("/api/v2/session/login", json={"password": "tanium", "username": "admin"})
        assert answer.json() == {"data": {"session": SESSION_PLACEHOLDER}}
        wrong = await http.post("/api/v2/session/login", json={"username": "admin"})
        assert wrong.json()["text"].endswith("(differs in: body field password)")


async def test_pages_are_told_apart_by_their_tanium_options(tmp_path: Path, replaying: Replaying) -> None:
    pages = [
        json_exchange("GET", "/api/v2/system_status", {"page": n}, headers={"tanium-options": options})
        for n, options in enumerate(['{"row_start": 0, "row_count": 2}', '{"row_count": 2, "row_start": 2}'])
    ]
    async with replaying(write_har(tmp_path / "s.har", *pages)) as http:
        second = await http.get(
            "/api/v2/system_status", headers={"tanium-options": '{"row_start":2,"row_count":2}'}
        )
        first = await http.get(
            "/api/v2/system_status", headers={"tanium-options": '{"row_start":0,"row_count":2}'}
        )
        assert (second.json(), first.json()) == ({"page": 1}, {"page": 0})
        third = await http.get(
            "/api/v2/system_status", headers={"tanium-options": '{"row_start":4,"row_count":2}'}
        )
        assert third.json()["text"].endswith("(differs in: header tanium-options)")


@pytest.mark.parametrize("mode", ["strict", "hybrid"])
async def test_a_recorded_path_outside_the_route_table_is_replayed(
    tmp_path: Path, replaying: Replaying, mode: str
) -> None:
    har = write_har(tmp_path / "s.har", json_exchange("GET", "/api/v2/server_info", {"version": "7.6"}))
    async with replaying(har, mode=mode) as http:
        assert (await http.get("/api/v2/server_info")).json() == {"version": "7.6"}
        assert (await http.get("/_sim/health")).json()["status"] == "ok"  # control routes are the simulator's


def test_a_replay_serves_one_app(tmp_path: Path) -> None:
    replay = Replay.load(write_har(tmp_path / "s.har"))
    create_app(Settings(endpoints=1), replay=replay)
    with pytest.raises(ReplayError, match="a Replay answers for one app"):
        create_app(Settings(endpoints=1), replay=replay)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--replay", "{tmp}/missing.har"], "{tmp}/missing.har: no such recording (a HAR file"),
        (["--replay", "{tmp}/bad.har"], "{tmp}/bad.har: not a HAR file"),
        (["--replay-mode", "hybrid"], "--replay-mode needs --replay HAR: pass the recording too"),
        (["--replay-speed", "2"], "--replay-speed needs --replay HAR: pass the recording too"),
    ],
)
def test_serve_replay_usage_errors_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "bad.har").write_text('{"not": "a har"}')
    # an address nobody can bind: were the check missing, serve would fail (not serve forever)
    assert main(["serve", "--host", "256.0.0.1", "--port", "0", *(a.format(tmp=tmp_path) for a in argv)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tanium-sim: " + message.format(tmp=tmp_path)), err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("speed", ["-1", "fast", "inf", "nan"])
def test_a_bad_replay_speed_is_an_argparse_usage_error(
    capsys: pytest.CaptureFixture[str], speed: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--replay", "s.har", "--replay-speed", speed])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --replay-speed: {speed!r} is not a finite number of at least 0" in err
    assert "Traceback" not in err


def test_replay_with_several_workers_is_refused(tmp_path: Path) -> None:
    args = argparse.Namespace(replay=str(write_har(tmp_path / "s.har")), replay_mode=None, replay_speed=None)
    args.workers = 2
    with pytest.raises(UsageError, match="--replay serves from one process: drop --workers 2"):
        replay_from_args(args)
    args.workers = 1
    replay = replay_from_args(args)
    assert replay is not None and (replay.mode, replay.speed) == ("strict", 1.0)
