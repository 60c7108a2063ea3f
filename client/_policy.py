"""The retry seam: how the attempts of one request are run, and what a policy may look at to decide.

Every request of :class:`~client._client.AsyncTaniumClient` runs as ``await policy.execute(context,
attempt)``: ``attempt()`` performs one complete try (send, 403 re-login, status translation) and
raises the typed error of :mod:`client._errors`; a retrying policy calls it again. :class:`SingleAttempt`
(the default) calls it once; :class:`client._retry.RetryPolicy` retries with backoff, ``Retry-After``
and a budget.

This module depends on nothing else of the client, so a policy never needs the client to be written:

>>> import asyncio
>>> async def attempt() -> httpx.Response:
...     return httpx.Response(204)
>>> context = RequestContext.of("DELETE", "/plugin/products/threat-response/api/v1/conns/close/c1")
>>> context.idempotent, asyncio.run(SingleAttempt().execute(context, attempt)).status_code
(True, 204)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods that may be repeated without changing the outcome (RFC 9110 §9.2.2)."""


@dataclass(frozen=True)
class RequestContext:
    """What a :class:`RequestPolicy` may look at to decide on a retry."""

    method: str
    path: str
    idempotent: bool

    @classmethod
    def of(cls, method: str, path: str) -> RequestContext:
        """The context of a ``method`` request to ``path``; idempotent per :data:`IDEMPOTENT_METHODS`."""
        return cls(method, path, method in IDEMPOTENT_METHODS)


Attempt = Callable[[], Awaitable[httpx.Response]]
"""One complete try of a request: the response of a success, else a typed :mod:`client._errors`."""


class RequestPolicy(Protocol):
    """Runs one request's attempts. ``attempt()`` raises typed :mod:`client._errors` on failure.

    A policy may also carry ``resend_stale_session = True`` (:class:`client._retry.RetryPolicy` takes it
    as an argument; absent means False): the client then answers a 403 by logging in again but repeats
    the request with the session that just failed. That is a bug, kept only so the QA matrix can show it
    catches a client that re-logs in and goes on sending the expired session (``tanium-sim qa --client
    stale-session``).
    """

    async def execute(self, context: RequestContext, attempt: Attempt) -> httpx.Response: ...


class SingleAttempt:
    """The default policy: run each request once, never retry."""

    resend_stale_session = False

    async def execute(self, context: RequestContext, attempt: Attempt) -> httpx.Response:
        return await attempt()


__all__ = ["IDEMPOTENT_METHODS", "Attempt", "RequestContext", "RequestPolicy", "SingleAttempt"]
