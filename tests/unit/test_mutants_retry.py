"""Tests that kill mutmut's survivors in client/_retry.py (docs/testing.md, "Mutation testing").

The policy is driven directly: a scripted ``attempt`` raises or answers, the clock and sleep are fake,
so every bound (attempts, deadline, Retry-After cap, budget) and every statistic is checked exactly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import httpx
import pytest

from client._errors import (
    APIError,
    BadRequest,
    ConnectError,
    NotFound,
    RateLimited,
    ServerError,
    TaniumError,
    TimeoutError_,
    TLSError,
    TransportError,
)
from client._policy import RequestContext
from client._retry import (
    AMBIGUOUS_STATUSES,
    REFUSED_STATUSES,
    AttemptLog,
    RetryBudget,
    RetryPolicy,
    RetryStats,
    classify,
    note_attempt,
    track_attempts,
)
from client._retry_log import record_retries
from tests.inprocess.tanium_fakes import FakeClock

GET = RequestContext.of("GET", "/plugin/products/threat-response/api/v1/tasks/9")
POST = RequestContext.of("POST", "/plugin/products/threat-response/api/v1/conns/connect")


class Clock(FakeClock):
    """A fake monotonic clock moved only by the policy's sleeps (and by hand), starting at 100 s."""

    def __init__(self) -> None:
        super().__init__(start=100.0)


class ZeroRandom(random.Random):
    def __init__(self, value: float = 0.0) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def make(clock: Clock, **kwargs: object) -> RetryPolicy:
    options: dict[str, object] = {"clock": clock, "sleep": clock.sleep, "rng": ZeroRandom(), "jitter": 0.0}
    options.update(kwargs)
    return RetryPolicy(**options)  # type: ignore[arg-type]


def scripted(*outcomes: BaseException | int) -> tuple[Callable[[], Awaitable[httpx.Response]], list[int]]:
    """An attempt that raises or answers (a status) in turn; the list counts the calls."""
    calls: list[int] = []

    async def attempt() -> httpx.Response:
        calls.append(1)
        outcome = outcomes[min(len(calls) - 1, len(outcomes) - 1)]
        if isinstance(outcome, BaseException):
            raise outcome
        return httpx.Response(outcome)

    return attempt, calls


def run(policy: RetryPolicy, context: RequestContext, attempt: Callable[[], Awaitable[httpx.Response]]):
    return asyncio.run(policy.execute(context, attempt))


# --------------------------------------------------------------------------- classify


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TLSError("bad cert"), None),
        (ConnectError("refused"), "unsent"),
        (TransportError("reset"), "ambiguous"),
        (TimeoutError_("slow"), "ambiguous"),
        (RateLimited(429, "429"), "refused"),
        (ServerError(503, "503"), "refused"),
        (ServerError(500, "500"), "ambiguous"),
        (ServerError(502, "502"), "ambiguous"),
        (ServerError(504, "504"), "ambiguous"),
        (ServerError(501, "501"), None),
        (BadRequest(400, "400"), None),
        (NotFound(404, "404"), None),
        (ValueError("x"), None),
        (TaniumError("other"), None),
    ],
)
def test_classify(exc: BaseException, kind: str | None) -> None:
    assert classify(exc) == kind


def test_status_sets() -> None:
    assert frozenset({429, 503}) == REFUSED_STATUSES
    assert frozenset({500, 502, 504}) == AMBIGUOUS_STATUSES


# --------------------------------------------------------------------------- attempt log


def test_attempt_log_defaults_and_properties() -> None:
    log = AttemptLog()
    assert (log.attempts, log.requests, log.failures) == (0, 0, [])
    assert not log.retried and not log.ambiguous
    log.requests, log.attempts = 1, 1
    assert not log.retried
    log.attempts = 2
    assert log.retried
    log.failures = ["refused", "final"]
    assert not log.ambiguous
    log.failures.append("ambiguous")
    assert log.ambiguous
    # Each log gets its own list.
    assert AttemptLog().failures == [] and AttemptLog().failures is not AttemptLog().failures


def test_note_attempt_records_only_inside_a_block() -> None:
    note_attempt(ServerError(500, "500"))  # outside: nothing, no error
    with track_attempts() as log:
        note_attempt()
        note_attempt(ServerError(500, "500"))
        note_attempt(BadRequest(400, "400"))
        note_attempt(ConnectError("refused"))
        with track_attempts() as inner:
            note_attempt()
        assert inner.attempts == 1
        note_attempt()
    assert log.attempts == 5
    assert log.failures == ["ambiguous", "final", "unsent"]
    note_attempt()  # the block is over: the log does not move
    assert log.attempts == 5


# --------------------------------------------------------------------------- budget


def test_budget_defaults_and_arithmetic() -> None:
    budget = RetryBudget()
    assert (budget.ratio, budget.min_retries, budget.requests, budget.spent) == (0.5, 20, 0, 0)
    assert budget.available == 20
    budget.deposit()
    budget.deposit()
    assert budget.requests == 2 and budget.available == 21
    assert budget.withdraw() and budget.spent == 1 and budget.available == 20


def test_budget_withdraw_stops_below_one() -> None:
    budget = RetryBudget(ratio=0.5, min_retries=1)
    budget.deposit()  # 1.5 available
    assert budget.withdraw()  # 0.5 left
    assert budget.available == 0.5
    assert not budget.withdraw()
    assert budget.spent == 1
    exact = RetryBudget(ratio=0.0, min_retries=1)
    assert exact.available == 1 and exact.withdraw() and not exact.withdraw()


@pytest.mark.parametrize("kwargs", [{"ratio": -0.1}, {"min_retries": -1}])
def test_budget_rejects_negative(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"^a retry budget needs ratio >= 0 and min_retries >= 0$"):
        RetryBudget(**kwargs)  # type: ignore[arg-type]


def test_budget_accepts_zero() -> None:
    budget = RetryBudget(ratio=0.0, min_retries=0)
    assert budget.available == 0 and not budget.withdraw()


# --------------------------------------------------------------------------- stats


def test_stats_to_dict() -> None:
    stats = RetryStats()
    assert stats.to_dict() == {"requests": 0, "attempts": 0, "retries": 0, "waited_s": 0.0, "gave_up": {}}
    stats = RetryStats(requests=1, attempts=2, retries=3, waited_s=1.23456)
    stats.gave_up["deadline"] += 2
    assert stats.to_dict() == {
        "requests": 1,
        "attempts": 2,
        "retries": 3,
        "waited_s": 1.235,
        "gave_up": {"deadline": 2},
    }
    assert RetryStats().gave_up is not RetryStats().gave_up


# --------------------------------------------------------------------------- constructor


def test_policy_defaults() -> None:
    policy = RetryPolicy()
    assert policy.attempts == 5
    assert policy.initial_s == 0.5
    assert policy.multiplier == 2.0
    assert policy.max_backoff_s == 30.0
    assert policy.jitter == 0.5
    assert policy.deadline_s == 120.0
    assert policy.max_retry_after_s == 120.0
    assert policy.retry_unsafe is False
    assert policy.honour_retry_after is True
    assert policy.resend_stale_session is False
    assert isinstance(policy.budget, RetryBudget) and policy.budget.min_retries == 20
    assert isinstance(policy.rng, random.Random)
    assert policy.stats == RetryStats()
    assert repr(policy) == "RetryPolicy(attempts=5, initial_s=0.5, deadline_s=120, retry_unsafe=False)"


def test_policy_keeps_what_it_is_given() -> None:
    clock = Clock()
    budget = RetryBudget(min_retries=3)
    rng = random.Random(3)
    policy = RetryPolicy(
        attempts=2,
        initial_s=0.25,
        multiplier=3.0,
        max_backoff_s=9.0,
        jitter=1.0,
        deadline_s=7.5,
        max_retry_after_s=4.0,
        retry_unsafe=True,
        honour_retry_after=False,
        resend_stale_session=True,
        budget=budget,
        clock=clock,
        sleep=clock.sleep,
        rng=rng,
    )
    assert (policy.attempts, policy.initial_s, policy.multiplier, policy.max_backoff_s) == (2, 0.25, 3.0, 9.0)
    assert (policy.jitter, policy.deadline_s, policy.max_retry_after_s) == (1.0, 7.5, 4.0)
    assert policy.retry_unsafe is True and policy.honour_retry_after is False
    assert policy.resend_stale_session is True
    assert policy.budget is budget and policy.clock is clock and policy.rng is rng
    assert policy.sleep == clock.sleep
    assert repr(policy) == "RetryPolicy(attempts=2, initial_s=0.25, deadline_s=7.5, retry_unsafe=True)"


def test_policy_accepts_bounds() -> None:
    RetryPolicy(attempts=1, jitter=0.0)
    RetryPolicy(attempts=1, jitter=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, r"^attempts must be at least 1$"),
        ({"jitter": -0.01}, r"^jitter is a fraction between 0 and 1$"),
        ({"jitter": 1.01}, r"^jitter is a fraction between 0 and 1$"),
    ],
)
def test_policy_rejects(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- decisions


def test_retryable() -> None:
    policy = make(Clock())
    assert policy.retryable(GET, ServerError(500, "500"))
    assert not policy.retryable(POST, ServerError(500, "500"))
    assert policy.retryable(POST, ServerError(503, "503"))
    assert policy.retryable(POST, ConnectError("refused"))
    assert not policy.retryable(GET, TLSError("bad"))
    assert not policy.retryable(GET, BadRequest(400, "400"))
    assert make(Clock(), retry_unsafe=True).retryable(POST, ServerError(500, "500"))
    assert not make(Clock(), retry_unsafe=True).retryable(POST, BadRequest(400, "400"))


def test_backoff_exponential_capped_and_jittered() -> None:
    policy = make(Clock(), initial_s=0.5, multiplier=3.0, max_backoff_s=10.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 10.0]
    jittered = make(Clock(), initial_s=2.0, multiplier=2.0, jitter=0.5, rng=ZeroRandom(0.5))
    assert jittered.backoff(1) == 2.0 * (1.0 - 0.25)
    assert jittered.backoff(2) == 4.0 * 0.75


def test_wait_for_honours_a_longer_retry_after_only() -> None:
    policy = make(Clock(), initial_s=2.0)
    assert policy.wait_for(1, ServerError(503, "503", retry_after=5.0)) == 5.0
    assert policy.wait_for(1, ServerError(503, "503", retry_after=1.0)) == 2.0
    assert policy.wait_for(1, ServerError(500, "500")) == 2.0
    assert policy.wait_for(2, None) == 4.0
    assert policy.wait_for(1, TransportError("reset")) == 2.0
    impolite = make(Clock(), initial_s=2.0, honour_retry_after=False)
    assert impolite.wait_for(1, ServerError(503, "503", retry_after=5.0)) == 2.0


# --------------------------------------------------------------------------- execute


def test_success_first_time() -> None:
    clock = Clock()
    policy = make(clock)
    attempt, calls = scripted(200)
    with track_attempts() as log:
        response = run(policy, GET, attempt)
    assert response.status_code == 200 and len(calls) == 1
    assert (log.requests, log.attempts, log.failures) == (1, 1, [])
    assert policy.stats.to_dict() == {
        "requests": 1,
        "attempts": 1,
        "retries": 0,
        "waited_s": 0.0,
        "gave_up": {},
    }
    assert policy.budget.requests == 1 and policy.budget.spent == 0
    assert clock.sleeps == []


def test_retries_then_succeeds_with_stats_log_and_notes() -> None:
    clock = Clock()
    policy = make(clock, initial_s=1.0, multiplier=2.0)
    attempt, calls = scripted(ServerError(503, "503", retry_after=3.0), TransportError("reset"), 200)
    with record_retries() as retries, track_attempts() as log:
        response = run(policy, GET, attempt)
    assert response.status_code == 200 and len(calls) == 3
    assert clock.sleeps == [3.0, 2.0]
    assert policy.stats.to_dict() == {
        "requests": 1,
        "attempts": 3,
        "retries": 2,
        "waited_s": 5.0,
        "gave_up": {},
    }
    assert (log.requests, log.attempts, log.failures) == (1, 3, ["refused", "ambiguous"])
    assert policy.budget.spent == 2
    events = [e.to_dict() for e in retries.events]
    assert events == [
        {"operation": "GET /tasks/9", "reason": "503", "wait_s": 3.0, "retry_after_s": 3.0},
        {"operation": "GET /tasks/9", "reason": "reset", "wait_s": 2.0, "retry_after_s": None},
    ]


def test_retry_after_not_noted_when_not_honoured() -> None:
    clock = Clock()
    policy = make(clock, initial_s=1.0, honour_retry_after=False)
    attempt, _ = scripted(ServerError(503, "503", retry_after=3.0), 200)
    with record_retries() as retries:
        run(policy, GET, attempt)
    assert clock.sleeps == [1.0]
    assert [e.to_dict() for e in retries.events] == [
        {"operation": "GET /tasks/9", "reason": "503", "wait_s": 1.0, "retry_after_s": None}
    ]


def test_gives_up_after_attempts_with_a_note() -> None:
    clock = Clock()
    policy = make(clock, attempts=3, initial_s=1.0)
    attempt, calls = scripted(ServerError(503, "503"))
    with track_attempts() as log, pytest.raises(ServerError) as caught:
        run(policy, GET, attempt)
    assert len(calls) == 3
    assert caught.value.__notes__ == ["gave up after 3 attempts: attempts"]
    assert policy.stats.gave_up == {"attempts": 1}
    assert policy.stats.retries == 2 and policy.stats.attempts == 3
    assert log.failures == ["refused", "refused", "refused"]


def test_single_attempt_failure_gets_no_note() -> None:
    policy = make(Clock(), attempts=1)
    attempt, calls = scripted(ServerError(503, "503"))
    with pytest.raises(ServerError) as caught:
        run(policy, GET, attempt)
    assert len(calls) == 1
    assert not hasattr(caught.value, "__notes__")
    assert policy.stats.gave_up == {"attempts": 1}


def test_not_retryable_raises_at_once() -> None:
    policy = make(Clock())
    attempt, calls = scripted(BadRequest(400, "400"))
    with track_attempts() as log, pytest.raises(BadRequest):
        run(policy, GET, attempt)
    assert len(calls) == 1 and log.failures == ["final"]
    assert policy.stats.retries == 0


def test_post_ambiguous_is_not_retried_unless_unsafe() -> None:
    attempt, calls = scripted(ServerError(500, "500"), 200)
    with pytest.raises(ServerError):
        run(make(Clock()), POST, attempt)
    assert len(calls) == 1
    attempt, calls = scripted(ServerError(500, "500"), 200)
    assert run(make(Clock(), retry_unsafe=True), POST, attempt).status_code == 200
    assert len(calls) == 2


def test_too_long_retry_after_stops_at_once() -> None:
    clock = Clock()
    policy = make(clock, max_retry_after_s=10.0)
    attempt, calls = scripted(RateLimited(429, "429", retry_after=10.5))
    with pytest.raises(RateLimited):
        run(policy, GET, attempt)
    assert len(calls) == 1 and clock.sleeps == []
    assert policy.stats.gave_up == {"retry_after_too_long": 1}
    # Exactly the cap is waited for.
    clock = Clock()
    policy = make(clock, max_retry_after_s=10.0)
    attempt, calls = scripted(RateLimited(429, "429", retry_after=10.0), 200)
    assert run(policy, GET, attempt).status_code == 200
    assert clock.sleeps == [10.0]


def test_deadline_counts_elapsed_time_and_the_upcoming_wait() -> None:
    # 2 s elapsed by the attempt itself + 1 s wait = 3 s: exactly the deadline is allowed.
    clock = Clock()
    policy = make(clock, initial_s=1.0, deadline_s=3.0)

    async def slow() -> httpx.Response:
        clock.now += 2.0
        if len(clock.sleeps) == 0:
            raise ServerError(503, "503")
        return httpx.Response(200)

    assert run(policy, GET, slow).status_code == 200
    assert clock.sleeps == [1.0]
    # Past it by a little: gives up.
    clock = Clock()
    policy = make(clock, initial_s=1.0, deadline_s=2.5)

    async def slow_fail() -> httpx.Response:
        clock.now += 2.0
        raise ServerError(503, "503")

    with pytest.raises(ServerError) as caught:
        run(policy, GET, slow_fail)
    assert clock.sleeps == []
    assert policy.stats.gave_up == {"deadline": 1}
    assert not hasattr(caught.value, "__notes__")


def test_deadline_note_after_several_attempts() -> None:
    clock = Clock()
    policy = make(clock, initial_s=1.0, multiplier=1.0, deadline_s=2.5, attempts=10)
    attempt, calls = scripted(ServerError(503, "503"))
    with pytest.raises(ServerError) as caught:
        run(policy, GET, attempt)
    assert clock.sleeps == [1.0, 1.0] and len(calls) == 3
    assert caught.value.__notes__ == ["gave up after 3 attempts: deadline"]
    assert policy.stats.waited_s == 2.0


def test_budget_exhausted_stops() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.0, min_retries=1)
    policy = make(clock, budget=budget, attempts=10, initial_s=1.0)
    attempt, calls = scripted(ServerError(503, "503"))
    with pytest.raises(ServerError) as caught:
        run(policy, GET, attempt)
    assert len(calls) == 2
    assert policy.stats.gave_up == {"budget": 1}
    assert caught.value.__notes__ == ["gave up after 2 attempts: budget"]


def test_budget_not_spent_when_another_bound_stops() -> None:
    budget = RetryBudget(ratio=0.0, min_retries=5)
    policy = make(Clock(), budget=budget, attempts=1)
    attempt, _ = scripted(ServerError(503, "503"))
    with pytest.raises(ServerError):
        run(policy, GET, attempt)
    assert budget.spent == 0 and budget.requests == 1


def test_non_tanium_error_gets_no_note() -> None:
    # A non-Tanium exception is not retried: it passes through untouched.
    policy = make(Clock(), attempts=3)
    attempt, calls = scripted(ValueError("boom"))
    with track_attempts() as log, pytest.raises(ValueError, match=r"^boom$") as caught:
        run(policy, GET, attempt)
    assert len(calls) == 1 and not hasattr(caught.value, "__notes__")
    assert log.failures == ["final"]


def test_shared_budget_counts_every_request() -> None:
    budget = RetryBudget(ratio=1.0, min_retries=0)
    policy = make(Clock(), budget=budget)
    for _ in range(3):
        attempt, _ = scripted(200)
        run(policy, GET, attempt)
    assert budget.requests == 3 and policy.stats.requests == 3 and policy.stats.attempts == 3


def test_api_error_retry_after_read_only_from_api_errors() -> None:
    class Odd(TransportError):
        retry_after = 50.0

    clock = Clock()
    policy = make(clock, initial_s=1.0, max_retry_after_s=10.0)
    attempt, _ = scripted(Odd("reset"), 200)
    assert run(policy, GET, attempt).status_code == 200
    assert clock.sleeps == [1.0]
    assert isinstance(ServerError(500, "x"), APIError)


def test_requests_in_one_block_add_up() -> None:
    policy = make(Clock())
    with track_attempts() as log:
        for _ in range(3):
            attempt, _ = scripted(200)
            run(policy, GET, attempt)
    assert (log.requests, log.attempts) == (3, 3)
    assert not log.retried


def test_small_retry_after_cap_does_not_stop_errors_without_one() -> None:
    # No Retry-After counts as 0 s, under any cap, even one below a second.
    clock = Clock()
    policy = make(clock, max_retry_after_s=0.5, initial_s=0.25)
    attempt, calls = scripted(ServerError(503, "503"), 200)
    assert run(policy, GET, attempt).status_code == 200
    assert len(calls) == 2 and clock.sleeps == [0.25]
    assert policy.stats.gave_up == {}
