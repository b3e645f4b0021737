"""Process metrics in one Prometheus registry per application instance.

A registry per instance (not prometheus-client's global one) lets tests run several
application instances in one process and read each one's numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.updates = Counter(
            "bot_updates_total", "Telegram updates handled, by kind", ["kind"], registry=self.registry
        )
        self.update_errors = Counter(
            "bot_update_errors_total", "Updates whose handler raised", ["kind"], registry=self.registry
        )
        self.update_latency = Histogram(
            "bot_update_latency_seconds", "Time to handle one update", ["kind"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.inflight = Gauge("bot_updates_inflight", "Updates being handled now", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
