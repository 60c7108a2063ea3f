"""The running scenario: its fault rules, latency streams, bandwidth bucket, journal and metrics.

One :class:`ScenarioRuntime` lives for the app's lifetime (``app.state.runtime``); replacing the scenario
(``PUT /_sim/scenario``) swaps what it holds in one step, after the new scenario validated, so a request
sees either the old scenario or the new one, never a mix.

Randomness: every operation's latency and every rule draw from their own ``random.Random`` seeded from
(seed, name), so the same seed and the same request sequence give the same delays and faults.

>>> from simulator.clock import ManualClock
>>> rt = ScenarioRuntime(Scenario.from_text("latency: {default: 100}"), seed=1, clock=ManualClock())
>>> rt.delay_for("get_task")
0.1
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from simulator.clock import Clock
from simulator.faults.rules import FaultRule, RuleSet, SharedCounter, rule_rng
from simulator.journal import Journal
from simulator.metrics import Metrics
from simulator.scenarios import Scenario
from simulator.state.fleet import stable_hash

if TYPE_CHECKING:
    from simulator.shared import SharedControl

Sleep = Callable[[float], Awaitable[None]]
RngFactory = Callable[[str], random.Random]


class ScenarioRuntime:
    """What the fault middleware consults on every request."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int,
        clock: Clock,
        sleep: Sleep | None = None,
        journal: Journal | None = None,
        metrics: Metrics | None = None,
        rng_for: RngFactory | None = None,
        store: Any = None,
        shared: SharedControl | None = None,
        on_install: Callable[[Scenario], object] | None = None,
    ) -> None:
        self.clock = clock
        self.store = store  # rules match a task's or an evidence's clientId; session faults end sessions
        self.sleep: Sleep = sleep or asyncio.sleep
        self.journal = journal or Journal()
        self.metrics = metrics or Metrics()
        self._rng_for = rng_for
        self.shared = shared
        self.on_install = on_install  # applies a scenario's settings to the backend (set by create_app)
        self._install(scenario, seed, scenario.faults, self.clock.now(), None)

    def _install(
        self,
        scenario: Scenario,
        seed: int,
        rules: Iterable[FaultRule],
        started_at: float,
        counter_for: Callable[[str], SharedCounter] | None,
    ) -> None:
        rng_for = self._rng_for or (lambda name: rule_rng(seed, name))
        rule_set = RuleSet(rules, seed=seed, rng_for=rng_for, counter_for=counter_for)
        # Assigned together, after everything was built: requests never see half a scenario.
        self.scenario, self.seed, self._rules = scenario, seed, rule_set
        self._latency_rngs: dict[str, random.Random] = {}
        self.started_at = started_at
        self._bucket_next = 0.0

    @property
    def rules(self) -> RuleSet:
        """The live rules (on a shared store, first picking up a change another process made)."""
        if self.shared is not None:
            self.shared.maybe_refresh(self)
        return self._rules

    @property
    def current_rules(self) -> RuleSet:
        """The live rules as this process holds them (no refresh)."""
        return self._rules

    def install(self, scenario: Scenario, *, seed: int) -> None:
        """Make ``scenario`` the running one: fresh rule counters and random streams, clock restarted.

        On a shared store every process runs it within a second (:mod:`simulator.shared`).
        """
        self._install(scenario, seed, scenario.faults, self.clock.now(), None)
        if self.shared is not None:
            self.shared.publish(self, new_epoch=True)

    def install_shared(
        self,
        scenario: Scenario,
        seed: int,
        rules: Iterable[FaultRule],
        started_at: float,
        counter_for: Callable[[str], SharedCounter],
    ) -> None:
        """Run the scenario another process made the world's (settings applied through ``on_install``)."""
        changed = scenario is not self.scenario and scenario != self.scenario
        self._install(scenario, seed, rules, started_at, counter_for)
        if changed and self.on_install is not None:
            self.on_install(scenario)

    def rules_changed(self) -> None:
        """Tell the other processes that a rule was added or removed here."""
        if self.shared is not None:
            self.shared.publish(self, new_epoch=False)

    def reset_faults(self) -> None:
        """Back to the scenario's own rules (live additions dropped), counters and streams restarted."""
        self.install(self.scenario, seed=self.seed)

    def elapsed(self) -> float:
        return self.clock.now() - self.started_at

    def delay_for(self, operation: str) -> float:
        """The latency to inject for one request of ``operation`` (seconds)."""
        dist = self.scenario.latency_for(operation)
        if dist.is_zero:
            return 0.0
        if dist.model == "fixed":
            return dist.value
        rng = self._latency_rngs.get(operation)
        if rng is None:
            rng = self._latency_rngs[operation] = random.Random(stable_hash(self.seed, "latency", operation))
        return dist.sample(rng)

    def pace(self, nbytes: int) -> float:
        """Seconds to wait before sending ``nbytes`` of an evidence download (0 when unthrottled)."""
        bw = self.scenario.bandwidth
        if not bw.bytes_per_s:
            return 0.0
        cost = nbytes / bw.bytes_per_s
        if bw.per_connection:
            return cost
        # Shared link: a token bucket over the clock, so concurrent downloads split the rate.
        now = self.clock.now()
        start = max(now, self._bucket_next)
        self._bucket_next = start + cost
        return self._bucket_next - now


__all__ = ["ScenarioRuntime"]
