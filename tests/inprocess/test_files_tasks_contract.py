"""Endpoint files, file tasks and their statuses."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.settings import Lifecycle, Settings
from simulator.state.store import Store

from .conftest import TOKEN, TR, World

pytestmark = pytest.mark.anyio

TASK_KEYS = {
    "id",
    "type",
    "status",
    "metadata",
    "results",
    "error",
    "startTime",
    "endTime",
    "createdAt",
    "updatedAt",
}


INFO_KEYS = {"type", "name", "permissions", "size", "createdDate", "modifiedDate", "canonicalPath"}
ENTRY_KEYS = INFO_KEYS - {"canonicalPath"}


async def test_file_info_for_trace_and_scanner(world: World) -> None:
    conn = await world.connected(0)
    ep = world.endpoint(0)
    trace_path = world.backend.files.trace_path(ep)
    r = await world.client.get(f"{TR}/conns/{conn['id']}/file/info/{trace_path}")
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) == {"sessionId", "cid", "path", "info"}
    assert isinstance(answer["sessionId"], str) and answer["sessionId"]
    assert (answer["cid"], answer["path"]) == (conn["id"], trace_path)
    info = answer["info"]
    assert set(info) == INFO_KEYS
    assert info["name"] == info["canonicalPath"] == trace_path
    assert info["type"] == "FILE" and info["size"] > 0 and info["permissions"] == 438
    assert all(type(info[k]) is int for k in ("createdDate", "modifiedDate", "permissions", "size"))
    scanner = world.backend.files.scanner_path(ep)
    info = (await world.client.get(f"{TR}/conns/{conn['id']}/file/info/{scanner}")).json()["info"]
    assert info["canonicalPath"] == scanner and info["permissions"] == 0o755


async def test_a_client_reads_dates_and_permissions_with_int(world: World) -> None:
    # What public clients do with a file/info answer: int() on the dates and the mode bits.
    conn = await world.connected(0)
    trace_path = world.backend.files.trace_path(world.endpoint(0))
    info = (await world.client.get(f"{TR}/conns/{conn['id']}/file/info/{trace_path}")).json()["info"]
    created, modified, mode = int(info["createdDate"]), int(info["modifiedDate"]), int(info["permissions"])
    assert (mode, oct(mode)) == (438, "0o666")
    # epoch milliseconds: the endpoint's trace was written within the simulated clock's past
    assert 0 < created <= modified <= int(world.backend.now() * 1000)
    (entry,) = (await world.client.get(f"{TR}/conns/{conn['id']}/file/list//opt/cryptosense/traces")).json()[
        "entries"
    ]
    assert (int(entry["createdDate"]), int(entry["modifiedDate"]), int(entry["permissions"])) == (
        created,
        modified,
        mode,
    )


async def test_file_info_with_url_quoted_path(world: World) -> None:
    conn = await world.connected(0)
    quoted = "%2Fopt%2Fcryptosense%2Fbin%2Fcs-host-scanner"
    r = await world.client.get(f"{TR}/conns/{conn['id']}/file/info/{quoted}")
    assert r.status_code == 200
    assert r.json()["info"]["canonicalPath"] == r.json()["path"] == "/opt/cryptosense/bin/cs-host-scanner"


async def test_file_info_path_is_as_asked_and_canonical_path_normalized(world: World) -> None:
    conn = await world.connected(0)
    asked = "/opt/cryptosense/traces/../bin/cs-host-scanner"
    quoted = quote(asked, safe="")  # quoted, or httpx would resolve the ".." itself
    answer = (await world.client.get(f"{TR}/conns/{conn['id']}/file/info/{quoted}")).json()
    assert (answer["path"], answer["info"]["canonicalPath"]) == (
        asked,
        "/opt/cryptosense/bin/cs-host-scanner",
    )


async def test_file_list_directories(world: World) -> None:
    conn = await world.connected(0)
    r = await world.client.get(f"{TR}/conns/{conn['id']}/file/list//opt/cryptosense/traces")
    assert r.status_code == 200
    answer = r.json()
    assert set(answer) == {"sessionId", "cid", "path", "entries"}
    assert (answer["cid"], answer["path"]) == (conn["id"], "/opt/cryptosense/traces")
    (entry,) = answer["entries"]
    assert set(entry) == ENTRY_KEYS
    assert entry["name"] == "trace.cst.gz" and entry["type"] == "FILE" and entry["permissions"] == 438
    assert all(type(entry[k]) is int for k in ("createdDate", "modifiedDate", "permissions", "size"))
    folders = (await world.client.get(f"{TR}/conns/{conn['id']}/file/list//opt/cryptosense")).json()[
        "entries"
    ]
    assert {(e["name"], e["type"], e["permissions"]) for e in folders} >= {("traces", "DIRECTORY", 0o755)}


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "/opt/cryptosense/../../etc/shadow",
        "/proc/self/environ",
        "/opt/cryptosense/traces/nope",
    ],
)
async def test_other_paths_do_not_exist(world: World, path: str) -> None:
    conn = await world.connected(0)
    r = await world.client.get(f"{TR}/conns/{conn['id']}/file/info/{path}")
    assert r.status_code == 404
    assert r.json()["text"].startswith("404 Item Not Found")


async def test_relative_path_is_400(world: World) -> None:
    conn = await world.connected(0)
    r = await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": "etc/passwd"})
    assert r.status_code == 400 and r.json()["text"].startswith("400 Bad Request")


async def test_request_file_shape_then_completed(world: World) -> None:
    conn = await world.connected(0)
    path = world.backend.files.trace_path(world.endpoint(0))
    r = await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})
    body = r.json()
    assert body["status"] == "ACCEPTED"
    info = body["taskInfo"]
    assert set(info) == {"id", "status", "metadata", "startTime"}
    assert isinstance(info["id"], int) and info["status"] == "STARTED"
    assert info["metadata"] == {"connection": conn["id"], "paths": [path], "compress": "true"}
    assert info["startTime"].endswith("Z") and len(info["startTime"]) == 24
    task = (await world.client.get(f"{TR}/tasks/{info['id']}")).json()["data"]
    assert set(task) == TASK_KEYS and task["status"] == "STARTED" and task["type"] == "fileDownload"
    world.clock.advance(2.0)
    task = (await world.client.get(f"{TR}/tasks/{info['id']}")).json()["data"]
    assert task["status"] == "COMPLETED" and task["error"] is None
    assert task["results"]["completed"] == [path] and task["results"]["failed"] == []
    (fr,) = task["results"]["fileResults"]
    assert set(fr) == {"response", "uuid", "finalPath"}
    assert fr["finalPath"].endswith(f"/evidence/files/{fr['uuid']}.zip")
    resp = fr["response"]
    assert set(resp) == {"source", "target", "totalBytes", "transferHash", "totalTimeMs", "avgBytesPerSecond"}
    manifest = world.backend.manifest(world.endpoint(0).client_id)
    assert resp["totalBytes"] == manifest["size"] and resp["transferHash"] == manifest["sha256"]
    assert len(resp["transferHash"]) == 64


async def test_missing_path_ends_error(world: World) -> None:
    task = await world.completed_task(0, path="/opt/cryptosense/traces/old.cst.gz")
    assert task["status"] == "ERROR"
    assert task["error"] and "not found" in task["error"]
    assert task["results"] == {
        "completed": [],
        "failed": ["/opt/cryptosense/traces/old.cst.gz"],
        "fileResults": [],
    }


async def test_missing_path_can_end_incomplete(clock: ManualClock, store: Store | None) -> None:
    settings = Settings(endpoints=2, token=TOKEN, lifecycle=Lifecycle(missing_path_status="INCOMPLETE"))
    app = create_app(settings, clock=clock, store=store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim", headers={"session": TOKEN}
    ) as client:
        world = World(app, client, clock)
        task = await world.completed_task(0, path="/nowhere")
        assert task["status"] == "INCOMPLETE" and task["error"] is None
        assert task["results"]["failed"] == ["/nowhere"]


async def test_endpoint_without_trace_fails_the_task(clock: ManualClock, store: Store | None) -> None:
    settings = Settings(endpoints=2, token=TOKEN, lifecycle=Lifecycle(missing_trace_fraction=1.0))
    app = create_app(settings, clock=clock, store=store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sim", headers={"session": TOKEN}
    ) as client:
        task = await World(app, client, clock).completed_task(0)
        assert task["status"] == "ERROR"


async def test_file_request_on_waiting_or_closed_connection_is_refused(world: World) -> None:
    ep = world.endpoint(0)
    await world.client.post(f"{TR}/conns/connect", json={"target": {"clientId": ep.client_id}})
    (conn,) = (await world.client.get(f"{TR}/conns")).json()
    r = await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": "/opt/x"})
    assert r.status_code == 400 and "waiting" in r.json()["text"]
    world.clock.advance(1.0)
    await world.client.delete(f"{TR}/conns/close/{conn['id']}")
    r = await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": "/opt/x"})
    assert r.status_code == 400 and "disconnected" in r.json()["text"]
    assert (await world.client.get(f"{TR}/tasks")).json() == {"data": []}


@pytest.mark.parametrize("body", [{}, {"path": 7}, {"path": ""}, {"path": None}, {"paths": ["/x"]}, ["/x"]])
async def test_file_request_bad_bodies(world: World, body: object) -> None:
    conn = await world.connected(0)
    r = await world.client.post(f"{TR}/conns/{conn['id']}/file", json=body)
    assert r.status_code == 400, r.text
    assert (await world.client.get(f"{TR}/tasks")).json() == {"data": []}


async def test_list_tasks_and_unknown_task(world: World) -> None:
    task = await world.completed_task(0)
    listed = (await world.client.get(f"{TR}/tasks")).json()
    assert set(listed) == {"data"} and [t["id"] for t in listed["data"]] == [task["id"]]
    for bad in ("999", "abc", "-1"):
        r = await world.client.get(f"{TR}/tasks/{bad}")
        assert r.status_code == 404 and r.json() == {"text": "404 Item Not Found"}


async def test_module_status(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{TR}/status")
    assert r.status_code == 200 and isinstance(r.json(), dict)
