"""The retry policy (client/_retry.py) against respx: what is retried, how long it waits, when it stops."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from httpx import Response

from client._client import AsyncTaniumClient
from client._errors import (
    BadRequest,
    ConnectError,
    NotFound,
    RateLimited,
    ServerError,
    TimeoutError_,
    TLSError,
    TransportError,
)
from client._policy import RequestContext
from client._retry import RetryBudget, RetryPolicy, classify, track_attempts
from tests.inprocess.tanium_fakes import BASE, TOKEN, TR, FakeClock, ok, task

pytestmark = pytest.mark.anyio
NOT_FOUND = Response(404, json={"text": "404 Item Not Found"})


def unavailable(retry_after: str | None = None) -> Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Response(503, json={"text": "503 Service Unavailable"}, headers=headers)


def limited(retry_after: str) -> Response:
    return Response(429, json={"text": "429 Too Many Requests"}, headers={"Retry-After": retry_after})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def policy_for(clock: FakeClock, **kwargs: object) -> RetryPolicy:
    options: dict[str, object] = {"clock": clock, "sleep": clock.sleep, "rng": random.Random(5)}
    options.update(kwargs)
    return RetryPolicy(**options)  # type: ignore[arg-type]


@pytest.fixture
async def tanium(clock: FakeClock) -> AsyncIterator[AsyncTaniumClient]:
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy_for(clock)) as client:
        yield client


# --------------------------------------------------------------------------- what is retried


async def test_a_503_then_200_is_one_retry_after_a_backoff(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock
) -> None:
    route = mock.get(f"{TR}/tasks/833").mock(side_effect=[unavailable(), ok(task("STARTED"))])
    assert (await tanium.get_task(833)).status == "STARTED"
    assert route.call_count == 2
    assert len(clock.sleeps) == 1 and 0.25 <= clock.sleeps[0] <= 0.5  # initial 0.5 s, up to half jitter


async def test_retry_after_is_honoured_over_a_shorter_backoff(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock
) -> None:
    route = mock.get(f"{TR}/conns").mock(side_effect=[limited("7"), limited("3"), ok([])])
    assert await tanium.list_connections() == []
    assert route.call_count == 3
    assert clock.sleeps == [7.0, 3.0]  # the server's wait, not the 0.5 s / 1 s backoff


async def test_a_retry_after_longer_than_allowed_is_not_waited_for(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(f"{TR}/conns").mock(side_effect=[limited("3600"), ok([])])
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy_for(clock, max_retry_after_s=60)) as c:
        with pytest.raises(RateLimited) as info:
            await c.list_connections()
    assert route.call_count == 1 and clock.sleeps == []
    assert info.value.retry_after == 3600.0


async def test_a_503_retry_after_is_waited_out_on_the_injected_clock(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock
) -> None:
    route = mock.get(f"{TR}/tasks/833").mock(side_effect=[unavailable("3"), ok(task("STARTED"))])
    assert (await tanium.get_task(833)).status == "STARTED"
    assert route.call_count == 2
    assert clock.sleeps == [3.0] and clock.now >= 3.0  # not the 0.25-0.5 s backoff; no real sleep


async def test_a_503_retry_after_as_an_http_date_is_waited_out(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("client._responses.time.time", lambda: 40.0)  # the date is relative to the wall clock
    later = unavailable("Thu, 01 Jan 1970 00:00:45 GMT")
    route = mock.get(f"{TR}/conns").mock(side_effect=[later, ok([])])
    assert await tanium.list_connections() == []
    assert route.call_count == 2 and clock.sleeps == [5.0]


async def test_a_longer_backoff_wins_over_a_short_503_retry_after(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(f"{TR}/conns").mock(side_effect=[unavailable("1"), ok([])])
    policy = policy_for(clock, initial_s=4.0, jitter=0.0)
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy) as c:
        assert await c.list_connections() == []
    assert route.call_count == 2 and clock.sleeps == [4.0]  # Retry-After is a floor, not the wait


@pytest.mark.parametrize("too_long", [limited("3600"), unavailable("3600")], ids=["429", "503"])
async def test_a_too_long_retry_after_gives_up_the_same_for_429_and_503(
    mock: respx.MockRouter, clock: FakeClock, too_long: Response
) -> None:
    route = mock.get(f"{TR}/conns").mock(side_effect=[too_long, ok([])])
    policy = policy_for(clock, max_retry_after_s=60)
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy) as c:
        with pytest.raises((RateLimited, ServerError)) as info:
            await c.list_connections()
    assert route.call_count == 1 and clock.sleeps == []  # not waited for, not retried early either
    assert isinstance(info.value, RateLimited | ServerError) and info.value.retry_after == 3600.0
    assert policy.stats.gave_up == {"retry_after_too_long": 1}
    assert "retry after 3600 s" in str(info.value)


async def test_a_retried_5xx_other_than_503_honours_its_retry_after_too(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock
) -> None:
    gateway = Response(502, json={"text": "502 Bad Gateway"}, headers={"Retry-After": "6"})
    route = mock.get(f"{TR}/tasks/833").mock(side_effect=[gateway, ok(task("COMPLETED"))])
    assert (await tanium.get_task(833)).status == "COMPLETED"
    assert route.call_count == 2 and clock.sleeps == [6.0]


async def test_a_503_retry_after_on_a_post_is_waited_out_before_repeating_it(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock
) -> None:
    connect = mock.post(f"{TR}/conns/connect").mock(side_effect=[unavailable("2"), ok("remote:x:1:")])
    assert await tanium.connect("1") == "remote:x:1:"  # refused: safe to repeat, but not sooner
    assert connect.call_count == 2 and clock.sleeps == [2.0]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        Response(500, json={"text": "500 Internal Server Error"}),
        Response(502, json={"text": "502 Bad Gateway"}),
        Response(504, json={"text": "504 Gateway Timeout"}),
    ],
)
async def test_transient_failures_of_a_get_are_retried(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock, failure: Response | Exception
) -> None:
    route = mock.get(f"{TR}/tasks/833").mock(side_effect=[failure, failure, ok(task("COMPLETED"))])
    assert (await tanium.get_task(833)).status == "COMPLETED"
    assert route.call_count == 3 and len(clock.sleeps) == 2


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (Response(400, json={"text": "400 Bad Request"}), BadRequest),
        (NOT_FOUND, NotFound),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), TLSError),
    ],
)
async def test_answers_that_would_repeat_are_not_retried(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock, failure: object, error: type
) -> None:
    route = mock.get(f"{TR}/tasks/833").mock(side_effect=[failure, ok(task("COMPLETED"))])
    with pytest.raises(error):
        await tanium.get_task(833)
    assert route.call_count == 1 and clock.sleeps == []


async def test_a_post_is_retried_only_when_the_server_cannot_have_acted(
    mock: respx.MockRouter, tanium: AsyncTaniumClient, clock: FakeClock
) -> None:
    connect = mock.post(f"{TR}/conns/connect")
    connect.side_effect = [httpx.ConnectError("refused"), unavailable("1"), limited("2"), ok("remote:x:1:")]
    assert await tanium.connect("1") == "remote:x:1:"  # never sent, 503, 429: all safe to repeat
    assert connect.call_count == 4
    connect.side_effect = [httpx.ReadError("reset after sending"), ok("remote:x:1:")]
    with pytest.raises(TransportError):
        await tanium.connect("1")  # may have connected: not repeated blindly
    connect.side_effect = [Response(502, json={"text": "502 Bad Gateway"}), ok("remote:x:1:")]
    with pytest.raises(ServerError):
        await tanium.connect("1")
    assert connect.call_count == 6


async def test_retry_unsafe_repeats_an_ambiguous_post(mock: respx.MockRouter, clock: FakeClock) -> None:
    connect = mock.post(f"{TR}/conns/connect")
    connect.side_effect = [httpx.ReadError("reset after sending"), ok("remote:x:1:")]
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy_for(clock, retry_unsafe=True)) as c:
        with track_attempts() as log:
            assert await c.connect("1") == "remote:x:1:"
    assert log.attempts == 2 and log.retried and log.ambiguous  # what the workflow reconciles on


# --------------------------------------------------------------------------- bounds


async def test_attempts_bound_the_retries_and_the_error_says_so(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(f"{TR}/conns").mock(return_value=unavailable())
    policy = policy_for(clock, attempts=3)
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy) as c:
        with pytest.raises(ServerError) as info:
            await c.list_connections()
    assert route.call_count == 3
    assert info.value.__notes__ == ["gave up after 3 attempts: attempts"]
    assert policy.stats.to_dict()["gave_up"] == {"attempts": 1}


async def test_the_backoff_grows_exponentially_up_to_its_cap_with_seeded_jitter(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    mock.get(f"{TR}/conns").mock(return_value=unavailable())
    policy = policy_for(clock, attempts=7, initial_s=1.0, multiplier=2.0, max_backoff_s=8.0, jitter=0.5)
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy) as c:
        with pytest.raises(ServerError):
            await c.list_connections()
    caps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert all(cap / 2 <= slept <= cap for slept, cap in zip(clock.sleeps, caps, strict=True))
    assert len(set(clock.sleeps)) == len(clock.sleeps)  # jittered, not lock-step
    again = FakeClock()
    replay = policy_for(again, attempts=7, initial_s=1.0, multiplier=2.0, max_backoff_s=8.0, jitter=0.5)
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=replay) as c:
        with pytest.raises(ServerError):
            await c.list_connections()
    assert again.sleeps == clock.sleeps  # same seed, same waits


async def test_the_deadline_stops_retrying_before_a_wait_would_cross_it(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = mock.get(f"{TR}/conns").mock(return_value=limited("4"))
    policy = policy_for(clock, attempts=100, deadline_s=10.0)
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy) as c:
        with pytest.raises(RateLimited) as info:
            await c.list_connections()
    assert clock.sleeps == [4.0, 4.0] and route.call_count == 3  # a third wait would end at 12 s
    assert "deadline" in info.value.__notes__[0]


async def test_the_budget_caps_retries_across_requests(mock: respx.MockRouter, clock: FakeClock) -> None:
    route = mock.get(f"{TR}/conns").mock(return_value=unavailable())
    budget = RetryBudget(ratio=0.0, min_retries=3)
    policy = policy_for(clock, attempts=10, budget=budget)
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=policy) as c:
        for _ in range(3):
            with pytest.raises(ServerError):
                await c.list_connections()
    assert route.call_count == 3 + 3  # three requests, three retries in all, then single attempts
    assert policy.stats.gave_up == {"budget": 3}


def test_budget_earns_a_fraction_of_a_retry_per_request() -> None:
    budget = RetryBudget(ratio=0.5, min_retries=0)
    assert not budget.withdraw()
    budget.deposit()
    budget.deposit()
    assert budget.withdraw() and not budget.withdraw()


def test_classify_separates_unsent_refused_and_ambiguous() -> None:
    assert classify(ConnectError("refused")) == "unsent"
    assert classify(RateLimited(429, "429", 1.0)) == "refused"
    assert classify(ServerError(503, "503")) == "refused"
    assert classify(ServerError(500, "500")) == "ambiguous"
    assert classify(TimeoutError_("hang")) == "ambiguous"
    assert classify(TLSError("untrusted")) is None
    assert classify(NotFound(404, "404")) is None


async def test_the_policy_sees_whether_a_request_is_idempotent(
    mock: respx.MockRouter, clock: FakeClock
) -> None:
    seen: list[RequestContext] = []

    class Spy(RetryPolicy):
        def retryable(self, context: RequestContext, exc: BaseException) -> bool:
            seen.append(context)
            return super().retryable(context, exc)

    mock.delete(f"{TR}/filedownload").mock(side_effect=[httpx.ReadError("reset"), ok({})])
    spy = Spy(clock=clock, sleep=clock.sleep, rng=random.Random(1))
    async with AsyncTaniumClient(BASE, token=TOKEN, policy=spy) as c:
        await c.delete_evidence(["u1"])  # DELETE is idempotent: a reset is retried
    assert [(s.method, s.idempotent) for s in seen] == [("DELETE", True)]


# --------------------------------------------------------------------------- the collect command line


@pytest.mark.parametrize(
    ("flags", "attempts"),
    [([], 4), (["--retries", "1"], 2), (["--retries", "0"], None), (["--no-retry"], None)],
)
def test_collect_retries_flags_choose_the_policy(flags: list[str], attempts: int | None) -> None:
    from client._policy import SingleAttempt
    from simulator.cli import build_parser
    from simulator.cli.collect import options_from_args

    argv = ["collect", "--url", "http://127.0.0.1:9", "--token", "t", "--client-id", "1", *flags]
    options = options_from_args(build_parser().parse_args(argv), env={})
    policy = options.policy()
    if attempts is None:
        assert isinstance(policy, SingleAttempt)
    else:
        assert isinstance(policy, RetryPolicy) and policy.attempts == attempts and policy.retry_unsafe
