"""Session faults end the session they answer for, in the store (both stores), as a real server would.

A ``session_expired`` fault (403) expires the login session the request carried and ``session_invalid``
(401) forgets it: that session keeps failing after the fault, while a fresh login works. A ``status``
fault of 401/403 is only an answer; requests without a session, with an unknown one or with the API
token get the fault's answer and nothing else changes.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from simulator.scenarios import Scenario

from .conftest import TOKEN, TR

pytestmark = pytest.mark.anyio
LOGIN = {"username": "admin", "password": "tanium"}


def run_fault(app: Starlette, fault: str) -> None:
    """Run a scenario whose one rule answers the next ``list_connections`` with ``fault``."""
    rule = f"faults: [{{name: gone, match: {{operation: list_connections}}, times: 1, fault: {fault}}}]"
    app.state.runtime.install(Scenario.from_text(rule), seed=1)


async def login(client: httpx.AsyncClient) -> str:
    r = await client.post("/api/v2/session/login", json=LOGIN)
    assert r.status_code == 200, r.text
    session: str = r.json()["data"]["session"]
    return session


async def conns(client: httpx.AsyncClient, session: str) -> int:
    return (await client.get(f"{TR}/conns", headers={"session": session})).status_code


async def test_session_expired_fault_expires_the_session_it_answered(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    stale, bystander = await login(client), await login(client)
    run_fault(app, "{type: session_expired}")
    assert await conns(client, stale) == 403  # the fault
    assert await conns(client, stale) == 403  # the store: the rule fired once, the session stays expired
    r = await client.post("/api/v2/session/validate", json={"session": stale})
    assert r.status_code == 403 and r.json() == {"text": "403 Forbidden: session expired"}
    fresh = await login(client)  # what a client does next: log in again, and use the NEW session
    assert await conns(client, fresh) == 200
    assert await conns(client, bystander) == await conns(client, TOKEN) == 200  # only that session ended


async def test_session_invalid_fault_forgets_the_session_it_answered(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    stale = await login(client)
    run_fault(app, "{type: session_invalid}")
    assert await conns(client, stale) == 401
    r = await client.get(f"{TR}/conns", headers={"session": stale})
    assert r.status_code == 401 and r.json() == {"text": "401 Unauthorized: invalid session"}
    assert await conns(client, await login(client)) == 200


@pytest.mark.parametrize("status", [401, 403])
async def test_a_status_fault_of_401_or_403_leaves_the_session_alone(
    app: Starlette, client: httpx.AsyncClient, status: int
) -> None:
    session = await login(client)
    run_fault(app, f"{{type: status, status: {status}}}")
    assert await conns(client, session) == status
    assert await conns(client, session) == 200


@pytest.mark.parametrize("fault", ["session_expired", "session_invalid"])
@pytest.mark.parametrize("credential", [TOKEN, "", "1-99-nosuchsession"])
async def test_without_a_login_session_a_session_fault_is_only_its_answer(
    app: Starlette, client: httpx.AsyncClient, fault: str, credential: str
) -> None:
    session = await login(client)
    run_fault(app, f"{{type: {fault}}}")
    assert await conns(client, credential) == (403 if fault == "session_expired" else 401)
    assert await conns(client, TOKEN) == await conns(client, session) == 200
    assert await conns(client, credential) == (200 if credential == TOKEN else 401)
