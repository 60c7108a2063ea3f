"""scenarios/session-expiry.yaml: the reference client logs in again and goes on with the NEW session;
a client that logs in again but retries with the expired one (``stale-session``) fails the matrix."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from client import AsyncTaniumClient, RetryPolicy, SessionExpired
from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.qa.runner import MatrixOptions, run_matrix
from simulator.qa.variants import REFERENCE, VARIANTS
from simulator.scenarios import Scenario
from simulator.settings import Settings

pytestmark = pytest.mark.anyio
SETTINGS = Settings(seed=5, endpoints=2, username="qa", password="secret")


@pytest.fixture
def transport() -> httpx.ASGITransport:
    app = create_app(SETTINGS, clock=ManualClock(), scenario="session-expiry")
    return httpx.ASGITransport(app=app)


@pytest.fixture
async def raw(transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield client


def tanium(transport: httpx.ASGITransport, *, resend_stale_session: bool = False) -> AsyncTaniumClient:
    return AsyncTaniumClient(
        "http://sim",
        username="qa",
        password="secret",
        transport=transport,
        policy=RetryPolicy(resend_stale_session=resend_stale_session),
    )


async def test_the_reference_client_logs_in_again_and_the_old_session_stays_expired(
    transport: httpx.ASGITransport, raw: httpx.AsyncClient
) -> None:
    async with tanium(transport) as client:
        first = await client.login()
        assert await client.list_connections() == []  # the rule's `after: 1`: this one passes
        assert await client.list_connections() == []  # 403, log in again, retried with the new session
        assert await client.validate() and not await client.validate(first)
    r = await raw.get("/plugin/products/threat-response/api/v1/conns", headers={"session": first})
    assert r.status_code == 403 and r.json() == {"text": "403 Forbidden: session expired"}


async def test_a_client_that_retries_with_the_old_session_gets_403_again(
    transport: httpx.ASGITransport,
) -> None:
    async with tanium(transport, resend_stale_session=True) as client:
        await client.list_connections()
        with pytest.raises(SessionExpired, match="logging in again did not help"):
            await client.list_connections()
        assert await client.list_connections() == []  # its next request carries the new session


async def test_the_matrix_passes_the_reference_client_and_catches_stale_session() -> None:
    scenarios = [Scenario.load("session-expiry")]
    reference = await run_matrix(scenarios, MatrixOptions(endpoints=3, seeds=(1,), variant=REFERENCE))
    assert reference.ok, [p for run in reference.runs for p in run.problems]
    assert reference.runs[0].outcomes["success"] == 3

    stale = await run_matrix(
        scenarios, MatrixOptions(endpoints=3, seeds=(1,), variant=VARIANTS["stale-session"])
    )
    (run,) = stale.runs
    assert not stale.ok and run.outcomes["session_expired"] == 1  # the endpoint whose listing got the 403
    assert any("ended session_expired, not allowed" in p for p in run.problems)
