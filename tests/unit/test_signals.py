"""The suite restores Ctrl-C for its children when it was started as a background job (SIGINT ignored)."""

from __future__ import annotations

import signal
import subprocess
import sys

from loadtests._signals import hear_ctrl_c
from tests.serve_process import ROOT

# A process started with SIGINT ignored (what `make test &` does to the whole run) that starts a child the
# way the Ctrl-C tests do, with or without hear_ctrl_c() first; the child reports how SIGINT finds it.
PARENT = """
import signal, subprocess, sys
from loadtests._signals import hear_ctrl_c
if sys.argv[1] == "restore":
    print(hear_ctrl_c(), end=" ")
child = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout.strip())
"""


def _parent(mode: str) -> str:
    done = subprocess.run(
        ["sh", "-c", 'trap "" INT; exec "$0" "$@"', sys.executable, "-c", PARENT, mode],  # SIGINT ignored
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_child_of_a_background_run_hears_ctrl_c_once_restored() -> None:
    assert _parent("inherit") == "False"  # the bug: the child of a background job ignores Ctrl-C
    assert _parent("restore") == "True True"


def test_nothing_changes_where_ctrl_c_was_heard_already() -> None:
    before = signal.getsignal(signal.SIGINT)
    assert before is not signal.SIG_IGN  # pytest_configure (tests/conftest.py) saw to it
    assert hear_ctrl_c() is False and signal.getsignal(signal.SIGINT) is before
