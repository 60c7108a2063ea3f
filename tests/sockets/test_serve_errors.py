"""``tanium-sim serve`` that cannot listen says so in one sentence and exits 1 (no uvicorn log, no traceback).

Each test runs ``serve`` as a child process (bounded by a timeout) against a port this test holds, or a
host name that cannot resolve (``.invalid`` is reserved for that: RFC 2606).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.serve_process import ROOT

TIMEOUT_S = 60.0


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "simulator", "serve", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_a_port_in_use_is_one_sentence_and_exit_1(busy_port: int) -> None:
    done = serve("--port", str(busy_port))
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        f"tanium-sim: port {busy_port} on 127.0.0.1 is already in use; "
        "choose another with --port or stop the other server\n"
    )
    assert done.stdout == ""  # never announced as serving


def test_a_host_name_that_does_not_resolve_is_one_sentence_and_exit_1() -> None:
    done = serve("--host", "no-such-host.invalid", "--port", "0")
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("tanium-sim: the --host no-such-host.invalid cannot be resolved (")
    assert done.stderr.endswith("); pass an address or a name this machine knows, e.g. --host 127.0.0.1\n")
    assert done.stdout == ""


def test_the_sockets_serve_announces_already_accept_connections() -> None:
    """A client that connects between the announcement line and a worker's first accept waits in the backlog
    (with ``--workers`` the workers start after the line is printed); it is never refused."""
    from simulator.cli.serve import listen

    sockets = listen("127.0.0.1", 0)
    try:
        port = sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # nobody has accepted yet: the kernel completed the handshake from the backlog
    finally:
        for sock in sockets:
            sock.close()
