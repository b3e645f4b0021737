"""Process metrics in one Prometheus registry per application instance.

A registry per instance (not prometheus-client's global one) lets tests run several
application instances in one process and read each one's numbers.

Two kinds of numbers live here:
- what this process counts itself (updates, chat turns, model requests), recorded by one
  call from the code path that sees the event (`record_turn`, `record_model_request`);
- what other services already count (cache tiers, semantic cache, Whisper, outbox), read at
  scrape time through registered callbacks, so those services keep their own counters and
  never import this module.

Chat turns also go into a 5-minute `TurnWindow`, the source of the p50/p95 and error
rate that the health check and the SLO report (the histogram is for Prometheus).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from bot.ops.window import WINDOW_SECONDS, TurnWindow, WindowSnapshot

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)

# Error classes that are a configuration, not a failure: without OPENAI_API_KEY every turn
# is answered in limited mode on purpose and must not count against the error-rate SLO; nor
# do turns kept from the model because a daily token budget is spent (bot/agent/budget.py).
NOT_AN_ERROR = frozenset({"no_api_key", "budget"})

MetricsCallback = Callable[[], Iterable[Metric]]
Refresher = Callable[[], Awaitable[None]]
REFRESH_TIMEOUT_SECONDS = 2.0


def is_error(error_class: str | None) -> bool:
    """Does a turn with this error class count as an error (model failed, breaker open, bug)?"""
    return error_class is not None and error_class not in NOT_AN_ERROR


class _CallbackCollector(Collector):
    """Yields whatever a callback reports at scrape time; a failing callback costs only its series."""

    def __init__(self, name: str, callback: MetricsCallback) -> None:
        self.name = name
        self.callback = callback

    def collect(self) -> Iterable[Metric]:
        try:
            return list(self.callback())
        except Exception:
            log.warning("metrics callback %s failed", self.name, exc_info=True)
            return []

    def describe(self) -> Iterable[Metric]:
        return []  # names are only known at scrape time; nothing to check at registration


class _Labelled:
    """The registry as scraped, with constant labels added to every sample (the replica's name)."""

    def __init__(self, registry: CollectorRegistry, labels: dict[str, str]) -> None:
        self._registry = registry
        self._labels = labels

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [s._replace(labels={**self._labels, **s.labels}) for s in family.samples]
            yield labelled


class Metrics:
    def __init__(self, window_seconds: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic,
                 replica: str = "") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Several replicas behind one balancer: each one's series told apart by replica="<REPLICA_NAME>".
        self._exposed: Any = _Labelled(self.registry, {"replica": replica}) if replica else self.registry
        r = self.registry
        self.updates = Counter("bot_updates_total", "Telegram updates handled, by kind", ["kind"], registry=r)
        self.update_errors = Counter("bot_update_errors_total", "Updates whose handler raised", ["kind"], registry=r)
        self.update_latency = Histogram(
            "bot_update_latency_seconds", "Time to handle one update", ["kind"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.inflight = Gauge("bot_updates_inflight", "Updates being handled now", registry=r)
        self.rate_limited = Counter("bot_rate_limited_total", "Updates dropped by the per-user rate limit, by kind",
                                    ["kind"], registry=r)

        # --- chat turns ---------------------------------------------------------------
        self.chat_turns = Counter(
            "bot_chat_turns_total", "Chat turns answered, by kind (text, voice, api, console) and source "
            "(llm, cache, semantic, offline)", ["kind", "source"], registry=r,
        )
        self.chat_errors = Counter(
            "bot_chat_errors_total", "Chat turns whose model answer failed, by error class", ["error_class"],
            registry=r,
        )
        self.chat_latency = Histogram(
            "bot_chat_latency_seconds", "Time to answer one chat turn, by source", ["source"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.window = TurnWindow(window_seconds, clock)
        window_labels = f"over the last {window_seconds:.0f} s"
        Gauge("bot_chat_latency_p50_seconds", f"Median chat latency {window_labels}", registry=r).set_function(
            lambda: _or_nan(self.window.snapshot().p50_ms, 1000))
        Gauge("bot_chat_latency_p95_seconds", f"95th percentile chat latency {window_labels}",
              registry=r).set_function(lambda: _or_nan(self.window.snapshot().p95_ms, 1000))
        Gauge("bot_chat_error_rate", f"Share of chat turns that failed {window_labels}", registry=r).set_function(
            lambda: _or_nan(self.window.snapshot().error_rate))
        Gauge("bot_chat_window_turns", f"Chat turns {window_labels}", registry=r).set_function(
            lambda: len(self.window))

        # --- the model server -----------------------------------------------------------
        self.model_requests = Counter(
            "bot_openai_requests_total", "Requests to the OpenAI-compatible server, by outcome (ok or error)",
            ["outcome"], registry=r,
        )
        self.model_failures = Counter(
            "bot_openai_failures_total", "Failed requests to the model server, by error class", ["error_class"],
            registry=r,
        )
        self.model_latency = Histogram(
            "bot_openai_request_seconds", "Duration of one request to the model server", buckets=LATENCY_BUCKETS,
            registry=r,
        )

        # --- daily token budgets (bot/agent/budget.py) ----------------------------------------
        self.budget_refusals = Counter(
            "bot_budget_refusals_total", "Chat turns answered without the model because a daily token budget "
            "was spent, by scope (user or global)", ["scope"], registry=r,
        )
        self.budget_tokens_today = Gauge(
            "bot_budget_tokens_today", "Model tokens (in + out) spent today in the cafe's time zone, as this "
            "process last read or counted them", registry=r,
        )

        self._refreshers: dict[str, Refresher] = {}

    # --- recording (one call from the code path that sees the event) ------------------------
    def record_turn(self, kind: str, source: str, latency_s: float, error_class: str | None = None) -> None:
        """One answered chat turn: counters, histogram and the 5-minute window."""
        error = is_error(error_class)
        self.chat_turns.labels(kind, source).inc()
        self.chat_latency.labels(source).observe(latency_s)
        if error:
            self.chat_errors.labels(error_class).inc()
        self.window.add(latency_s, source, error)

    def record_model_request(self, error_class: str | None, seconds: float) -> None:
        """One HTTP request to the model server (each retry is a request): None means it succeeded."""
        self.model_requests.labels("ok" if error_class is None else "error").inc()
        self.model_latency.observe(seconds)
        if error_class is not None:
            self.model_failures.labels(error_class).inc()

    def chat_window(self) -> WindowSnapshot:
        return self.window.snapshot()

    # --- numbers other services keep --------------------------------------------------------
    def register_callback(self, name: str, callback: MetricsCallback) -> None:
        """Series read from a service at scrape time (its own counters stay where they are)."""
        self.registry.register(_CallbackCollector(name, callback))

    def register_refresher(self, name: str, refresher: Refresher) -> None:
        """An async step run before each scrape (e.g. a database count a callback then reports)."""
        self._refreshers[name] = refresher

    async def refresh(self) -> None:
        for name, refresher in self._refreshers.items():
            try:
                await asyncio.wait_for(refresher(), REFRESH_TIMEOUT_SECONDS)
            except Exception:
                log.warning("metrics refresher %s failed", name, exc_info=True)

    def render(self) -> bytes:
        return generate_latest(self._exposed)


def _or_nan(value: Any, divisor: float = 1.0) -> float:
    """Prometheus' way of saying "no data": NaN (an empty window has no percentile)."""
    return float("nan") if value is None else float(value) / divisor
