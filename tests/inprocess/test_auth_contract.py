"""Platform auth: the `session` header, login/validate/logout/current, 401 vs 403."""

from __future__ import annotations

import httpx
import pytest

from simulator.clock import ManualClock

from .conftest import TOKEN, TR

pytestmark = pytest.mark.anyio


async def test_missing_session_is_401_with_vendor_body(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{TR}/conns", headers={"session": ""})
    assert r.status_code == 401
    assert r.json()["text"].startswith("401 Unauthorized")


async def test_invalid_session_is_401(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{TR}/conns", headers={"session": "token-ffff"})
    assert r.status_code == 401
    assert r.json() == {"text": "401 Unauthorized: invalid session"}


async def test_api_token_works(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{TR}/conns")
    assert r.status_code == 200
    assert r.json() == []


async def test_login_session_shape_and_use(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v2/session/login", json={"username": "admin", "password": "tanium"})
    assert r.status_code == 200
    session = r.json()["data"]["session"]
    user_id, n, secret = session.split("-")
    assert user_id == "1" and n.isdigit() and len(secret) == 64
    r = await client.get(f"{TR}/conns", headers={"session": session})
    assert r.status_code == 200


async def test_login_as_get_with_query_params(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v2/session/login", params={"username": "admin", "password": "tanium"})
    assert r.status_code == 200
    assert "session" in r.json()["data"]


@pytest.mark.parametrize(
    "body",
    [{"username": "admin", "password": "nope"}, {"username": "root", "password": "tanium"}],
)
async def test_bad_credentials_are_401(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    r = await client.post("/api/v2/session/login", json=body)
    assert r.status_code == 401
    assert r.json()["text"].startswith("401 Unauthorized")


@pytest.mark.parametrize("body", [{}, {"username": 1, "password": "x"}, [1, 2]])
async def test_malformed_login_is_400(client: httpx.AsyncClient, body: object) -> None:
    r = await client.post("/api/v2/session/login", json=body)
    assert r.status_code == 400
    assert r.json()["text"].startswith("400 Bad Request")


async def test_validate_logout_current(client: httpx.AsyncClient) -> None:
    session = (
        await client.post("/api/v2/session/login", json={"username": "admin", "password": "tanium"})
    ).json()["data"]["session"]
    r = await client.post("/api/v2/session/validate", json={"session": session})
    assert r.status_code == 200 and r.json() == {"data": {"session": session}}
    r = await client.get("/api/v2/session/current", headers={"session": session})
    assert r.status_code == 200 and r.json()["data"]
    r = await client.post("/api/v2/session/logout", json={"session": session})
    assert r.status_code == 200 and r.json() == {}
    r = await client.post("/api/v2/session/validate", json={"session": session})
    assert r.status_code == 401
    r = await client.get(f"{TR}/conns", headers={"session": session})
    assert r.status_code == 401


async def test_expired_session_is_403_then_relogin_works(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    session = (
        await client.post("/api/v2/session/login", json={"username": "admin", "password": "tanium"})
    ).json()["data"]["session"]
    clock.advance(7 * 24 * 3600 + 1)
    r = await client.get(f"{TR}/conns", headers={"session": session})
    assert r.status_code == 403
    assert r.json()["text"].startswith("403 Forbidden")
    fresh = (
        await client.post("/api/v2/session/login", json={"username": "admin", "password": "tanium"})
    ).json()["data"]["session"]
    assert (await client.get(f"{TR}/conns", headers={"session": fresh})).status_code == 200


async def test_expired_api_token_is_403(client: httpx.AsyncClient, clock: ManualClock) -> None:
    clock.advance(7 * 24 * 3600 + 1)
    r = await client.get(f"{TR}/conns", headers={"session": TOKEN})
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{TR}/conns"),
        ("POST", f"{TR}/conns/connect"),
        ("GET", f"{TR}/conns/remote:x:1:1"),
        ("DELETE", f"{TR}/conns/close/remote:x:1:1"),
        ("DELETE", f"{TR}/conns/delete/remote:x:1:1"),
        ("POST", f"{TR}/conns/remote:x:1:1/file"),
        ("GET", f"{TR}/conns/remote:x:1:1/file/info//opt"),
        ("GET", f"{TR}/conns/remote:x:1:1/file/list//opt"),
        ("GET", f"{TR}/tasks"),
        ("GET", f"{TR}/tasks/1"),
        ("GET", f"{TR}/filedownload"),
        ("GET", f"{TR}/filedownload/abc"),
        ("GET", f"{TR}/filedownload/data/abc"),
        ("DELETE", f"{TR}/filedownload"),
        ("DELETE", f"{TR}/filedownload/abc"),
        ("GET", f"{TR}/status"),
        ("GET", "/api/v2/system_status"),
        ("GET", "/plugin/products/dec/v1/endpoints"),
    ],
)
async def test_every_vendor_route_needs_a_session(client: httpx.AsyncClient, method: str, path: str) -> None:
    r = await client.request(method, path, headers={"session": "not-a-session"})
    assert r.status_code == 401
    assert r.json()["text"].startswith("401 Unauthorized")
