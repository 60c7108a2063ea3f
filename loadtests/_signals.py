"""Ctrl-C for the child processes the tests and benchmarks start.

A shell starts a background job (``make test &``, ``nohup``, some CI runners) with SIGINT and SIGQUIT
ignored, and a child inherits an ignored signal across ``exec``: a ``tanium-sim`` started from such a
process never hears the Ctrl-C a test sends it (it ran all 300 endpoints to the end, or polled an
hour-long task, instead of exiting 130). Python's ``subprocess`` restores SIGPIPE and SIGXFSZ for its
children, not SIGINT, so the process that starts them restores it first.
"""

from __future__ import annotations

import signal


def hear_ctrl_c() -> bool:
    """Make SIGINT raise ``KeyboardInterrupt`` again if this process was started ignoring it (main thread).

    Children started afterwards then begin with the default disposition. Returns whether it had to.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return True
