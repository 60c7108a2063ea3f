"""Prometheus metrics for one app: requests by operation and status, faults fired, in-flight, bytes served.

Built on ``prometheus_client`` with a registry per app (never the global one), so two simulators in one
process (tests, the QA matrix) keep separate counts. Served as text by ``GET /_sim/metrics``.

>>> metrics = Metrics()
>>> metrics.requests.labels(operation="get_task", status="200").inc()
>>> b'tanium_sim_requests_total{operation="get_task",status="200"} 1.0' in metrics.render()
True
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """The simulator's metric families, registered in their own :class:`CollectorRegistry`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tanium_sim_requests",
            "Vendor requests answered, by operation and status ('none' when no HTTP answer was sent).",
            ["operation", "status"],
            registry=self.registry,
        )
        self.faults = Counter(
            "tanium_sim_faults",
            "Faults injected, by rule and fault type.",
            ["rule", "type"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "tanium_sim_requests_in_flight",
            "Vendor requests being handled right now.",
            registry=self.registry,
        )
        self.bytes_served = Counter(
            "tanium_sim_response_bytes",
            "Response body bytes sent, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.delay_seconds = Counter(
            "tanium_sim_injected_delay_seconds",
            "Latency injected by the scenario, by operation.",
            ["operation"],
            registry=self.registry,
        )

        # labels() costs a lock and a tuple build per call: keep the children per label set.
        self._children: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def observe(self, operation: str, status: str, sent: int, delay_s: float) -> None:
        """Count one answered request (the hot path: one dict lookup, then unlabelled increments)."""
        children = self._children.get((operation, status))
        if children is None:
            children = self._children[(operation, status)] = (
                self.requests.labels(operation=operation, status=status),
                self.bytes_served.labels(operation=operation),
                self.delay_seconds.labels(operation=operation),
            )
        children[0].inc()
        if sent:
            children[1].inc(sent)
        if delay_s:
            children[2].inc(delay_s)

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's metrics."""
        return generate_latest(self.registry)


__all__ = ["Metrics"]
