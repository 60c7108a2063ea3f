"""Client variants the fault matrix can run: the reference client, and deliberately broken ones.

The broken variants exist to prove the matrix has teeth (``tanium-sim qa --client no-cleanup`` must
fail): each one drops exactly one good habit of the reference client, through the client's public
switches (``RetryPolicy(honour_retry_after=False)``, ``RetryPolicy(resend_stale_session=True)``,
``collect_trace(cleanup_on_failure=False)``, ``collect_trace(reconcile_duplicates=False)``).

=======================  ==================================================================
``reference``            retries (client/_retry.py) + the evidence workflow with its cleanup
``no-retry``             every request and download tried once: transient faults become failures
``ignores-retry-after``  retries on its own short backoff, whatever ``Retry-After`` says
``no-cleanup``           leaves the connection open and the evidence behind when it fails
``blind-post``           repeats an ambiguous POST but never looks for the twin it may have made
``stale-session``        logs in again on a 403 but repeats the request with the expired session
=======================  ==================================================================

>>> VARIANTS["reference"].description
'retries with backoff, Retry-After and a budget; cleans up whatever happens'
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from client import (
    AsyncTaniumClient,
    CollectResult,
    PollPolicy,
    RequestPolicy,
    RetryPolicy,
    SingleAttempt,
    collect_trace,
)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
PolicyFactory = Callable[[Clock, Sleep, random.Random], RequestPolicy]


class Collect(Protocol):
    """How a variant collects one endpoint (the signature of :func:`client.collect_trace`)."""

    async def __call__(
        self,
        client: AsyncTaniumClient,
        client_id: str,
        *,
        dest: str | Path,
        deadline_s: float,
        poll: PollPolicy,
        clock: Clock,
        sleep: Sleep,
    ) -> CollectResult: ...


@dataclass(frozen=True)
class ClientVariant:
    """A named client behaviour: its request policy and its per-endpoint workflow."""

    name: str
    description: str
    make_policy: PolicyFactory
    collect: Collect


def reference_policy(clock: Clock, sleep: Sleep, rng: random.Random) -> RequestPolicy:
    """The reference client's policy, on the run's clock: POSTs too (the workflow reconciles)."""
    return RetryPolicy(retry_unsafe=True, clock=clock, sleep=sleep, rng=rng)


def _impatient_policy(clock: Clock, sleep: Sleep, rng: random.Random) -> RequestPolicy:
    """Broken on purpose: backs off on its own schedule and ignores ``Retry-After``."""
    return RetryPolicy(honour_retry_after=False, clock=clock, sleep=sleep, rng=rng)


def _stale_session_policy(clock: Clock, sleep: Sleep, rng: random.Random) -> RequestPolicy:
    """Broken on purpose: the reference policy, but a 403's retry carries the session that expired."""
    return RetryPolicy(retry_unsafe=True, resend_stale_session=True, clock=clock, sleep=sleep, rng=rng)


def _collect_with(
    *, cleanup_on_failure: bool = True, reconcile_duplicates: bool = True, download_attempts: int = 3
) -> Collect:
    """:func:`client.collect_trace` with some of its good habits switched off."""

    async def collect(
        client: AsyncTaniumClient,
        client_id: str,
        *,
        dest: str | Path,
        deadline_s: float,
        poll: PollPolicy,
        clock: Clock,
        sleep: Sleep,
    ) -> CollectResult:
        return await collect_trace(
            client,
            client_id,
            dest=dest,
            deadline_s=deadline_s,
            poll=poll,
            clock=clock,
            sleep=sleep,
            cleanup_on_failure=cleanup_on_failure,
            reconcile_duplicates=reconcile_duplicates,
            download_attempts=download_attempts,
        )

    return collect


REFERENCE = ClientVariant(
    "reference",
    "retries with backoff, Retry-After and a budget; cleans up whatever happens",
    reference_policy,
    collect_trace,
)
VARIANTS: dict[str, ClientVariant] = {
    v.name: v
    for v in (
        REFERENCE,
        ClientVariant(
            "no-retry",
            "tries every request once, and every download",
            lambda clock, sleep, rng: SingleAttempt(),
            _collect_with(download_attempts=1),  # a damaged download is not fetched again either
        ),
        ClientVariant(
            "ignores-retry-after",
            "retries on its own short backoff, ignoring Retry-After",
            _impatient_policy,
            collect_trace,
        ),
        ClientVariant(
            "no-cleanup",
            "leaves its connection and evidence behind when a collection fails",
            reference_policy,
            _collect_with(cleanup_on_failure=False),  # cleans up after a success only
        ),
        ClientVariant(
            "blind-post",
            "repeats an ambiguous POST without looking for the twin it may have made",
            reference_policy,
            _collect_with(reconcile_duplicates=False),  # never hunts the twins of its repeated POSTs
        ),
        ClientVariant(
            "stale-session",
            "logs in again on a 403 but retries with the expired session",
            _stale_session_policy,
            collect_trace,
        ),
    )
}

__all__ = ["REFERENCE", "VARIANTS", "ClientVariant", "Collect", "reference_policy"]
