"""Bad input never yields a 500 or a traceback, and changes nothing."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from .conftest import ADMIN, TOKEN, TR, World

pytestmark = pytest.mark.anyio

BODY_ROUTES = [
    ("POST", f"{TR}/conns/connect"),
    ("POST", "/api/v2/session/login"),
    ("POST", "/api/v2/session/validate"),
    ("POST", "/api/v2/session/logout"),
    ("DELETE", f"{TR}/filedownload"),
]
BAD_BODIES = [b"{", b"null", b"[]", b'"x"', b"\xff\xfe", b'{"target": {"clientId": 1e999}}', b"{}" * 3]


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize("body", BAD_BODIES)
async def test_malformed_bodies_get_a_4xx_envelope(
    client: httpx.AsyncClient, method: str, path: str, body: bytes
) -> None:
    r = await client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert set(r.json()) == {"text"} and r.json()["text"].startswith(str(r.status_code))


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_huge_bodies_are_413(client: httpx.AsyncClient, method: str, path: str) -> None:
    r = await client.request(method, path, content=b" " * (2 << 20))
    assert r.status_code == 413 and r.json()["text"].startswith("413 Payload Too Large")


async def test_huge_body_without_content_length_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b" " * 65536

    r = await client.post(f"{TR}/conns/connect", content=chunks())
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", f"{TR}/conns"),
        ("DELETE", f"{TR}/conns/connect"),
        ("PATCH", f"{TR}/tasks/1"),
        ("POST", f"{TR}/filedownload/abc"),
        ("GET", f"{TR}/conns/close/abc"),
        ("DELETE", "/api/v2/session/login"),
    ],
)
async def test_wrong_methods_are_405(client: httpx.AsyncClient, method: str, path: str) -> None:
    r = await client.request(method, path)
    assert r.status_code == 405 and r.json() == {"text": "405 Method Not Allowed"}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/etc/passwd",
        "/plugin/products/threat-response/api/v2/conns",
        f"{TR}/../../../../etc/passwd",
        "/_sim/nope",
    ],
)
async def test_unknown_routes_are_404(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404 and r.json() == {"text": "404 Item Not Found"}


@pytest.mark.parametrize(
    "path",
    [
        "../../../../etc/passwd",
        "/opt/cryptosense/traces/../../../etc/passwd",
        "/opt/cryptosense/traces/trace.cst.gz\x00.txt",
        "C:\\Windows\\System32\\config\\SAM",
        "//etc//passwd",
        "/" + "a" * 5000,
    ],
)
async def test_traversal_strings_never_reach_host_files(world: World, path: str) -> None:
    conn = await world.connected(0)
    r = await world.client.post(f"{TR}/conns/{conn['id']}/file", json={"path": path})
    if r.status_code == 200:
        world.clock.advance(2.0)
        task = (await world.client.get(f"{TR}/tasks/{r.json()['taskInfo']['id']}")).json()["data"]
        assert task["status"] == "ERROR" and task["results"]["fileResults"] == []
    else:
        assert r.status_code == 400 and r.json()["text"].startswith("400 Bad Request")
    assert (await world.client.get(f"{TR}/filedownload")).json()["totalCount"] == 0


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(body=json_values, target=json_values)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_connect_never_500s_on_any_json(body: object, target: object) -> None:
    import anyio

    from simulator.app import create_app
    from simulator.settings import Settings

    app = create_app(Settings(endpoints=3, token="token-aa", admin_token=ADMIN))

    async def go() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sim", headers={"session": "token-aa"}
        ) as client:
            for payload in (body, {"target": target}):
                r = await client.post(f"{TR}/conns/connect", json=payload)
                assert r.status_code in (200, 400), r.text
                if r.status_code == 400:
                    assert r.json()["text"].startswith("400 Bad Request")

    anyio.run(go)


async def test_a_simulator_bug_is_a_logged_500_in_the_vendor_envelope(
    app: Starlette,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Vendor routes run in the fault middleware's dispatcher: a bug there answers like the app's handler."""

    def broken(table: str) -> None:
        raise RuntimeError("boom")

    # the listing reads the store directly (its records' cached JSON): break the store read
    monkeypatch.setattr(app.state.backend.store, "values", broken)
    with caplog.at_level("ERROR", logger="tanium_sim"):
        r = await client.get(f"{TR}/conns")
    assert r.status_code == 500
    assert r.json() == {
        "text": "500 Internal Server Error: the simulator hit an unexpected error; see its log"
    }
    assert "RuntimeError: boom" in caplog.text and f"GET {TR}/conns" in caplog.text
    assert TOKEN not in caplog.text
    (entry,) = [e for e in app.state.runtime.journal.query() if e.operation == "list_connections"]
    assert entry.status == 500
    assert app.state.runtime.metrics.requests[("list_connections", "500")] == 1
