"""Prometheus metrics for one app: requests by operation and status, faults fired, in-flight, bytes served.

Counting is the hot path (every vendor request), so the counts live in plain dicts and ints that the
request path bumps with no lock and no label lookup; ``prometheus_client`` renders them through a custom
collector (its documented way to export values a program keeps itself) into a registry per app (never
the global one), so two simulators in one process (tests, the QA matrix) keep separate counts. Served as
text by ``GET /_sim/metrics``.

>>> metrics = Metrics()
>>> metrics.observe("get_task", "200", sent=120, delay_s=0.0)
>>> b'tanium_sim_requests_total{operation="get_task",status="200"} 1.0' in metrics.render()
True
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class Metrics:
    """The simulator's counters, exported in their own :class:`CollectorRegistry`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.in_flight = 0  # vendor requests being handled right now (the middleware adds and subtracts)
        self.requests: dict[tuple[str, str], int] = {}  # (operation, status) -> answered
        self.faults: dict[tuple[str, str], int] = {}  # (rule, type) -> fired
        self.bytes_served: dict[str, int] = {}  # operation -> response body bytes
        self.delay_seconds: dict[str, float] = {}  # operation -> injected latency
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Exporter(self))

    def observe(self, operation: str, status: str, sent: int, delay_s: float) -> None:
        """Count one answered request (``status`` "none" when no HTTP answer was sent)."""
        key = (operation, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if sent:
            self.bytes_served[operation] = self.bytes_served.get(operation, 0) + sent
        if delay_s:
            self.delay_seconds[operation] = self.delay_seconds.get(operation, 0.0) + delay_s

    def fault_fired(self, rule: str, fault_type: str) -> None:
        key = (rule, fault_type)
        self.faults[key] = self.faults.get(key, 0) + 1

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's metrics."""
        return generate_latest(self.registry)


class _Exporter(Collector):
    """Turns a :class:`Metrics`' dicts into metric families when the registry is scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        requests = CounterMetricFamily(
            "tanium_sim_requests",
            "Vendor requests answered, by operation and status ('none' when no HTTP answer was sent).",
            labels=["operation", "status"],
        )
        for (operation, status), count in list(m.requests.items()):
            requests.add_metric([operation, status], count)
        faults = CounterMetricFamily(
            "tanium_sim_faults", "Faults injected, by rule and fault type.", labels=["rule", "type"]
        )
        for (rule, fault_type), count in list(m.faults.items()):
            faults.add_metric([rule, fault_type], count)
        served = CounterMetricFamily(
            "tanium_sim_response_bytes", "Response body bytes sent, by operation.", labels=["operation"]
        )
        for operation, nbytes in list(m.bytes_served.items()):
            served.add_metric([operation], nbytes)
        delays = CounterMetricFamily(
            "tanium_sim_injected_delay_seconds",
            "Latency injected by the scenario, by operation.",
            labels=["operation"],
        )
        for operation, seconds in list(m.delay_seconds.items()):
            delays.add_metric([operation], seconds)
        yield requests
        yield faults
        yield GaugeMetricFamily(
            "tanium_sim_requests_in_flight", "Vendor requests being handled right now.", value=m.in_flight
        )
        yield served
        yield delays


__all__ = ["Metrics"]
