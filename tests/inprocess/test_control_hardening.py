"""Control routes against hostile input: a scenario nested 20,000 deep, ``?name=`` naming a host file,
and 405 answers that say which methods the path takes (vendor and control routes alike)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from tests.inprocess.conftest import ADMIN, TR

pytestmark = pytest.mark.anyio
AUTH = {"authorization": f"Bearer {ADMIN}"}
DEEP = 20_000


@pytest.fixture
async def admin(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=AUTH) as c:
        yield c


@pytest.mark.parametrize(
    "body", ["[" * DEEP + "]" * DEEP, '{"faults": ' * DEEP, "- " * DEEP + "x"], ids=["flow", "json", "block"]
)
async def test_a_scenario_nested_20000_deep_is_a_400(admin: httpx.AsyncClient, body: str) -> None:
    before = (await admin.get("/_sim/scenario")).json()
    r = await admin.put("/_sim/scenario", content=body)
    assert r.status_code == 400
    assert r.json()["text"].startswith("400 Bad Request: PUT /_sim/scenario:1: nested deeper than")
    assert (await admin.get("/_sim/scenario")).json() == before  # nothing changed


async def test_the_scenario_route_still_needs_the_admin_token(client: httpx.AsyncClient) -> None:
    r = await client.put("/_sim/scenario", content="[" * DEEP, headers={"authorization": "Bearer wrong"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    "name",
    [
        "/etc/shadow",  # the request of the issue
        "/etc/passwd",
        "../../../../../../etc/passwd",
        "..%2F..%2Fetc%2Fpasswd",
        "scenarios/../../etc/passwd",
        "..",
    ],
)
async def test_name_never_opens_a_path(admin: httpx.AsyncClient, name: str) -> None:
    r = await admin.put(f"/_sim/scenario?name={name}")
    assert r.status_code == 400
    text = r.json()["text"]
    assert text.startswith("400 Bad Request: ?name=: expected a scenario name")
    assert "root:" not in text


async def test_name_never_quotes_a_file_outside_the_library(admin: httpx.AsyncClient, tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("not: [a, scenario\n")  # invalid YAML: the old loader quoted it in its error
    r = await admin.put("/_sim/scenario", params={"name": str(secret)})
    assert r.status_code == 400
    assert "not: [a" not in r.json()["text"] and str(tmp_path) not in r.json()["text"]


async def test_a_library_name_still_loads(admin: httpx.AsyncClient) -> None:
    r = await admin.put("/_sim/scenario?name=flaky-5xx")
    assert r.status_code == 200 and r.json()["name"] == "flaky-5xx"
    r = await admin.put("/_sim/scenario?name=no-such-scenario")
    assert r.status_code == 400 and "known: baseline" in r.json()["text"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/_sim/scenario", "GET, HEAD, PUT"),
        ("POST", "/_sim/health", "GET, HEAD"),
        ("PUT", f"{TR}/conns", "GET, HEAD"),
        ("GET", "/api/v2/session/validate", "POST"),
        ("PUT", "/api/v2/session/login", "GET, HEAD, POST"),
        ("PATCH", f"{TR}/tasks/3", "GET, HEAD"),
    ],
)
async def test_405_lists_the_methods_the_path_takes(
    admin: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    r = await admin.request(method, path)
    assert r.status_code == 405
    assert r.headers["allow"] == allow
    assert r.json() == {"text": "405 Method Not Allowed"}
