"""Prometheus series read from other services at scrape time.

The cache, the semantic cache, the transcriber and the outbox keep their own counters
(they report them on their own endpoints too); these callbacks turn those counters into
Prometheus series when `/metrics` is scraped, so none of those services imports the
metrics module or pays anything per operation for it. The outbox's numbers come from a
database query, so they are refreshed asynchronously just before each scrape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from bot.agent.breaker import BreakerState, CircuitBreaker
from bot.metrics import Metrics
from bot.telegram.health import LinkState, TelegramHealth

if TYPE_CHECKING:
    from bot.cache import Cache
    from bot.ops.retention import RetentionJob
    from bot.outbox import Outbox, OutboxStats
    from bot.semantic import SemanticCache
    from bot.services import Services
    from bot.voice import Transcriber
    from bot.voice.gate import VoiceGate


def _gauge(name: str, doc: str, value: float | None, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), math.nan if value is None else float(value))
    return family


def cache_families(cache: Cache) -> Iterable[Metric]:
    stats = cache.stats()
    hits = CounterMetricFamily("bot_cache_hits", "Cache lookups that found the key, by tier", labels=["tier"])
    misses = CounterMetricFamily("bot_cache_misses", "Cache lookups that missed, by tier", labels=["tier"])
    errors = CounterMetricFamily("bot_cache_errors", "Cache operations that failed, by tier", labels=["tier"])
    for tier, numbers in stats["tiers"].items():
        hits.add_metric([tier], numbers["hits"])
        misses.add_metric([tier], numbers["misses"])
        errors.add_metric([tier], numbers["errors"])
    yield from (hits, misses, errors)
    yield _gauge("bot_cache_redis_hit_rate", "Redis lookups that found the key, since start",
                 stats["tiers"]["redis"]["hit_rate"])
    yield _gauge("bot_cache_redis_up", "1 while Redis serves the cache, 0 while it falls back to memory",
                 1 if cache.available else 0)
    backend = GaugeMetricFamily("bot_cache_backend", "Where cache reads are served from (1 = current)",
                                labels=["backend"])
    for name in ("redis", "memory"):
        backend.add_metric([name], 1 if stats["backend"] == name else 0)
    yield backend
    yield CounterMetricFamily("bot_cache_fallback_activations", "Times the cache fell back to memory",
                              value=stats["fallback"]["activations"])


def semantic_families(semantic: SemanticCache) -> Iterable[Metric]:
    stats = semantic.stats.as_dict()
    yield CounterMetricFamily("bot_semantic_cache_lookups", "Semantic cache lookups of shareable questions",
                              value=stats["lookups"])
    yield CounterMetricFamily("bot_semantic_cache_hits", "Semantic cache lookups that found an answer",
                              value=stats["hits"])
    yield _gauge("bot_semantic_cache_hit_rate", "Semantic cache hits / lookups, since start", stats["hit_rate"])


def transcriber_families(transcriber: Transcriber) -> Iterable[Metric]:
    status = transcriber.status()
    yield CounterMetricFamily("bot_transcriptions", "Voice transcriptions finished", value=status.transcriptions)
    yield CounterMetricFamily("bot_transcription_failures", "Transcriptions that failed (undecodable, too long, "
                              "engine error)", value=status.failures)
    yield CounterMetricFamily("bot_transcriptions_rejected", "Transcriptions refused because the queue was full",
                              value=status.rejected_busy)
    yield _gauge("bot_transcription_rtf", "Mean real-time factor of the transcriptions (processing / audio "
                 "seconds; below 1 is faster than real time)", status.avg_rtf)
    yield _gauge("bot_transcription_queue", "Transcriptions waiting for a worker", status.queue)
    yield _gauge("bot_whisper_loaded", "1 when the Whisper model is loaded", 1 if status.loaded else 0)


def voice_gate_families(gate: VoiceGate) -> Iterable[Metric]:
    refused = CounterMetricFamily("bot_voice_notes_refused", "Voice notes turned away per user before "
                                  "transcription (pending: too many at once; rate: too many a minute)",
                                  labels=["reason"])
    for reason in ("pending", "rate"):
        refused.add_metric([reason], gate.refused[reason])
    yield refused


def breaker_families(breaker: CircuitBreaker | None) -> Iterable[Metric]:
    if breaker is None:
        return
    snapshot = breaker.snapshot()
    state = GaugeMetricFamily("bot_openai_circuit_state", "The model server's circuit breaker (1 = current state)",
                              labels=["state"])
    for name in BreakerState:
        state.add_metric([name.value], 1 if snapshot.state is name else 0)
    yield state
    yield CounterMetricFamily("bot_openai_circuit_trips", "Times the circuit breaker opened", value=snapshot.trips)


def telegram_families(health: TelegramHealth) -> Iterable[Metric]:
    """The link to the Bot API (bot/telegram/health.py): how long since Telegram last answered, and why not."""
    yield _gauge("bot_telegram_seconds_since_last_success", "Seconds since the last successful Bot API call "
                 "(NaN: none yet)", health.seconds_since_ok())
    yield _gauge("bot_telegram_up", "1 while updates reach the bot (polling works or the webhook is confirmed) and "
                 "Telegram answers", 1 if health.state is LinkState.OK else 0)
    yield _gauge("bot_telegram_unreachable_seconds", "How long Telegram has been unreachable (0: reachable)",
                 health.unreachable_for())
    yield _gauge("bot_telegram_unauthorized", "1 while the Bot API rejects TELEGRAM_BOT_TOKEN (401)",
                 1 if health.unauthorized_since is not None else 0)
    failures = CounterMetricFamily("bot_telegram_failures", "Failed Bot API calls, by kind (network, server, "
                                   "unauthorized, conflict)", labels=["kind"])
    for kind in ("network", "server", "unauthorized", "conflict"):
        failures.add_metric([kind], health.failures[kind])
    yield failures
    yield CounterMetricFamily("bot_telegram_polling_restarts", "Times polling was started again after it ended "
                              "or was stopped by a 401 or conflict", value=health.polling_restarts)
    webhook = health.webhook
    if webhook is not None:
        yield _gauge("bot_telegram_webhook_pending_updates", "pending_update_count from the last getWebhookInfo",
                     webhook.pending_update_count)
        yield _gauge("bot_telegram_webhook_last_error_timestamp_seconds", "last_error_date from the last "
                     "getWebhookInfo (epoch; NaN: none)", webhook.last_error_date)
        info = GaugeMetricFamily("bot_telegram_webhook_last_error", "last_error_message from the last "
                                 "getWebhookInfo (1 with the message as a label; absent: none)", labels=["message"])
        if webhook.last_error_message:
            info.add_metric([webhook.last_error_message[:200]], 1)
        yield info
        yield CounterMetricFamily("bot_telegram_webhook_resets", "Times the webhook was found missing or different "
                                  "and set again", value=webhook.resets)


class OutboxExporter:
    """Backlog of the Telegram outbox; its stats are a database query, refreshed before each scrape."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.last: OutboxStats | None = None

    async def refresh(self) -> None:
        self.last = await self.outbox.stats()

    def families(self) -> Iterable[Metric]:
        stats = self.last
        if stats is None:
            return
        yield _gauge("bot_outbox_pending", "Telegram messages not delivered yet (waiting or being sent)",
                     stats.pending + stats.sending)
        by_status = GaugeMetricFamily("bot_outbox_messages", "Outbox rows by status", labels=["status"])
        for status in ("pending", "sending", "delivered", "failed", "skipped"):
            by_status.add_metric([status], getattr(stats, status))
        yield by_status
        yield _gauge("bot_outbox_oldest_pending_age_seconds", "Age of the oldest undelivered message (0: none)",
                     stats.oldest_pending_age_seconds or 0.0)


def retention_families(job: RetentionJob) -> Iterable[Metric]:
    purged = CounterMetricFamily("bot_retention_purged_rows", "Rows removed by the retention job, by rule",
                                 labels=["rule"])
    for rule, count in sorted(job.purged_total.items()):
        purged.add_metric([rule], count)
    yield purged
    yield _gauge("bot_retention_last_run_timestamp_seconds", "When the retention job last ran (epoch)",
                 job.last_run_at)


def install(metrics: Metrics, services: Services) -> None:
    """Register the scrape-time callbacks of the services (called once, by the composition root)."""
    metrics.register_callback("cache", lambda: cache_families(services.cache))
    semantic = services.semantic
    if semantic is not None:
        metrics.register_callback("semantic", lambda: semantic_families(semantic))
    metrics.register_callback("openai_breaker", lambda: breaker_families(services.agent.breaker))
    metrics.register_callback("voice_gate", lambda: voice_gate_families(services.voice_gate))
    metrics.register_callback("retention", lambda: retention_families(services.retention))
    metrics.register_callback("telegram", lambda: telegram_families(services.telegram))
    metrics.register_callback("transcriber", lambda: transcriber_families(services.transcriber))
    exporter = OutboxExporter(services.outbox)
    metrics.register_refresher("outbox", exporter.refresh)
    metrics.register_callback("outbox", exporter.families)
