"""The 5-minute turn window, the chat metrics and the SLO evaluation, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from bot.metrics import Metrics
from bot.ops.slo import Measurement, evaluate, exit_code, render_text
from bot.ops.window import TurnWindow
from bot.percentiles import percentile
from tests.helpers import ManualClock

# A known sequence of 20 turns: latencies 100, 200, ..., 2000 ms; one model failure; sources
# 8 exact cache, 4 semantic, 6 model, 2 offline.
LATENCIES_MS = [100 * i for i in range(1, 21)]
SOURCES = ["cache"] * 8 + ["semantic"] * 4 + ["llm"] * 6 + ["offline"] * 2
ERRORS: list[str | None] = [None] * 19 + ["timeout"]


def feed(metrics: Metrics) -> None:
    for ms, source, error in zip(LATENCIES_MS, SOURCES, ERRORS, strict=True):
        metrics.record_turn("text", source, ms / 1000, error)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in LATENCIES_MS]
    # Nearest rank: p50 -> ceil(0.50 * 20) = 10th value, p95 -> ceil(0.95 * 20) = 19th value.
    assert percentile(values, 50) == 1000
    assert percentile(values, 95) == 1900
    assert percentile(values, 100) == 2000
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 95) is None


def test_known_turns_give_hand_computed_p50_p95_error_rate_and_shares() -> None:
    metrics = Metrics(clock=ManualClock())
    feed(metrics)
    snap = metrics.chat_window()
    assert snap.turns == 20
    assert snap.p50_ms == pytest.approx(1000)
    assert snap.p95_ms == pytest.approx(1900)
    assert snap.errors == 1 and snap.error_rate == pytest.approx(1 / 20)
    assert snap.sources == {"cache": 8, "semantic": 4, "llm": 6, "offline": 2}
    assert snap.share("cache") == pytest.approx(0.4)


def test_window_forgets_turns_older_than_five_minutes() -> None:
    clock = ManualClock()
    window = TurnWindow(300, clock)
    window.add(5.0, "llm", True)
    clock.now += 200
    window.add(0.1, "cache", False)
    assert len(window) == 2
    clock.now += 100  # the first turn is now exactly 300 s old: out
    snap = window.snapshot()
    assert (snap.turns, snap.errors, snap.p95_ms) == (1, 0, pytest.approx(100))
    clock.now += 300
    empty = window.snapshot()
    assert empty.turns == 0 and empty.p95_ms is None and empty.error_rate is None


def test_limited_mode_is_not_an_error_but_model_failures_are() -> None:
    metrics = Metrics(clock=ManualClock())
    metrics.record_turn("text", "offline", 0.01, "no_api_key")
    metrics.record_turn("text", "offline", 0.02, "circuit_open")
    metrics.record_turn("voice", "cache", 0.02, "rate_limit")  # the model failed, the cache answered
    metrics.record_turn("text", "llm", 0.5, None)
    snap = metrics.chat_window()
    assert snap.errors == 2 and snap.error_rate == pytest.approx(0.5)
    assert metrics.chat_errors.labels("circuit_open")._value.get() == 1
    assert metrics.chat_turns.labels("voice", "cache")._value.get() == 1


def test_prometheus_gauges_follow_the_window() -> None:
    clock = ManualClock()
    metrics = Metrics(clock=clock)
    assert math.isnan(metrics.registry.get_sample_value("bot_chat_latency_p95_seconds"))
    feed(metrics)
    value = metrics.registry.get_sample_value
    assert value("bot_chat_latency_p95_seconds") == pytest.approx(1.9)
    assert value("bot_chat_latency_p50_seconds") == pytest.approx(1.0)
    assert value("bot_chat_error_rate") == pytest.approx(0.05)
    assert value("bot_chat_window_turns") == 20
    assert value("bot_chat_latency_seconds_count", {"source": "cache"}) == 8
    # The histogram keeps everything (Prometheus computes its own rates); the window forgets.
    clock.now += 301
    assert value("bot_chat_window_turns") == 0
    assert value("bot_chat_latency_seconds_count", {"source": "cache"}) == 8


def test_model_requests_are_counted_by_outcome_and_failure_class() -> None:
    metrics = Metrics()
    metrics.record_model_request(None, 0.4)
    metrics.record_model_request("rate_limit", 0.1)
    metrics.record_model_request("rate_limit", 0.1)
    metrics.record_model_request("timeout", 20.0)
    value = metrics.registry.get_sample_value
    assert value("bot_openai_requests_total", {"outcome": "ok"}) == 1
    assert value("bot_openai_requests_total", {"outcome": "error"}) == 3
    assert value("bot_openai_failures_total", {"error_class": "rate_limit"}) == 2
    assert value("bot_openai_request_seconds_count") == 4


def test_slo_report_judges_each_runbook_target() -> None:
    report = evaluate({
        "chat_p95_ms": Measurement(1900.0, 20, "p95"),
        "error_rate": Measurement(0.05, 20, "errors"),
        "redis_hit_rate": Measurement(0.9, 100, "redis"),
        "semantic_hit_rate": Measurement(None, 0, "nothing looked up"),
    }, "test")
    rows = {r["key"]: r for r in report["targets"]}
    assert [r["target"] for r in report["targets"]] == [
        "Chat p95 < 1500 ms with cache (5-minute window)", "Error rate < 2% (5-minute window)",
        "Redis hit rate > 80%", "Semantic cache hit rate > 25% on frequent queries",
    ]
    assert (rows["chat_p95_ms"]["met"], rows["error_rate"]["met"]) == (False, False)
    assert rows["redis_hit_rate"]["met"] is True
    assert rows["semantic_hit_rate"]["met"] is None and rows["semantic_hit_rate"]["display"] == "no data"
    assert report["all_met"] is False and exit_code(report) == 1
    text = render_text(report)
    assert "1900 ms (n=20)" in text and "NOT MET" in text and "90.0%" in text and "no data" in text
    # Thresholds are strict, as the runbook writes them ("< 1500", "> 80%").
    assert evaluate({"chat_p95_ms": Measurement(1500.0, 1, "")}, "t")["targets"][0]["met"] is False
    nothing = evaluate({}, "t")
    assert nothing["all_met"] is None and exit_code(nothing) == 0
