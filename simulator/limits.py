"""Connection limits of a serving process: idle, slow and surplus connections, and the stop's grace period.

A leaf module (no imports from the rest of the simulator) so that ``serve --help`` can show the defaults
without loading the server. :mod:`simulator.server` applies them (``ConnectionGuard``); docs/serving.md
describes them.

>>> ConnectionLimits(keep_alive_s=0.5).header_timeout_s
10.0
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConnectionLimits:
    """How a serving process treats idle, slow and surplus connections, and how long a stop waits.

    Per process (``serve --workers N`` has N times the connections). See docs/serving.md.
    """

    keep_alive_s: float = 5.0  # a connection with no request under way and no byte arriving is closed
    header_timeout_s: float = 10.0  # a request head must arrive whole within this (slow-loris guard)
    # Connections served at once; one more is answered 503 and closed. None: nine tenths of the
    # process's open-file limit (ulimit -n), so idle sockets can never use up the descriptors accept needs.
    max_connections: int | None = None
    graceful_timeout_s: float = 5.0  # on SIGTERM/Ctrl-C, answers still in flight get this long

    def __post_init__(self) -> None:
        for name in ("keep_alive_s", "header_timeout_s", "graceful_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds")
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError("max_connections must be >= 1")


def default_max_connections() -> int:
    """Nine tenths of this process's open-file limit (``ulimit -n``): each connection holds a descriptor,
    and a server out of descriptors cannot accept even the request that would tell it so."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 10_000
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft > 1_000_000:
        return 1_000_000
    return max(16, soft * 9 // 10)
