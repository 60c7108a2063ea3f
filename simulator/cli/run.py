"""``tanium-sim run``: the main job end to end (what ``make run`` does)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="start a simulator in-process, collect every endpoint's trace, summarize")
    p.add_argument("--endpoints", type=int, default=25, help="fleet size (default 25)")
    p.add_argument("--seed", type=int, default=1, help="world seed (default 1)")
    p.add_argument("--out", default="out", help="folder for the collected traces (default ./out)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    raise SystemExit("not implemented yet")
