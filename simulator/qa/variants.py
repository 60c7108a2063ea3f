"""Client variants the fault matrix can run: the reference client, and deliberately broken ones.

The broken variants exist to prove the matrix has teeth (``tanium-sim qa --client no-cleanup`` must
fail): each one drops exactly one good habit of the reference client.

=======================  ==================================================================
``reference``            retries (client/_retry.py) + the evidence workflow with its cleanup
``no-retry``             every request tried once: transient faults become failures
``ignores-retry-after``  retries on its own short backoff, whatever ``Retry-After`` says
``no-cleanup``           leaves the connection open and the evidence behind when it fails
``blind-post``           repeats an ambiguous POST but never looks for the twin it may have made
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

from client._client import AsyncTaniumClient, RequestPolicy, SingleAttempt
from client._retry import RetryPolicy
from client._workflow import CollectResult, EvidenceWorkflow, PollPolicy, collect_trace

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


class _ImpatientPolicy(RetryPolicy):
    """Broken on purpose: backs off on its own schedule and ignores ``Retry-After``."""

    def wait_for(self, retry: int, exc: BaseException | None) -> float:
        return self.backoff(retry)


class _CarelessWorkflow(EvidenceWorkflow):
    """Broken on purpose: cleans up after a success only, never after a failure."""

    async def run(self) -> CollectResult:
        result = await self._collect()
        await self._cleanup()
        return result


class _BlindWorkflow(EvidenceWorkflow):
    """Broken on purpose: its POSTs are repeated after ambiguous failures, their twins never hunted."""

    async def _close_strays(self) -> None:
        return None

    async def _delete_stray_tasks(self) -> None:
        return None


def _collect_with(workflow_class: type[EvidenceWorkflow]) -> Collect:
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
        workflow = workflow_class(
            client,
            client_id,
            dest=Path(dest),
            path=None,
            deadline_s=deadline_s,
            poll=poll,
            clock=clock,
            sleep=sleep,
            cleanup_timeout_s=60.0,
        )
        return await workflow.run()

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
            "no-retry", "tries every request once", lambda clock, sleep, rng: SingleAttempt(), collect_trace
        ),
        ClientVariant(
            "ignores-retry-after",
            "retries on its own short backoff, ignoring Retry-After",
            lambda clock, sleep, rng: _ImpatientPolicy(clock=clock, sleep=sleep, rng=rng),
            collect_trace,
        ),
        ClientVariant(
            "no-cleanup",
            "leaves its connection and evidence behind when a collection fails",
            reference_policy,
            _collect_with(_CarelessWorkflow),
        ),
        ClientVariant(
            "blind-post",
            "repeats an ambiguous POST without looking for the twin it may have made",
            reference_policy,
            _collect_with(_BlindWorkflow),
        ),
    )
}

__all__ = ["REFERENCE", "VARIANTS", "ClientVariant", "Collect", "reference_policy"]
