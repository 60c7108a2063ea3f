"""Prometheus metrics for one app: requests by operation and status, faults fired, in-flight, bytes served.

Built on ``prometheus_client`` with a registry per app (never the global one), so two simulators in one
process (tests, the QA matrix) keep separate counts. Served as text by ``GET /_sim/metrics``.

>>> metrics = Metrics()
>>> metrics.requests.labels(operation="get_task", status="200").inc()
>>> b'tanium_sim_requests_total{operation="get_task",status="200"} 1.0' in metrics.render()
True
"""

from __future__ import annotations

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

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's metrics."""
        return generate_latest(self.registry)


__all__ = ["Metrics"]
