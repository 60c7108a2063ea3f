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
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from simulator.state.store import Store

START = 1_795_219_200.0  # 2026-11-21T00:00:00Z: where manual clocks start


class Clock(Protocol):
    """Wall-clock seconds since the epoch, as a float."""

    def now(self) -> float: ...


class MovableClock(Clock, Protocol):
    """A clock that moves only when told to (what :class:`VirtualSleep` advances)."""

    def advance(self, seconds: float) -> None: ...


class SystemClock:
    """The real time."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to (tests, deterministic replays)."""

    def __init__(self, start: float = START) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = float(when)


class StoreClock:
    """Virtual time kept in the world's store: ``serve --clock manual``.

    It starts at :data:`START` and moves only when advanced: by ``POST /_sim/clock`` (a QA runner's or a
    test's waits) and by the simulator's own injected delays. Every process on a shared store reads the
    same time, and a reset world (a new store generation) starts again at :data:`START`.

    >>> from simulator.state.store import MemoryStore
    >>> clock = StoreClock(MemoryStore())
    >>> clock.advance(90.0)
    >>> clock.now() - START
    90.0
    """

    TABLE = KEY = "clock"

    def __init__(self, store: Store, start: float = START) -> None:
        self.store = store
        self.start = float(start)

    def now(self) -> float:
        offset: float | None = self.store.get(self.TABLE, self.KEY)
        return self.start + (offset or 0.0)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")

        def add(offset: Any) -> float:
            return float(offset or 0.0) + seconds

        self.store.update(self.TABLE, self.KEY, add, create=True)


class VirtualSleep:
    """An async ``sleep(seconds)`` that moves a :class:`MovableClock` instead of waiting.

    What tests, the QA matrix and the pytest plugin give the simulator (``create_app(sleep=...)``) and
    the client (``collect_trace(sleep=...)``): injected delays and poll loops cost no real time.
    ``delays`` lists every wait asked for.
    """

    def __init__(self, clock: MovableClock) -> None:
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
