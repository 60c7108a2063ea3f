"""What the client did again, and why: each retried request of one endpoint, for collect's report.

>>> with record_retries() as log:  # doctest: +SKIP
...     await collect_trace(client, "101", dest=Path("out"))
>>> log.describe()  # doctest: +SKIP
'retried 3× (2×503, 1×reset; 2 after the server's Retry-After)'

Three places repeat a request and note it here, in the :func:`record_retries` block of the task that
made it (a context variable: endpoints collected at once do not mix): the retry policy
(:class:`client._retry.RetryPolicy`, before each backoff), the client's 403 re-login
(:class:`client._client.AsyncTaniumClient`) and the workflow's download re-fetch
(:mod:`client._workflow`). The reasons:

=============  ===============================================================================
reason         the attempt before the retry ...
=============  ===============================================================================
``429``,       was answered with that status (any status a policy retries: ``500``, ``502``,
``503`` ...    ``504`` too); ``retry_after_s`` is set when the wait honoured its Retry-After
``reset``      lost its connection before a complete answer (reset, cut short)
``timeout``    got no answer within the request timeout
``connect``    could not connect (refused, DNS)
``relogin``    was answered 403 (session expired): the client logged in again and sent it again
``truncated``  downloaded an evidence zip cut short: it was fetched again
``corrupt``    downloaded an evidence zip failing its zip, size or SHA-256 check: fetched again
=============  ===============================================================================
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from client._errors import APIError, ConnectError, IntegrityError, TimeoutError_, TransportError


def retry_reason(exc: BaseException | None, *, download: bool = False) -> str:
    """The reason to note for a retry after ``exc`` (``download``: a re-fetch of an evidence zip).

    >>> from client._errors import RateLimited, TransportError
    >>> retry_reason(RateLimited(429, "slow down")), retry_reason(TransportError("broke"))
    ('429', 'reset')
    >>> retry_reason(TransportError("stopped after 10 of 20 bytes"), download=True)
    'truncated'
    """
    if isinstance(exc, APIError):
        return str(exc.status)
    if isinstance(exc, IntegrityError):
        return "corrupt"
    if isinstance(exc, TimeoutError_):
        return "timeout"
    if isinstance(exc, ConnectError):
        return "connect"
    if isinstance(exc, TransportError):
        return "truncated" if download else "reset"
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, str) else type(exc).__name__


@dataclass(frozen=True)
class RetryEvent:
    """One request sent again: which (``operation``, e.g. ``GET /conns``), why, and the wait before it."""

    operation: str
    reason: str
    wait_s: float = 0.0
    retry_after_s: float | None = None  # the server's Retry-After, when the wait honoured one

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "reason": self.reason,
            "wait_s": round(self.wait_s, 3),
            "retry_after_s": self.retry_after_s,
        }


def _by_count(counts: Mapping[str, int]) -> dict[str, int]:
    """Reasons most frequent first, then by name: the order lines and summaries show them in."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass
class RetryLog:
    """The retries noted inside one :func:`record_retries` block."""

    events: list[RetryEvent] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.events)

    @property
    def reasons(self) -> dict[str, int]:
        return _by_count(Counter(e.reason for e in self.events))

    @property
    def retry_after_honoured(self) -> int:
        return sum(e.retry_after_s is not None for e in self.events)

    def to_dict(self) -> dict[str, Any]:
        """``summary.json``'s per-endpoint ``retries``."""
        return {
            "count": self.count,
            "reasons": self.reasons,
            "retry_after_honoured": self.retry_after_honoured,
            "waited_s": round(sum(e.wait_s for e in self.events), 3),
            "events": [e.to_dict() for e in self.events],
        }

    def describe(self) -> str:
        """One clause for a report line, ``""`` when nothing was retried.

        >>> log = RetryLog([RetryEvent("GET /conns", "503", 1.0, 1.0), RetryEvent("GET /tasks/9", "reset")])
        >>> log.describe()
        "retried 2× (1×503, 1×reset; 1 after the server's Retry-After)"
        """
        return describe_retries(self.to_dict())


def describe_retries(retries: Mapping[str, Any] | None) -> str:
    """:meth:`RetryLog.describe` for a ``retries`` object of ``summary.json`` (or fleet totals)."""
    if not retries or not retries.get("count"):
        return ""
    reasons = ", ".join(f"{n}×{reason}" for reason, n in dict(retries.get("reasons") or {}).items())
    honoured = int(retries.get("retry_after_honoured") or 0)
    waited = f"; {honoured} after the server's Retry-After" if honoured else ""
    return f"retried {retries['count']}× ({reasons}{waited})"


def sum_retries(logs: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Fleet totals of ``retries`` objects: count, reasons, Retry-After waits, endpoints that retried."""
    reasons: Counter[str] = Counter()
    count = honoured = endpoints = 0
    waited = 0.0
    for log in logs:
        if not log or not log.get("count"):
            continue
        endpoints += 1
        count += int(log["count"])
        honoured += int(log.get("retry_after_honoured") or 0)
        waited += float(log.get("waited_s") or 0.0)
        reasons.update({str(k): int(v) for k, v in dict(log.get("reasons") or {}).items()})
    return {
        "count": count,
        "reasons": _by_count(reasons),
        "retry_after_honoured": honoured,
        "waited_s": round(waited, 3),
        "endpoints_retried": endpoints,
    }


_CURRENT: contextvars.ContextVar[RetryLog | None] = contextvars.ContextVar("tanium_retry_log", default=None)


@contextlib.contextmanager
def record_retries() -> Iterator[RetryLog]:
    """Note the retries of the requests made inside the block (this task and the tasks it starts)."""
    log = RetryLog()
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)


def note_retry(
    operation: str, reason: str, *, wait_s: float = 0.0, retry_after_s: float | None = None
) -> None:
    """Note that ``operation`` is about to be sent again for ``reason`` (nothing outside a block)."""
    log = _CURRENT.get()
    if log is not None:
        log.events.append(RetryEvent(operation, reason, wait_s, retry_after_s))


__all__ = [
    "RetryEvent",
    "RetryLog",
    "describe_retries",
    "note_retry",
    "record_retries",
    "retry_reason",
    "sum_retries",
]
