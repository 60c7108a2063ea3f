"""The argparse ``type=`` checkers shared by the ``tanium-sim`` sub-commands.

Each turns the text of an option into its value, or raises :class:`argparse.ArgumentTypeError` with one
sentence, which argparse prints after the option's name (exit 2, no traceback):

>>> positive_int("8")
8
>>> positive_int("0")
Traceback (most recent call last):
argparse.ArgumentTypeError: '0' is not a whole number of at least 1
"""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """A user mistake: printed as one sentence, exit code 2, no traceback (``simulator.cli.main``)."""


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
    "UsageError",
    "matrix_count",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "workers",
]
