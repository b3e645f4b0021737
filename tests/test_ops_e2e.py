"""GET /metrics and GET /api/slo on the running application."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.semantic import Ct2Embedder
from bot.services import Seams
from bot.voice import WhisperTranscriber
from testkit.settings import make_settings
from testkit.voice import fixture_bytes
from tests.helpers import running_app

pytestmark = pytest.mark.slow

EXPECTED_SERIES = {
    "bot_chat_latency_seconds": "histogram",
    "bot_chat_latency_p50_seconds": "gauge",
    "bot_chat_latency_p95_seconds": "gauge",
    "bot_chat_error_rate": "gauge",
    "bot_chat_turns": "counter",
    "bot_chat_errors": "counter",
    "bot_openai_requests": "counter",
    "bot_openai_failures": "counter",
    "bot_cache_redis_hit_rate": "gauge",
    "bot_cache_hits": "counter",
    "bot_semantic_cache_hit_rate": "gauge",
    "bot_semantic_cache_lookups": "counter",
    "bot_retention_purged_rows": "counter",
    "bot_outbox_pending": "gauge",
    "bot_outbox_oldest_pending_age_seconds": "gauge",
    "bot_transcriptions": "counter",
    "bot_transcription_rtf": "gauge",
}


def parse(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


async def test_metrics_parse_as_prometheus_text_with_the_operations_series(
    tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber, redis_server,
    embedder: Ct2Embedder,
) -> None:
    (tmp_path / "faq.yaml").write_text("questions: []\n")
    settings = make_settings(tmp_path, redis_url=redis_server.url, semantic_cache_enabled=True,
                             faq_path=tmp_path / "faq.yaml")
    async with running_app(settings, Seams(transcriber=whisper, embedder=embedder)) as app:
        metrics = app.services.metrics
        for ms, source, error in [(120, "cache", None), (900, "llm", None), (2400, "offline", "timeout")]:
            metrics.record_turn("text", source, ms / 1000, error)
        metrics.record_model_request(None, 0.8)
        metrics.record_model_request("timeout", 20.0)
        await app.services.transcriber.transcribe(fixture_bytes("cappuccino.ogg"))
        await app.services.cache.set("user:profile:1", {"name": "Ana"})
        assert await app.services.cache.get("user:profile:1") == {"name": "Ana"}
        assert await app.services.cache.get("user:profile:2") is None
        await app.db.execute(  # a staff message stuck for two minutes (Telegram off: the worker leaves it)
            "INSERT INTO outbox(kind, chat_id, payload, status, next_attempt_at, created_at) "
            "VALUES ('message', -100, '{}', 'pending', ?, ?)", (time.time() + 3600, time.time() - 120))
        async with http.get(f"http://127.0.0.1:{app.port}/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            families = parse(await r.text())
    for name, kind in EXPECTED_SERIES.items():
        assert name in families, name
        assert families[name].type == kind, name
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("bot_chat_latency_p95_seconds", ())] == pytest.approx(2.4)
    assert samples[("bot_chat_error_rate", ())] == pytest.approx(1 / 3)
    assert samples[("bot_openai_failures_total", (("error_class", "timeout"),))] == 1
    assert samples[("bot_transcriptions_total", ())] == 1
    assert 0 < samples[("bot_transcription_rtf", ())] < 5
    assert samples[("bot_cache_redis_hit_rate", ())] == pytest.approx(0.5)
    assert samples[("bot_outbox_pending", ())] == 1
    assert samples[("bot_outbox_oldest_pending_age_seconds", ())] >= 120


async def test_slo_endpoint_reports_each_target_from_live_metrics(
    tmp_path: Path, http: aiohttp.ClientSession, whisper: WhisperTranscriber
) -> None:
    async with running_app(make_settings(tmp_path), Seams(transcriber=whisper)) as app:
        for ms in (100, 200, 300, 400):
            app.services.metrics.record_turn("text", "llm", ms / 1000, None)
        async with http.get(f"http://127.0.0.1:{app.port}/api/slo") as r:
            assert r.status == 200
            report = await r.json()
    rows = {row["key"]: row for row in report["targets"]}
    assert rows["chat_p95_ms"]["value"] == pytest.approx(400) and rows["chat_p95_ms"]["met"] is True
    assert rows["error_rate"]["value"] == 0 and rows["error_rate"]["samples"] == 4
    assert rows["redis_hit_rate"]["met"] is None and "REDIS_URL" in rows["redis_hit_rate"]["basis"]
    assert report["all_met"] is True
