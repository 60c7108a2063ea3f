"""``tanium-sim serve --replay session.har``: the options that make ``serve`` answer from a recording.

    tanium-sim serve --replay session.har                       # strict, recorded latency
    tanium-sim serve --replay session.har --replay-mode hybrid --replay-speed 0

The replay itself is :mod:`simulator.record.replay`; docs/recording.md says how it matches requests.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from simulator.cli.types import UsageError, non_negative_float

if TYPE_CHECKING:
    from simulator.record.replay import Replay


def add_options(p: argparse.ArgumentParser) -> None:
    """The ``--replay`` options of ``serve``."""
    group = p.add_argument_group("replay a recording (docs/recording.md)")
    group.add_argument(
        "--replay",
        metavar="HAR",
        help="answer vendor requests from a recording (HAR, as `tanium-sim record` writes it): the recorded "
        "answers in recorded order, then the last one again",
    )
    group.add_argument(
        "--replay-mode",
        choices=("strict", "hybrid"),
        help="strict (default): a request not in the recording answers 404 naming the nearest recorded one; "
        "hybrid: the simulator answers it",
    )
    group.add_argument(
        "--replay-speed",
        type=non_negative_float,
        metavar="X",
        help="replay recorded latency X times as fast (default 1: as recorded; 2: half of it; 0: no delay)",
    )


def replay_from_args(args: argparse.Namespace) -> Replay | None:
    """The replay the options ask for (None without ``--replay``); :class:`UsageError` in one sentence."""
    if not args.replay:
        for name in ("replay_mode", "replay_speed"):
            if getattr(args, name) is not None:
                raise UsageError(f"--{name.replace('_', '-')} needs --replay HAR: pass the recording too")
        return None
    if args.workers > 1:
        raise UsageError(
            f"--replay serves from one process: drop --workers {args.workers} "
            "(each worker would hand out the recorded answers on its own)"
        )
    from simulator.record.replay import Replay, ReplayError

    speed = 1.0 if args.replay_speed is None else args.replay_speed
    try:
        replay = Replay.load(args.replay, mode=args.replay_mode or "strict", speed=speed)
    except ReplayError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"tanium-sim replaying {replay.source}: {len(replay.exchanges)} exchanges, {replay.mode}, "
        f"speed {replay.speed:g}",
        flush=True,
    )
    return replay


__all__ = ["add_options", "replay_from_args"]
