"""Clocks: the one place the simulator learns the time, so tests can move it by hand.

Every lifecycle in the simulator (connection ready, task done, session expired) is derived from
timestamps stored in records and ``clock.now()``; nothing runs in the background.

>>> clock = ManualClock(start=1_700_000_000.0)
>>> clock.advance(2.5)
>>> clock.now()
1700000002.5
"""

from __future__ import annotations

import functools
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock seconds since the epoch, as a float."""

    def now(self) -> float: ...


class SystemClock:
    """The real time."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to (tests, deterministic replays)."""

    def __init__(self, start: float = 1_795_219_200.0) -> None:  # 2026-11-21T00:00:00Z
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = float(when)


class VirtualSleep:
    """An async ``sleep(seconds)`` that moves a :class:`ManualClock` instead of waiting.

    What tests, the QA matrix and the pytest plugin give the simulator (``create_app(sleep=...)``) and
    the client (``collect_trace(sleep=...)``): injected delays and poll loops cost no real time.
    ``delays`` lists every wait asked for.
    """

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        from anyio.lowlevel import checkpoint  # asyncio or trio, whichever runs the caller

        self.delays.append(seconds)
        self.clock.advance(max(0.0, seconds))
        await checkpoint()  # other tasks run, as they would while this one waited


def epoch_ms(seconds: float) -> int:
    """Epoch seconds to the integer milliseconds Tanium uses in connection objects."""
    return int(seconds * 1000)


@functools.lru_cache(maxsize=1 << 16)  # polled records render the same few timestamps over and over
def iso_ms(seconds: float) -> str:
    """Epoch seconds to ISO-8601 with milliseconds and ``Z`` (``2021-09-05T13:46:16.606Z``)."""
    whole = int(seconds)
    ms = round((seconds - whole) * 1000)
    if ms == 1000:
        whole, ms = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"
