"""Retries for the reference client: exponential backoff with jitter, ``Retry-After``, a budget, deadlines.

>>> policy = RetryPolicy(attempts=4, deadline_s=60.0)
>>> async with AsyncTaniumClient(url, token=token, policy=policy) as client:  # doctest: +SKIP
...     task = await client.get_task(833)          # a 503 or a reset is retried after a backoff

:class:`RetryPolicy` plugs into the client's seam (:class:`~client._policy.RequestPolicy`): every
request runs as ``policy.execute(context, attempt)``. The loop itself is tenacity's
(:class:`tenacity.AsyncRetrying`); this module only decides *whether* and *how long*, with the clock,
the sleep and the random source injected so tests run instantly and reproducibly. (stamina, the
friendlier wrapper, cannot take an injected sleep, clock or random source, hence tenacity directly.)

What is retried depends on whether the failed request may have changed something on the server:

=====================================  ===========================  ===================================
failure                                the server ...               retried for
=====================================  ===========================  ===================================
ConnectError (refused, DNS)            never saw the request        every method
429 RateLimited                        refused it                   every method, after ``Retry-After``
503 ServerError                        refused it                   every method, after ``Retry-After``
timeout, reset, short answer, 500,     may have acted on it         idempotent methods (GET, PUT,
502, 504                                                            DELETE); POST only with
                                                                    ``retry_unsafe=True``
TLS errors, other 4xx                  will answer the same again   never
=====================================  ===========================  ===================================

A POST that may have reached the server (``connect``, ``request_file``) is not repeated blindly: the
evidence workflow notices, through :func:`track_attempts`, that a call was retried or failed
ambiguously, and then hunts for the duplicates it may have caused (a second connection, a second
task and its evidence) and cleans them up too.

A ``Retry-After`` is honoured wherever the server sends one (429, 503, or another 5xx that is
retried): the wait is never shorter than it.

Bounds: ``attempts`` per request, ``deadline_s`` per request (waits included), a ``Retry-After``
longer than ``max_retry_after_s`` is not waited for (the error is raised at once, whatever its
status), and a :class:`RetryBudget` shared by all the requests of a client caps retries at a
fraction of the traffic, so a dead server is not hammered.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import tenacity

from client._errors import APIError, ConnectError, TaniumError, TLSError, TransportError
from client._policy import Attempt, RequestContext
from client._responses import route_name
from client._retry_log import note_retry, retry_reason

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

REFUSED_STATUSES = frozenset({429, 503})  # the server says it did not act on the request
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})  # it may have acted before failing


def classify(exc: BaseException) -> str | None:
    """``"unsent"``, ``"refused"``, ``"ambiguous"`` or None (not worth retrying) for a client error.

    >>> from client._errors import RateLimited, ServerError
    >>> classify(RateLimited(429, "429 Too Many Requests", 2.0))
    'refused'
    >>> classify(ServerError(500, "500 Internal Server Error")) , classify(TLSError("bad cert"))
    ('ambiguous', None)
    """
    if isinstance(exc, TLSError):
        return None  # a certificate problem does not fix itself
    if isinstance(exc, ConnectError):
        return "unsent"
    if isinstance(exc, TransportError):
        return "ambiguous"  # reset, timeout, short body: the request may have been acted upon
    if isinstance(exc, APIError):
        if exc.status in REFUSED_STATUSES:
            return "refused"
        if exc.status in AMBIGUOUS_STATUSES:
            return "ambiguous"
    return None


def _retry_after(exc: BaseException | None) -> float | None:
    """The server's ``Retry-After`` carried by an API error (429, 5xx), else None."""
    return exc.retry_after if isinstance(exc, APIError) else None


# --------------------------------------------------------------------------- attempt tracking


@dataclass
class AttemptLog:
    """The attempts made by the requests inside one :func:`track_attempts` block."""

    attempts: int = 0
    requests: int = 0
    failures: list[str] = field(default_factory=list)  # classify() of every failed attempt

    @property
    def retried(self) -> bool:
        return self.attempts > self.requests

    @property
    def ambiguous(self) -> bool:
        """Some attempt failed after the request may have reached the server."""
        return "ambiguous" in self.failures


_LOG: contextvars.ContextVar[AttemptLog | None] = contextvars.ContextVar("tanium_attempt_log", default=None)


@contextlib.contextmanager
def track_attempts() -> Iterator[AttemptLog]:
    """Count the attempts of the requests made inside the block (this task only).

    >>> with track_attempts() as log:  # doctest: +SKIP
    ...     await client.request_file(cid, path)
    >>> log.retried  # doctest: +SKIP
    True
    """
    log = AttemptLog()
    token = _LOG.set(log)
    try:
        yield log
    finally:
        _LOG.reset(token)


def note_attempt(failure: BaseException | None = None) -> None:
    """Record one attempt in the current :func:`track_attempts` block, if any (policies call this)."""
    log = _LOG.get()
    if log is None:
        return
    log.attempts += 1
    if failure is not None:
        log.failures.append(classify(failure) or "final")


# --------------------------------------------------------------------------- the budget


class RetryBudget:
    """Retries allowed: ``min_retries`` plus ``ratio`` per request made so far, shared by a client.

    >>> budget = RetryBudget(ratio=0.5, min_retries=1)
    >>> budget.deposit(); budget.deposit()  # two requests: 1 + 0.5 * 2 = 2 retries allowed
    >>> budget.withdraw(), budget.withdraw(), budget.withdraw()
    (True, True, False)
    """

    def __init__(self, *, ratio: float = 0.5, min_retries: int = 20) -> None:
        if ratio < 0 or min_retries < 0:
            raise ValueError("a retry budget needs ratio >= 0 and min_retries >= 0")
        self.ratio = ratio
        self.min_retries = min_retries
        self.requests = 0
        self.spent = 0

    @property
    def available(self) -> float:
        return self.min_retries + self.ratio * self.requests - self.spent

    def deposit(self) -> None:
        self.requests += 1

    def withdraw(self) -> bool:
        if self.available < 1:
            return False
        self.spent += 1
        return True


# --------------------------------------------------------------------------- the policy


@dataclass
class RetryStats:
    """What a policy did: requests, attempts, retries, and why it gave up (reason -> count)."""

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    waited_s: float = 0.0
    gave_up: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "attempts": self.attempts,
            "retries": self.retries,
            "waited_s": round(self.waited_s, 3),
            "gave_up": dict(self.gave_up),
        }


class RetryPolicy:
    """Retry transient failures with exponential backoff and jitter (see the module docstring).

    The n-th retry waits ``min(max_backoff_s, initial_s * multiplier ** (n - 1))``, less up to
    ``jitter`` of it (drawn from ``rng``), and never less than the server's ``Retry-After``.
    ``honour_retry_after=False`` waits the backoff alone, however long the server asked to wait: a
    deliberately impolite client, for ``tanium-sim qa --client ignores-retry-after`` (a ``Retry-After``
    over ``max_retry_after_s`` still ends the retries). ``resend_stale_session=True`` is broken on
    purpose too: after a 403 the client logs in again but repeats the request with the old session
    (:class:`~client._policy.RequestPolicy`; ``tanium-sim qa --client stale-session``).

    >>> policy = RetryPolicy(attempts=3, rng=random.Random(7), sleep=fake_sleep)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        attempts: int = 5,
        initial_s: float = 0.5,
        multiplier: float = 2.0,
        max_backoff_s: float = 30.0,
        jitter: float = 0.5,
        deadline_s: float = 120.0,
        max_retry_after_s: float = 120.0,
        retry_unsafe: bool = False,
        honour_retry_after: bool = True,
        resend_stale_session: bool = False,
        budget: RetryBudget | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError("jitter is a fraction between 0 and 1")
        self.attempts = attempts
        self.initial_s = initial_s
        self.multiplier = multiplier
        self.max_backoff_s = max_backoff_s
        self.jitter = jitter
        self.deadline_s = deadline_s
        self.max_retry_after_s = max_retry_after_s
        self.retry_unsafe = retry_unsafe
        self.honour_retry_after = honour_retry_after
        self.resend_stale_session = resend_stale_session
        self.budget = budget if budget is not None else RetryBudget()
        self.clock = clock
        self.sleep = sleep
        # Jitter only spreads clients apart; it needs no secrecy, and a seed makes runs repeatable.
        self.rng = rng or random.Random()
        self.stats = RetryStats()

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(attempts={self.attempts}, initial_s={self.initial_s:g}, "
            f"deadline_s={self.deadline_s:g}, retry_unsafe={self.retry_unsafe})"
        )

    def retryable(self, context: RequestContext, exc: BaseException) -> bool:
        """Whether ``exc`` on this request is worth another attempt (ignoring the bounds)."""
        kind = classify(exc)
        if kind is None:
            return False
        return kind != "ambiguous" or context.idempotent or self.retry_unsafe

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number ``retry`` (1-based), without ``Retry-After``."""
        base = min(self.max_backoff_s, self.initial_s * self.multiplier ** (retry - 1))
        return base * (1.0 - self.jitter * self.rng.random())

    def wait_for(self, retry: int, exc: BaseException | None) -> float:
        """Seconds to wait before retry number ``retry``: the backoff, or the server's longer Retry-After.

        >>> from client._errors import ServerError
        >>> RetryPolicy(jitter=0.0).wait_for(1, ServerError(503, "503", retry_after=3.0))
        3.0
        >>> RetryPolicy(jitter=0.0, initial_s=0.5).wait_for(1, ServerError(500, "500"))  # no Retry-After
        0.5
        """
        delay = self.backoff(retry)
        retry_after = _retry_after(exc) if self.honour_retry_after else None
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    async def execute(self, context: RequestContext, attempt: Attempt) -> httpx.Response:
        started = self.clock()
        self.stats.requests += 1
        self.budget.deposit()
        log = _LOG.get()
        if log is not None:
            log.requests += 1

        async def tracked() -> httpx.Response:
            self.stats.attempts += 1
            try:
                response = await attempt()
            except BaseException as exc:
                note_attempt(exc)
                raise
            note_attempt()
            return response

        def wait(state: tenacity.RetryCallState) -> float:
            return self.wait_for(state.attempt_number, state.outcome.exception() if state.outcome else None)

        def stop(state: tenacity.RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            reason = self._why_stop(state, started, exc)
            if reason is None:
                self.stats.retries += 1
                self.stats.waited_s += state.upcoming_sleep
                retry_after = _retry_after(exc) if self.honour_retry_after else None
                note_retry(  # for collect's report (client._retry_log)
                    route_name(context.method, context.path),
                    retry_reason(exc),
                    wait_s=state.upcoming_sleep,
                    retry_after_s=retry_after,
                )
                return False
            self.stats.gave_up[reason] += 1
            if isinstance(exc, TaniumError) and state.attempt_number > 1:
                exc.add_note(f"gave up after {state.attempt_number} attempts: {reason}")
            return True

        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(lambda exc: self.retryable(context, exc)),
            wait=wait,
            stop=stop,
            sleep=self.sleep,
            reraise=True,
        )
        return await retrying(tracked)

    def _why_stop(
        self, state: tenacity.RetryCallState, started: float, exc: BaseException | None
    ) -> str | None:
        if state.attempt_number >= self.attempts:
            return "attempts"
        if (_retry_after(exc) or 0.0) > self.max_retry_after_s:
            return "retry_after_too_long"
        if self.clock() - started + state.upcoming_sleep > self.deadline_s:
            return "deadline"
        if not self.budget.withdraw():  # last: a retry that other bounds forbid costs nothing
            return "budget"
        return None


__all__ = [
    "AttemptLog",
    "RetryBudget",
    "RetryPolicy",
    "RetryStats",
    "classify",
    "note_attempt",
    "track_attempts",
]
