"""A throwaway ``redis-server`` (or ``valkey-server``) as a child process: for tests and benchmarks.

One copy of this logic serves both: ``tests/redis_server.py`` re-exports :class:`RedisServer` for the
test suite's fixtures, and ``loadtests/bench_scale.py`` and ``loadtests/distributed.py`` start their own.

The server keeps nothing on disk (``--save '' --appendonly no``), lives in its own temporary folder and
listens on a unix socket there (``--port 0``: no TCP at all) or, with ``tcp=True``, on a free port of
127.0.0.1. :meth:`RedisServer.restart` brings it back on the same socket or port, so clients that held
connections reconnect to it::

    with RedisServer() as server:          # started; stopped and its folder removed at the end
        print(server.url)                  # unix:///tmp/tanium-sim-redis-.../redis.sock?db=0

The binary is ``$TANIUM_SIM_REDIS_SERVER`` when set, else ``redis-server`` or ``valkey-server`` on PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

BINARY_ENV = "TANIUM_SIM_REDIS_SERVER"
BINARIES = ("redis-server", "valkey-server")
MISSING = (
    "no redis-server or valkey-server on PATH — install one (apt-get install redis-server) "
    f"or set {BINARY_ENV} to run it"
)


def find_binary() -> str | None:
    """The server binary to run: ``$TANIUM_SIM_REDIS_SERVER``, else the first of :data:`BINARIES` on PATH."""
    configured = os.environ.get(BINARY_ENV, "").strip()
    if configured:
        return shutil.which(configured) or (configured if os.access(configured, os.X_OK) else None)
    for name in BINARIES:
        if found := shutil.which(name):
            return found
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _resp(*words: str) -> bytes:
    """One command in the Redis protocol (RESP)."""
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RedisServer:
    """A ``redis-server`` child process in a temporary folder; a context manager (start/stop)."""

    def __init__(
        self,
        *,
        tcp: bool = False,
        binary: str | None = None,
        cpus: set[int] | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        found = binary or find_binary()
        if found is None:
            raise FileNotFoundError(MISSING)
        self.binary = found
        self.tcp = tcp
        self.cpus = cpus  # CPU affinity of the server (benchmarks pin it), None = inherit
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.directory: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def available(cls) -> bool:
        """Whether a server binary can be found (see :func:`find_binary`)."""
        return find_binary() is not None

    # -- where it listens ------------------------------------------------------------------------
    @property
    def socket_path(self) -> Path:
        if self.directory is None:
            raise RuntimeError("the Redis server has not been started")
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` (TCP) or ``unix:///.../redis.sock?db=0``."""
        if self.tcp:
            if not self.port:
                raise RuntimeError("the Redis server has not been started")
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> RedisServer:
        """Start the server (if it is not running) and return once it answers PING; bounded."""
        if self.running:
            return self
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="tanium-sim-redis-"))
        if self.tcp and not self.port:
            self.port = free_port()
        self._launch()
        return self

    def stop(self) -> None:
        """Stop the server and remove its folder (a later :meth:`start` makes a new one)."""
        self._halt()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
        self.port = 0

    def halt(self) -> None:
        """Stop the server process only (Redis is down): :meth:`restart` brings it back on the same
        socket or port, :meth:`stop` cleans up."""
        self._halt()

    def restart(self) -> RedisServer:
        """Stop and start again on the same socket or port (empty: nothing is saved), so clients
        that held connections reconnect to it."""
        self._halt()
        if self.directory is None:
            return self.start()
        self._launch()
        return self

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- talking to it ---------------------------------------------------------------------------
    def command(self, *words: str, timeout_s: float = 2.0) -> bytes:
        """Send one command and return the first line of the answer (``+PONG``, ``+OK``, ``-ERR ...``)."""
        if self.tcp:
            conn = socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s)
        else:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(timeout_s)
            try:
                conn.connect(str(self.socket_path))
            except OSError:
                conn.close()
                raise
        with conn:
            conn.sendall(_resp(*words))
            answer = b""
            while not answer.endswith(b"\r\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
        return answer.split(b"\r\n", 1)[0]

    def ping(self) -> bool:
        """Whether the server answers PING (with redis-py when installed, else a raw socket)."""
        if self.directory is None:
            return False  # never started, or stopped
        try:
            import redis
        except ImportError:
            try:
                return self.command("PING") == b"+PONG"
            except OSError:
                return False
        client = redis.Redis.from_url(self.url, socket_timeout=2.0, socket_connect_timeout=1.0)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def flushall(self) -> None:
        """Delete every key of every database (a clean slate for the next test)."""
        answer = self.command("FLUSHALL")
        if answer != b"+OK":
            raise RuntimeError(f"FLUSHALL failed: {answer.decode(errors='replace')}")

    # -- internals -------------------------------------------------------------------------------
    def _arguments(self) -> list[str]:
        assert self.directory is not None
        args = [
            self.binary,
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.directory / "server.log"),
        ]
        if self.tcp:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        else:
            args += ["--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        return args

    def _preexec(self) -> Callable[[], Any] | None:
        cpus = self.cpus
        if not cpus or not hasattr(os, "sched_setaffinity"):
            return None
        return lambda: os.sched_setaffinity(0, cpus)

    def _launch(self) -> None:
        self.proc = subprocess.Popen(
            self._arguments(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=self._preexec(),
            start_new_session=True,  # a Ctrl-C in the terminal reaches the owner, which stops it
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.ping():
                return
            time.sleep(0.02)  # the next PING attempt (bounded by the deadline above)
        log = self._log_tail()
        self._halt()
        raise RuntimeError(
            f"{Path(self.binary).name} did not answer PING within {self.start_timeout_s:g} s{log}"
        )

    def _log_tail(self) -> str:
        if self.directory is None:
            return ""
        with contextlib.suppress(OSError):
            lines = (self.directory / "server.log").read_text(errors="replace").strip().splitlines()
            if lines:
                return ": " + " | ".join(lines[-3:])
        return ""

    def _halt(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if not self.tcp and self.directory is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()  # a server killed hard leaves it behind
