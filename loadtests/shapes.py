"""Load shapes as data: ramp, step, spike and soak stages, picked with ``--shape`` on the command line.

Add this file to the locustfile list to drive the user count by stages instead of ``-u``/``-r`` alone::

    locust -f loadtests/locustfile.py,loadtests/shapes.py --shape spike -u 200 --headless

``-u`` is the peak: every stage gives its user count as a fraction of it, so one shape scales from a
laptop to a cluster. ``--shape-time-scale 0.1`` plays the same stages ten times faster (a smoke run of the
soak). When the last stage ends, the test stops; ``-t`` still caps the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from locust import LoadTestShape, events


@dataclass(frozen=True)
class Stage:
    """Hold ``users_fraction`` of the peak until ``end_s`` seconds into the run.

    Users are started or stopped at ``rate_fraction`` of the peak per second.
    """

    end_s: float
    users_fraction: float
    rate_fraction: float = 0.1


SHAPES: dict[str, tuple[Stage, ...]] = {
    # climb to the peak in ten even steps over five minutes, then hold one minute
    "ramp": (*(Stage(30.0 * (i + 1), (i + 1) / 10, 0.05) for i in range(10)), Stage(360.0, 1.0)),
    # four plateaus of two minutes: find the knee where latency starts to climb
    "step": (Stage(120, 0.25), Stage(240, 0.5), Stage(360, 0.75), Stage(480, 1.0)),
    # a quiet base, a sudden burst to the peak, back to base: does the simulator recover?
    "spike": (Stage(60, 0.1), Stage(90, 1.0, rate_fraction=1.0), Stage(210, 0.1, rate_fraction=1.0)),
    # half of the peak for ten minutes: memory and error drift (run it at half of measured capacity)
    "soak": (Stage(30, 0.5, 0.05), Stage(630, 0.5)),
}


def users_at(stages: tuple[Stage, ...], peak: int, run_time_s: float) -> tuple[int, float] | None:
    """The (users, spawn rate) a shape asks for at ``run_time_s``, None once it is over.

    >>> users_at(SHAPES["step"], 100, 130.0)
    (50, 10.0)
    >>> users_at(SHAPES["step"], 100, 500.0) is None
    True
    """
    for stage in stages:
        if run_time_s < stage.end_s:
            users = max(1, round(peak * stage.users_fraction))
            return users, max(1.0, peak * stage.rate_fraction)
    return None


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    parser.add_argument(
        "--shape",
        choices=sorted(SHAPES),
        default="ramp",
        help="load stages to play (loadtests/shapes.py); -u is the peak user count",
    )
    parser.add_argument(
        "--shape-time-scale",
        type=float,
        default=1.0,
        help="multiply every stage duration (0.1 = ten times faster)",
    )


class StagedShape(LoadTestShape):
    """Plays ``SHAPES[--shape]`` with ``-u`` as the peak user count."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options = self.runner.environment.parsed_options
        peak = int(getattr(options, "num_users", None) or 10)
        scale = float(getattr(options, "shape_time_scale", 1.0) or 1.0)
        stages = SHAPES[getattr(options, "shape", "ramp")]
        return users_at(stages, peak, self.get_run_time() / scale)
