"""Benchmark: the recording proxy's memory while it records a large download (target: RSS growth < 64 MB).

Why: an evidence download can be hundreds of MB, and ``tanium-sim record`` must stream it through to the
client and into a side file (or only hash it, ``--max-body``) without holding it. An upstream stub (in
this process) streams SIZE bytes, a 1 MiB random block over and over, with a Content-Length;
``tanium-sim record`` runs as a child process in front of it; a client downloads through the proxy,
hashing what it gets. Printed per mode: MB/s, the proxy's VmRSS before the download, its peak (VmHWM)
after, the growth (peak - before, an upper bound), and what the recording holds (a side file whose
SHA-256 is checked against the client's, or only the size and SHA-256)::

    .venv/bin/python loadtests/bench_record.py --size 500M
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests._signals import hear_ctrl_c
from simulator.cli.record import byte_size
from simulator.server import BackgroundServer
from simulator.settings import Settings

BLOCK = random.Random(7).randbytes(1 << 20)  # what the stub streams, over and over
TARGET_GROWTH_MB = 64
MODES: dict[str, tuple[str, ...]] = {
    "side file": (),
    "--max-body 1M": ("--max-body", "1M"),
    "--no-side-files": ("--no-side-files",),
}


def stub_upstream(release: threading.Event | None = None) -> Starlette:
    """An upstream for recording tests and this benchmark.

    ``GET /bytes?size=N``: N bytes (``BLOCK`` repeated) with a Content-Length, as ``application/zip``;
    with ``&stall=1`` it declares twice that, sends N and waits for ``release`` (a download in flight).
    ``GET /json/{name}``: a small JSON body naming ``name``.
    """

    async def data(request: Request) -> Response:
        size = int(request.query_params.get("size", "0"))
        stall = request.query_params.get("stall") == "1"

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            while sent < size:
                piece = BLOCK[: min(len(BLOCK), size - sent)]
                sent += len(piece)
                yield piece
            if stall and release is not None:
                await anyio.to_thread.run_sync(release.wait)

        length = str(size * 2 if stall else size)
        return StreamingResponse(chunks(), media_type="application/zip", headers={"content-length": length})

    async def small(request: Request) -> Response:
        return JSONResponse({"name": request.path_params["name"]})

    return Starlette(routes=[Route("/bytes", data), Route("/json/{name}", small)])


@contextlib.contextmanager
def recorder(upstream: str, har: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``tanium-sim record`` as a child process on a free port: (the process, the proxy's URL).

    Stopped with SIGINT on the way out (killed if it does not stop within 30 s)."""
    command = [sys.executable, "-m", "simulator", "record", "--upstream", upstream, "--out", str(har)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [*command, "--listen", "127.0.0.1:0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"recording (http://\S+) -> ", line)
            if match is None:
                err = proc.stderr.read() if proc.stderr else ""
                raise RuntimeError(f"tanium-sim record did not start: {line!r} {err!r}")
            yield proc, match.group(1)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def vm_kb(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` figure in kB (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


@dataclass
class Figures:
    mode: str
    size: int
    seconds: float
    rss_before_kb: int
    peak_kb: int
    client_sha256: str
    content: dict[str, object]  # what the HAR holds of the body

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.rss_before_kb) / 1024

    @property
    def mb_s(self) -> float:
        return self.size / 1e6 / self.seconds if self.seconds else 0.0


def measure(size: int, folder: Path, *extra: str, mode: str = "side file") -> Figures:
    """Record one download of ``size`` bytes through a fresh proxy; its figures."""
    har = folder / "big.har"
    with (
        BackgroundServer(Settings(port=0), app=stub_upstream()) as upstream,
        recorder(upstream.url, har, *extra) as (proc, url),
        httpx.Client(base_url=url, timeout=120) as client,
    ):
        client.get("/json/warm").raise_for_status()  # warm: the upstream connection, a recorded exchange
        client.get("/bytes", params={"size": 2 << 20}).raise_for_status()  # and the side-file path
        before = vm_kb(proc.pid, "VmRSS")
        digest = hashlib.sha256()
        started = time.perf_counter()
        with client.stream("GET", "/bytes", params={"size": size}) as response:
            response.raise_for_status()
            for chunk in response.iter_raw():
                digest.update(chunk)
        seconds = time.perf_counter() - started
        peak = vm_kb(proc.pid, "VmHWM")
    last = json.loads(har.read_text())["log"]["entries"][-1]["response"]["content"]
    if last["size"] != size:
        raise RuntimeError(f"the recording holds {last['size']} bytes, not {size}")
    return Figures(mode, size, seconds, before, peak, digest.hexdigest(), last)


def check(figures: Figures, har_folder: Path) -> str:
    """What the recording holds, checked against what the client got."""
    content = figures.content
    if content.get("_sha256") != figures.client_sha256:
        return f"WRONG: recorded SHA-256 {content.get('_sha256')} != the client's {figures.client_sha256}"
    if content.get("_file"):
        side = har_folder / str(content["_file"])
        digest = hashlib.sha256()
        with side.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != figures.client_sha256 or side.stat().st_size != figures.size:
            return "WRONG: the side file differs from what the client got"
        return "side file, SHA-256 checked"
    return "size and SHA-256 only" if content.get("_omitted") else f"unexpected content {content}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=byte_size, default=500 << 20, help="bytes to download (default 500M)")
    parser.add_argument("--mode", choices=sorted(MODES), action="append", help="modes to run (default: all)")
    args = parser.parse_args(argv)
    hear_ctrl_c()  # started as a background job, it would pass its ignored SIGINT on to every proxy
    print(f"bench_record: {os.cpu_count()} CPUs; one download of {args.size:,} bytes per mode")
    print(f"{'mode':16} {'MB/s':>7} {'RSS before':>11} {'peak':>9} {'growth':>8}  recording")
    worst = 0.0
    for mode in args.mode or list(MODES):
        with tempfile.TemporaryDirectory() as tmp:
            figures = measure(args.size, Path(tmp), *MODES[mode], mode=mode)
            verdict = check(figures, Path(tmp))
        worst = max(worst, figures.growth_mb)
        print(
            f"{mode:16} {figures.mb_s:7.1f} {figures.rss_before_kb / 1024:8.1f} MB "
            f"{figures.peak_kb / 1024:6.1f} MB {figures.growth_mb:5.1f} MB  {verdict}"
        )
    met = "met" if worst < TARGET_GROWTH_MB else "MISSED"
    print(f"largest RSS growth {worst:.1f} MB (target < {TARGET_GROWTH_MB} MB: {met})")
    return 0 if worst < TARGET_GROWTH_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
