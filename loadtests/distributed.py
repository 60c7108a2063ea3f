"""``make loadtest-distributed``: one simulated Tanium served by several processes on one Redis, loaded by
Locust in several processes for a bounded time. Everything it starts is stopped at the end, Ctrl-C too.

1. Redis: ``--redis-url`` (or ``$REDIS_URL``), else a throwaway ``redis-server`` on a unix socket in a
   temporary folder (``loadtests/_redis.py``). The world gets a fresh ``--store-prefix``; on a Redis that
   was given, its keys are deleted at the end (a Redis this script started is simply stopped).
2. ``tanium-sim serve --workers N --store URL`` on 127.0.0.1 (any free port, ``--no-journal``), waited
   for until it answers; its stderr goes to ``<reports>_simulator.log``. The working set's traces are
   generated before the load over several connections, so that each worker process likely holds them
   (each process computes traces itself: the store holds no trace bytes).
3. Locust headless, ``--processes P`` (a master and P workers on this host) with ``loadtests/locustfile.py``
   against the simulator's URL; each Locust process works on its own share of the working set. The session
   token travels in the environment (``TANIUM_TOKEN``), never on a command line or in a log.

Reports: ``<reports>.html``, ``<reports>_stats.csv`` and the other Locust CSVs. Exit code: Locust's (the
SLO verdict of ``loadtests/slo.py``), or 2 when something could not start. Arguments after ``--`` go to
Locust as they are (user classes, ``--slo-...`` options)::

    .venv/bin/python loadtests/distributed.py --sim-workers 4 --locust-processes 4 --users 40 --time 2m
    make loadtest-distributed SIM_WORKERS=4 LOCUST_PROCESSES=4 LOADTEST_USERS=40 LOADTEST_TIME=2m
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TR = "/plugin/products/threat-response/api/v1"
DEC = "/plugin/products/dec/v1/endpoints"
STOP_TIMEOUT_S = 15  # Locust's --stop-timeout: users finish their workflow at the end of the run


def seconds(text: str) -> int:
    """Locust's run time (``90``, ``45s``, ``2m``, ``1h30m``) in seconds, bounded to 1 s .. 24 h.

    >>> seconds("90"), seconds("2m"), seconds("1h30m"), seconds("1m5s")
    (90, 120, 5400, 65)
    """
    match = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", text)
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a run time like 60s, 5m or 1h30m")
    h, m, s = (int(g or 0) for g in match.groups())
    total = h * 3600 + m * 60 + s
    if not 1 <= total <= 86_400:
        raise argparse.ArgumentTypeError("keep it bounded: a run time from 1 s up to 24 h")
    return total


def count(low: int, high: int, what: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"keep it bounded: {what} from {low} up to {high}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Arguments after -- go to Locust (user classes, --slo-* options, --poll-interval-s ...).",
    )
    p.add_argument("--sim-workers", type=count(1, 256, "simulator processes"), default=2)
    p.add_argument("--locust-processes", type=count(1, 256, "Locust worker processes"), default=2)
    p.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", ""),
        help="a Redis to use (default $REDIS_URL; empty: start a redis-server here)",
    )
    p.add_argument("--users", type=count(1, 100_000, "users"), default=12)
    p.add_argument("--time", type=seconds, default=60, help="run time, e.g. 60s, 5m (default 60s)")
    p.add_argument("--endpoints", type=count(1, 10_000_000, "endpoints"), default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenario", default="baseline")
    p.add_argument(
        "--working-set",
        type=count(0, 1_000_000, "endpoints"),
        default=None,
        help="endpoints the users collect from, traces generated first (default: max(32, 2 x users))",
    )
    p.add_argument(
        "--reports",
        default="reports/loadtest-distributed",
        help="path prefix of the reports (default reports/loadtest-distributed)",
    )
    p.add_argument("locust_args", nargs="*", help=argparse.SUPPRESS)
    return p


# --- child processes -------------------------------------------------------------------------------


def stop_group(proc: subprocess.Popen[Any] | None, first: int = signal.SIGTERM, wait_s: float = 15.0) -> None:
    """Stop ``proc`` and every process of its session (uvicorn's workers, Locust's processes)."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, first)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # a worker left behind by its supervisor


class Simulator:
    """``tanium-sim serve --workers N --store URL`` in its own session; URL and tokens from its first line
    (they are parsed, never printed)."""

    def __init__(self, args: argparse.Namespace, store_url: str, prefix: str, log: IO[bytes]) -> None:
        command = [sys.executable, "-m", "simulator", "serve", "--host", "127.0.0.1", "--port", "0"]
        command += ["--workers", str(args.sim_workers), "--store", store_url, "--store-prefix", prefix]
        command += ["--endpoints", str(args.endpoints), "--seed", str(args.seed), "--no-journal"]
        command += ["--scenario", args.scenario]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, start_new_session=True
        )
        self.url = self.token = self.admin_token = ""
        lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.url:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic())).decode(errors="replace")
            except queue.Empty:
                break
            if not line:
                break  # it exited
            url = re.search(r"serving (https?://[\w.\-]+:\d+)", line)
            token = re.search(r"session token: ([^;\s]+)", line)
            admin = re.search(r"admin token: ([^;\s]+)", line)
            if url and token and admin:
                self.url, self.token, self.admin_token = url.group(1), token.group(1), admin.group(1)
        if not self.url:
            stop_group(self.proc)
            raise RuntimeError(f"the simulator did not start (exit code {self.proc.poll()}); see {log.name}")

    def _read(self, lines: queue.Queue[bytes]) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # drained to the end, so the child never blocks on a full pipe
            lines.put(line)
        lines.put(b"")

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until a worker answers ``GET /status`` (workers start after the announcement)."""
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.url, headers={"session": self.token}, timeout=5) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the simulator exited (code {self.proc.returncode})")
                with contextlib.suppress(httpx.HTTPError):
                    if c.get(f"{TR}/status").status_code == 200:
                        return
                time.sleep(0.1)  # the next poll (bounded by the deadline)
        raise RuntimeError(f"the simulator did not answer within {timeout_s:g} s")

    def warm(self, indices: list[int], connections: int) -> None:
        """Generate the traces of ``indices`` over ``connections`` concurrent connections, so that the
        kernel spreads them over the worker processes (best effort: each process caches its own)."""

        def one(client_ids: list[str]) -> None:
            admin = {"authorization": f"Bearer {self.admin_token}"}
            with httpx.Client(base_url=self.url, headers=admin, timeout=300) as c:
                for client_id in client_ids:
                    c.get(f"/_sim/endpoints/{client_id}/manifest").raise_for_status()

        with httpx.Client(base_url=self.url, headers={"session": self.token}, timeout=60) as c:
            ids = [c.get(f"{DEC}?offset={i}&limit=1").json()["data"][0]["clientId"] for i in indices]
        threads = [threading.Thread(target=one, args=(ids,), daemon=True) for _ in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)


def working_set(fleet: int, size: int) -> list[int]:
    """Like ``locustfile.working_set_indices`` (not imported: importing Locust patches this process)."""
    if size <= 0 or size >= fleet:
        return list(range(fleet))
    return [i * fleet // size for i in range(size)]


def locust_command(args: argparse.Namespace, url: str, size: int) -> list[str]:
    prefix = args.reports
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "loadtests" / "locustfile.py"),
        "--headless",
        "--host",
        url,
        "--processes",
        str(args.locust_processes),
        "-u",
        str(args.users),
        "-r",
        str(args.users),
        "-t",
        f"{args.time}s",
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
        "--working-set",
        str(size),
        "--csv",
        prefix,
        "--html",
        f"{prefix}.html",
        "--only-summary",
        *args.locust_args,
    ]


@contextlib.contextmanager
def redis_store(url: str, prefix: str) -> Iterator[str]:
    """The store URL: ``url`` (its keys under ``prefix`` deleted at the end), else a redis-server here."""
    if url:
        try:
            yield url
        finally:
            delete_prefix(url, prefix)
        return
    sys.path.insert(0, str(ROOT))
    from loadtests._redis import RedisServer

    with RedisServer() as server:
        yield server.url


def delete_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    except redis.RedisError as exc:
        print(f"distributed: could not delete the keys under {prefix}: ({exc})", file=sys.stderr)
    finally:
        client.close()


def _terminate(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM: stop everything like Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    size = args.working_set if args.working_set is not None else max(32, 2 * args.users)
    Path(args.reports).parent.mkdir(parents=True, exist_ok=True)
    prefix = f"tanium-sim-loadtest-{secrets.token_hex(4)}"
    signal.signal(signal.SIGTERM, _terminate)
    code = 2
    # Stopped in reverse order, whatever happens: Locust, then the simulator, then Redis.
    with contextlib.ExitStack() as stack:
        try:
            log = stack.enter_context(open(f"{args.reports}_simulator.log", "ab"))
            store_url = stack.enter_context(redis_store(args.redis_url, prefix))
            try:
                sim = Simulator(args, store_url, prefix, log)
                stack.callback(stop_group, sim.proc)
                sim.wait_ready()
                print(
                    f"distributed: simulator {sim.url}, {args.sim_workers} workers on Redis "
                    f"({'given' if args.redis_url else 'started here'}, prefix {prefix}); "
                    f"{args.endpoints} endpoints, scenario {args.scenario}",
                    flush=True,
                )
                started = time.monotonic()
                sim.warm(working_set(args.endpoints, size), connections=2 * args.sim_workers)
                print(
                    f"distributed: warmed {size} endpoints in {time.monotonic() - started:.1f} s", flush=True
                )
            except (RuntimeError, OSError, httpx.HTTPError) as exc:
                print(f"distributed: {exc}", file=sys.stderr)
                return 2
            env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
            env["TANIUM_TOKEN"] = sim.token
            print(
                f"distributed: Locust, {args.locust_processes} processes, {args.users} users, {args.time} s",
                flush=True,
            )
            locust = subprocess.Popen(
                locust_command(args, sim.url, size), cwd=ROOT, env=env, start_new_session=True
            )
            # SIGINT first: Locust writes its reports, then quits (a no-op once it has exited)
            stack.callback(stop_group, locust, signal.SIGINT, 30.0)
            try:
                code = locust.wait(timeout=args.time + STOP_TIMEOUT_S + 120)
            except subprocess.TimeoutExpired:
                print("distributed: Locust did not stop in time; stopping it", file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            print("distributed: interrupted; stopping Locust, the simulator and Redis", file=sys.stderr)
            code = 130
    print(f"distributed: reports in {args.reports}*", flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
