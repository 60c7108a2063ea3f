"""The workflow's cleanup (client/_workflow.py): it survives cancellation, and each of its failures is
reported, not raised over the error that started it.

Cancellation: the calls cleanup makes really suspend here (each respx answer awaits a checkpoint), so a
cancelled scope that is not shielded would cancel them; anyio's cancel scopes re-deliver cancellation at
every checkpoint inside them, where a bare ``asyncio.Task.cancel()`` is delivered once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import httpx
import pytest
import respx

from client._client import AsyncTaniumClient
from client._errors import ServerError, TaskFailed
from client._workflow import PollPolicy, collect_trace
from tests.inprocess.tanium_fakes import (
    BASE,
    CLIENT_ID,
    CONN_ID,
    TOKEN,
    UUID,
    FakeClock,
    FakeTanium,
    ok,
    plays,
    task,
)

pytestmark = pytest.mark.anyio
POLL = PollPolicy(interval_s=1.0, max_interval_s=4.0, multiplier=2.0)
FAILED = httpx.Response(500, json={"text": "500 Internal Server Error"})


@pytest.fixture
async def tanium() -> AsyncIterator[AsyncTaniumClient]:
    async with AsyncTaniumClient(BASE, token=TOKEN) as client:
        yield client


def suspending(route: respx.Route, done: list[str], name: str) -> None:
    """Make ``route`` await a checkpoint before answering, and note ``name`` once it has answered."""
    answer: Callable[[httpx.Request], httpx.Response] = route.side_effect or (lambda _: route.return_value)

    async def effect(request: httpx.Request) -> httpx.Response:
        await anyio.lowlevel.checkpoint()  # a cancelled, unshielded scope raises here
        response = answer(request)
        done.append(name)
        return response

    route.side_effect = effect


def hanging_poll(
    fake: FakeTanium, clock: FakeClock, polling: anyio.Event
) -> Callable[[float], Awaitable[None]]:
    """A sleep that parks forever once the task is being polled (the workflow waits to be cancelled)."""

    async def sleep(seconds: float) -> None:
        if fake.task.called:
            polling.set()
            await anyio.sleep_forever()
        await clock.sleep(seconds)

    return sleep


def leftovers(dest: Path) -> list[Path]:
    return list(dest.glob(".*"))


def cleanup_routes(fake: FakeTanium) -> list[str]:
    done: list[str] = []
    suspending(fake.close, done, "close")
    suspending(fake.evidence_list, done, "evidence lookup")
    suspending(fake.delete, done, "delete")
    return done


async def test_cancelled_by_a_task_group_cleanup_still_closes_looks_up_and_deletes(
    fake: FakeTanium, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("STARTED", uuid=None)))  # still running when cancelled
    done = cleanup_routes(fake)
    clock, polling, finished = FakeClock(), anyio.Event(), []

    async def job() -> None:
        await collect_trace(
            tanium, CLIENT_ID, dest=tmp_path, poll=POLL, clock=clock, sleep=hanging_poll(fake, clock, polling)
        )
        finished.append(True)

    with anyio.fail_after(30):  # a bound on a hang, not a timing assertion
        async with anyio.create_task_group() as tg:
            tg.start_soon(job)
            await polling.wait()
            tg.cancel_scope.cancel()
    assert finished == []  # the cancellation went through the workflow
    assert done == ["close", "evidence lookup", "delete"]
    assert fake.delete.calls.last.request.content == b'{"ids":["%s"]}' % UUID.encode()
    assert leftovers(tmp_path) == [], "temporary files left behind"


async def test_cancelled_asyncio_task_cleanup_still_closes_looks_up_and_deletes(
    fake: FakeTanium, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("STARTED", uuid=None)))
    done = cleanup_routes(fake)
    clock, polling = FakeClock(), anyio.Event()
    job = asyncio.ensure_future(
        collect_trace(
            tanium, CLIENT_ID, dest=tmp_path, poll=POLL, clock=clock, sleep=hanging_poll(fake, clock, polling)
        )
    )
    with anyio.fail_after(30):
        await polling.wait()
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
    assert done == ["close", "evidence lookup", "delete"]


# --------------------------------------------------------------------------- each cleanup failure


async def failed_task(tanium: AsyncTaniumClient, tmp_path: Path) -> TaskFailed:
    """Collect with a task that ends ERROR (so cleanup runs on the failure path); the raised error."""
    clock = FakeClock()
    with pytest.raises(TaskFailed) as info:
        await collect_trace(tanium, CLIENT_ID, dest=tmp_path, poll=POLL, clock=clock, sleep=clock.sleep)
    return info.value


async def test_close_fails_the_evidence_is_still_deleted_and_the_error_says_so(
    fake: FakeTanium, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("INCOMPLETE")))  # left evidence: cleanup must delete it
    fake.close.side_effect = plays(FAILED)
    error = await failed_task(tanium, tmp_path)
    assert error.reason == "task_failed"  # the primary error, not the cleanup's
    (note,) = error.__notes__
    assert note.startswith(f"could not close connection {CONN_ID}: ") and "500" in note
    assert fake.close.call_count == 1 and fake.delete.called


async def test_evidence_lookup_fails_nothing_is_deleted_and_the_error_says_so(
    fake: FakeTanium, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    # The poll fails while the task runs: its evidence uuid is unknown, so cleanup looks it up.
    fake.task.side_effect = plays(ok(task("STARTED", uuid=None)), ok(task("STARTED", uuid=None)), FAILED)
    fake.evidence_list.side_effect = plays(FAILED)
    clock = FakeClock()
    with pytest.raises(ServerError) as info:
        await collect_trace(tanium, CLIENT_ID, dest=tmp_path, poll=POLL, clock=clock, sleep=clock.sleep)
    notes = info.value.__notes__
    assert any(n.startswith("could not look for the evidence of task 833: ") for n in notes), notes
    assert fake.close.called and fake.evidence_list.called and not fake.delete.called


async def test_delete_fails_the_connection_is_still_closed_and_the_error_says_so(
    fake: FakeTanium, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("INCOMPLETE")))
    fake.delete.side_effect = plays(FAILED)
    error = await failed_task(tanium, tmp_path)
    (note,) = error.__notes__
    assert note.startswith(f"could not delete evidence {UUID}: ") and "500" in note
    assert fake.close.called and fake.delete.call_count == 1


async def test_every_cleanup_step_failing_reports_each_and_keeps_the_primary_error(
    fake: FakeTanium, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    fake.task.side_effect = plays(ok(task("INCOMPLETE")))
    fake.close.side_effect = plays(FAILED)
    fake.delete.side_effect = plays(FAILED)
    error = await failed_task(tanium, tmp_path)
    assert error.reason == "task_failed"
    close, delete = error.__notes__
    assert close.startswith(f"could not close connection {CONN_ID}: ")
    assert delete.startswith(f"could not delete evidence {UUID}: ")


async def test_a_cleanup_that_hangs_gives_up_after_cleanup_timeout_and_says_so(
    fake: FakeTanium, tanium: AsyncTaniumClient, tmp_path: Path
) -> None:
    """A close that never answers: cleanup stops at ``cleanup_timeout_s`` (real time: the one bound
    anyio's move_on_after measures) and the primary error carries the note; nothing waits longer."""

    async def never(request: httpx.Request) -> httpx.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    fake.task.side_effect = plays(ok(task("INCOMPLETE")))
    fake.close.side_effect = never
    clock = FakeClock()
    with anyio.fail_after(30), pytest.raises(TaskFailed) as info:
        await collect_trace(
            tanium,
            CLIENT_ID,
            dest=tmp_path,
            poll=POLL,
            clock=clock,
            sleep=clock.sleep,
            cleanup_timeout_s=0.05,
        )
    assert info.value.__notes__ == [f"cleanup for endpoint {CLIENT_ID} gave up after 0.05 s"]
    assert not fake.delete.called  # the close never returned, so the later steps never ran
