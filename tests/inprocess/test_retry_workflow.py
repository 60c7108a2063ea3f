"""The workflow with retries: duplicated POSTs are found and cleaned, bad downloads fetched again.

respx plays the server (tests/inprocess/tanium_fakes.py); the last tests run the real simulator app
with an inline scenario whose fault makes the server act on a request whose answer is then lost, and
the QA matrix in-process over scenarios/duplicate-post.yaml and a 503's Retry-After.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from client._client import AsyncTaniumClient
from client._errors import IntegrityError, TransportError
from client._policy import SingleAttempt
from client._retry import RetryPolicy
from client._workflow import PollPolicy, collect_trace
from simulator.app import create_app
from simulator.clock import ManualClock
from simulator.qa.runner import MatrixOptions, run_matrix
from simulator.qa.variants import VARIANTS
from simulator.scenarios import Scenario
from simulator.settings import FleetProfile, Lifecycle, Settings
from tests.inprocess.tanium_fakes import (
    BASE,
    CLIENT_ID,
    CONN_ID,
    TOKEN,
    TR,
    TRACE,
    UUID,
    FakeClock,
    FakeTanium,
    conn,
    ok,
    plays,
    task,
    zip_response,
    zipcrypto_zip,
)

pytestmark = pytest.mark.anyio
POLL = PollPolicy(interval_s=1.0, max_interval_s=4.0, multiplier=2.0)
STRAY_UUID = "0f5b0f43-0000-4000-8000-00000000dead"
STRAY_CONN = "remote:web-01:123:1"


def retrying(clock: FakeClock) -> RetryPolicy:
    return RetryPolicy(retry_unsafe=True, clock=clock, sleep=clock.sleep, rng=random.Random(3))


async def collect(client: AsyncTaniumClient, clock: FakeClock, dest: Path) -> Any:
    return await collect_trace(
        client, CLIENT_ID, dest=dest, deadline_s=60.0, poll=POLL, clock=clock, sleep=clock.sleep
    )


def deleted_ids(route: respx.Route) -> list[str]:
    return [i for call in route.calls for i in json.loads(call.request.content)["ids"]]


def leftovers(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def listed_task(task_id: int, status: str, uuid: str | None) -> dict[str, Any]:
    body: dict[str, Any] = task(status, uuid=uuid, task_id=task_id)["data"]
    return body


# --------------------------------------------------------------------------- duplicated POSTs


async def test_a_retried_file_request_leaves_two_tasks_and_both_are_cleaned(
    fake: FakeTanium, mock: respx.MockRouter, tmp_path: Path
) -> None:
    clock = FakeClock()
    # The first POST reached the server (task 832 exists) but its answer was lost; the retry made 833.
    fake.request_file.side_effect = plays(
        httpx.ReadError("connection reset by peer"), fake.request_file.return_value
    )
    fake.tasks.return_value = ok(
        {"data": [listed_task(832, "STARTED", None), listed_task(833, "COMPLETED", UUID)]}
    )
    stray = mock.get(f"{TR}/tasks/832").mock(
        side_effect=plays(
            ok(task("STARTED", uuid=None, task_id=832)), ok(task("COMPLETED", uuid=STRAY_UUID, task_id=832))
        )
    )
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=retrying(clock)) as client:
        result = await collect(client, clock, tmp_path)
    assert result.task_id == 833 and result.bytes == len(TRACE)
    assert fake.request_file.call_count == 2 and fake.tasks.called
    assert stray.call_count == 2  # settled: its evidence only exists once it has ended
    assert sorted(deleted_ids(fake.delete)) == sorted([UUID, STRAY_UUID])
    assert result.warnings == ()


async def test_a_file_request_that_failed_after_acting_still_has_its_task_cleaned(
    fake: FakeTanium, mock: respx.MockRouter, tmp_path: Path
) -> None:
    clock = FakeClock()
    fake.request_file.side_effect = plays(httpx.ReadTimeout("no answer"))
    fake.tasks.return_value = ok({"data": [listed_task(832, "COMPLETED", STRAY_UUID)]})
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=SingleAttempt()) as client:
        with pytest.raises(TransportError):
            await collect(client, clock, tmp_path)
    assert fake.close.called
    assert deleted_ids(fake.delete) == [STRAY_UUID]


async def test_a_refused_file_request_needs_no_hunt(fake: FakeTanium, tmp_path: Path) -> None:
    clock = FakeClock()
    fake.request_file.side_effect = plays(
        httpx.Response(503, json={"text": "503"}), fake.request_file.return_value
    )
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=retrying(clock)) as client:
        await collect(client, clock, tmp_path)
    assert fake.request_file.call_count == 2
    assert not fake.tasks.called  # a 503 means the server did not act: nothing to reconcile


async def test_a_retried_connect_closes_the_connection_it_duplicated(
    fake: FakeTanium, mock: respx.MockRouter, tmp_path: Path
) -> None:
    clock = FakeClock()
    fake.connect.side_effect = plays(httpx.ReadTimeout("no answer"), ok(f"remote:undefined:{CLIENT_ID}:"))
    earlier = conn("waiting", id=STRAY_CONN, initiated_at=1_699_999_999_000)
    fake.conns.side_effect = plays(
        ok([]), ok([earlier, conn("waiting")]), ok([earlier | {"status": "connected"}, conn("connected")])
    )
    stray_close = mock.delete(f"{TR}/conns/close/{STRAY_CONN}").mock(return_value=ok({}))
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=retrying(clock)) as client:
        result = await collect(client, clock, tmp_path)
    assert result.connection_id == CONN_ID and fake.connect.call_count == 2
    assert fake.close.called and stray_close.called


# --------------------------------------------------------------------------- downloads


async def test_a_corrupt_download_is_fetched_again(fake: FakeTanium, tmp_path: Path) -> None:
    clock = FakeClock()
    tampered = zipcrypto_zip({"trace.cst.gz": TRACE[:-1] + bytes([TRACE[-1] ^ 1])})
    fake.download.side_effect = plays(zip_response(tampered), zip_response(fake.zip))
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        result = await collect(client, clock, tmp_path)
    assert fake.download.call_count == 2 and result.bytes == len(TRACE)
    assert (tmp_path / f"{CLIENT_ID}.cst.gz").read_bytes() == TRACE


async def test_a_download_failing_every_fetch_gives_up_typed_and_clean(
    fake: FakeTanium, tmp_path: Path
) -> None:
    clock = FakeClock()
    fake.download.side_effect = plays(zip_response(fake.zip[:60]))
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        with pytest.raises(IntegrityError) as info:
            await collect(client, clock, tmp_path)
    assert fake.download.call_count == 3
    assert "fetched 3 times" in info.value.__notes__[0]
    assert deleted_ids(fake.delete) == [UUID]
    assert leftovers(tmp_path) == []


async def test_a_short_body_is_fetched_again(fake: FakeTanium, tmp_path: Path) -> None:
    clock = FakeClock()
    cut = zip_response(fake.zip[: len(fake.zip) // 2], **{"Content-Length": str(len(fake.zip))})
    fake.download.side_effect = plays(cut, zip_response(fake.zip))
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        result = await collect(client, clock, tmp_path)
    assert fake.download.call_count == 2 and result.bytes == len(TRACE)


# --------------------------------------------------------------------------- against the simulator


def simulator(scenario: str, clock: ManualClock) -> Any:
    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    settings = Settings(
        seed=4,
        endpoints=3,
        token=TOKEN,
        admin_token="admin",
        lifecycle=Lifecycle(connect_delay_s=1.0, task_duration_s=2.0),
        fleet=FleetProfile(profile_mix={"small": 1.0}),
    )
    return create_app(settings, clock=clock, sleep=sleep, scenario=Scenario.from_text(scenario))


@pytest.mark.parametrize("operation", ["request_file", "connect"])
async def test_simulator_acting_on_a_post_whose_answer_is_lost_leaves_nothing(
    operation: str, tmp_path: Path
) -> None:
    clock = ManualClock()

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    app = simulator(
        f"faults: [{{name: lost-answer, match: {{operation: {operation}}}, times: 1,"
        " fault: {type: truncate, fraction: 0.5}}]",
        clock,
    )
    backend = app.state.backend
    client_id = backend.fleet.endpoint(0).client_id
    policy = RetryPolicy(retry_unsafe=True, clock=clock.now, sleep=sleep, rng=random.Random(1))
    transport = httpx.ASGITransport(app=app)
    async with AsyncTaniumClient("http://sim", token=TOKEN, transport=transport, policy=policy) as client:
        result = await collect_trace(
            client, client_id, dest=tmp_path, deadline_s=60, poll=POLL, clock=clock.now, sleep=sleep
        )
    manifest = backend.manifest(client_id)
    assert (result.sha256, result.bytes) == (manifest["sha256"], manifest["size"])
    state = backend.state_counts()
    made = state["tasks"] if operation == "request_file" else state["connections"]
    assert sum(made.values()) == 2  # the lost answer's twin exists on the server...
    assert state["connections"]["connected"] == state["connections"]["waiting"] == 0  # ...and is cleaned
    assert state["evidence"] == state["evidence_pending"] == 0


# --------------------------------------------------------------------------- the QA matrix on duplicate POSTs

DUPLICATE_POST = MatrixOptions(endpoints=2, seeds=(1,), in_process=True)


async def test_duplicate_post_scenario_provokes_twins_and_the_reference_client_reconciles_them() -> None:
    result = await run_matrix([Scenario.load("duplicate-post")], DUPLICATE_POST)
    run = result.runs[0]
    assert result.ok, run.problems
    assert run.outcomes["success"] == 2 and run.transport == "in-process"
    # Endpoint 2 had its connect and its file request acted on and the answer cut (every 2nd of each):
    # two POSTs repeated, and both twins they made were closed or deleted.
    assert run.retries == 2
    assert run.leaked_connections == run.leaked_evidence == 0


async def test_a_client_that_repeats_posts_blindly_fails_the_duplicate_post_scenario() -> None:
    options = replace(DUPLICATE_POST, variant=VARIANTS["blind-post"])
    result = await run_matrix([Scenario.load("duplicate-post")], options)
    run = result.runs[0]
    assert run.outcomes["success"] == 2  # it even "works"...
    assert not result.ok  # ...but leaves a connection and an evidence item per repeated POST
    assert run.leaked_connections == run.duplicate_connections == 1
    assert run.leaked_evidence == run.duplicate_evidence == 1
    assert any("where a connect was repeated" in p for p in run.problems)
    assert any("where a file request was repeated" in p for p in run.problems)


async def test_a_client_that_does_not_repeat_an_ambiguous_post_fails_typed_and_clean() -> None:
    options = replace(DUPLICATE_POST, variant=VARIANTS["no-retry"])
    result = await run_matrix([Scenario.load("duplicate-post")], options)
    run = result.runs[0]
    assert result.ok, run.problems
    assert run.outcomes["transport"] >= 1  # the lost answer is reported, not guessed at
    assert run.leaked_connections == run.leaked_evidence == 0  # what the server did unseen is undone


async def test_a_client_that_ignores_a_503_retry_after_fails_the_matrix() -> None:
    scenario = Scenario.from_text(
        "# Every first poll of a task is refused with a 503 and a Retry-After, for checking the wait.\n"
        "faults: [{name: busy, match: {operation: get_task}, every_n: 2, "
        "fault: {type: status, status: 503, retry_after_s: 5}}]\n"
    )
    options = MatrixOptions(endpoints=2, seeds=(1,))
    honest = await run_matrix([scenario], options)
    assert honest.ok, honest.runs[0].problems
    assert honest.runs[0].retries >= 2
    impatient = await run_matrix([scenario], replace(options, variant=VARIANTS["ignores-retry-after"]))
    run = impatient.runs[0]
    assert run.outcomes["success"] == 2 and not impatient.ok
    assert run.retry_after_violations == run.retries >= 2  # its 0.5-1 s backoff is always under 5 s
    assert any("before the Retry-After of a 429 or 503" in p for p in run.problems)
