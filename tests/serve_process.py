"""``tanium-sim serve`` as a child process for socket tests: started, its URL read from its one
announcement line (bounded wait, no sleeps), stopped and reaped at the end."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 20.0


@contextmanager
def serve_process(*args: str) -> Iterator[tuple[str, list[str]]]:
    """``tanium-sim serve --port 0 ARGS...``: (its URL, the lines it printed so far)."""
    command = [sys.executable, "-m", "simulator", "serve", "--port", "0", *args]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    announced = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "serving http" in line:
                announced.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not announced.wait(DEADLINE_S):
            raise AssertionError(f"serve did not start: {''.join(lines)[-2000:]}")
        yield next(w for line in lines for w in line.split() if w.startswith("http://")), lines
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        reader.join(10)
        assert proc.stdout is not None
        proc.stdout.close()
