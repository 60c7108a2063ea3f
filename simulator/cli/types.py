"""What the ``tanium-sim`` sub-commands share: the parser class, argparse ``type=`` checkers, output.

:class:`Parser` is the class of every (sub-)parser: a usage error is one line on stderr naming the
command's ``--help`` (exit 2), and help is not wrapped at 80 columns when it is not read on a terminal.
Each checker turns the text of an option into its value, or raises :class:`argparse.ArgumentTypeError`
with one sentence, which argparse prints after the option's name (exit 2, no traceback):

>>> positive_int("8")
8
>>> positive_int("0")
Traceback (most recent call last):
argparse.ArgumentTypeError: '0' is not a whole number of at least 1
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_SEED = 0  # `run`, `serve` and `conform`: the same world unless told otherwise
WIDE = 10_000  # columns when output is not a terminal: a pipe or a file gets whole lines


class UsageError(Exception):
    """A user mistake: printed as one sentence, exit code 2, no traceback (``simulator.cli.main``)."""


class HelpFormatter(argparse.HelpFormatter):
    """Fills one-paragraph texts to the terminal (no wrapping off a terminal); keeps multi-line ones."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        if "width" not in kwargs and not sys.stdout.isatty():
            kwargs["width"] = WIDE
        super().__init__(prog, **kwargs)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip():  # an example block: lines as written
            return "".join(indent + line for line in text.strip().splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """The ``tanium-sim`` parsers (sub-parsers inherit the class): one-line usage errors, wide help.

    >>> Parser(prog="tanium-sim demo").parse_args(["--nope"])  # doctest: +SKIP
    tanium-sim demo: unrecognized arguments: --nope (see `tanium-sim demo --help`)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def output_console(*, stderr: bool = False) -> Console:
    """A rich console that wraps at the terminal's width, and not at 80 columns off a terminal."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    return Console(stderr=stderr, width=max(int(columns) if columns.isdigit() else 0, 240), soft_wrap=True)


def ensure_folder(path: Path, option: str) -> Path:
    """Creates the output folder ``path`` now, so a bad ``--out`` is one sentence before any work."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder: choose another {option}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{option} {path} cannot be created ({exc.strerror or exc}): choose another {option}"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path} is not writable: choose another {option}")
    return path


def percent(text: str) -> float:
    """A percentage from 0 to 100 (``runbook --complete-percent``)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage between 0 and 100")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0 (``collect --retries``)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 0")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (``collect --concurrency``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def positive_float(text: str) -> float:
    """A number of seconds > 0 (``collect --timeout``, ``--request-timeout``; ``qa --request-timeout``)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def non_negative_float(text: str) -> float:
    """A number >= 0 (``serve --replay-speed``: 0 = no delay)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of at least 0")
    return value


def matrix_count(text: str) -> int:
    """A whole number from 1 to 1000 (``qa --seeds``, ``qa --endpoints``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number between 1 and 1000")
    return value


def workers(text: str) -> int:
    """A number of processes from 1 to 256 (``serve --workers``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes between 1 and 256")
    return value


__all__ = [
    "DEFAULT_SEED",
    "HelpFormatter",
    "Parser",
    "UsageError",
    "ensure_folder",
    "matrix_count",
    "non_negative_float",
    "non_negative_int",
    "output_console",
    "percent",
    "positive_float",
    "positive_int",
    "workers",
]
