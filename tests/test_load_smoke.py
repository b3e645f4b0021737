"""The load benchmark's harness, in miniature, so it cannot rot: 5 customers for 20 seconds, no fault.

It runs the real `python main.py` against the fake servers and a private Redis exactly as
`python -m bench.load` does, and checks that every kind of customer step was exercised,
answered and reported. It asserts no latency: figures belong to the benchmark, not to CI.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.load.__main__ import run_scenarios
from bench.load.run import Options

SMOKE = Options(customers=5, minutes=20 / 60, seed=11,
                first_actions=("order_buttons", "order_words", "voice", "bad_input", "frequent"))
FIGURES = [
    ("latency_ms", "chat", "p50"), ("latency_ms", "chat", "p95"), ("latency_ms", "chat", "p99"),
    ("messages", "error_rate"), ("cache", "exact_hit_rate"), ("cache", "semantic_hit_rate"),
    ("cache", "redis", "hit_rate"), ("throughput", "answered_per_s"), ("memory_mb", "peak_mb"),
    ("orders", "placed_told_customer"), ("orders", "in_database"), ("orders", "staff_cards_delivered"),
]


async def test_load_harness_drives_every_kind_of_step_and_reports_every_figure(
    tmp_path: Path, redis_installed: None
) -> None:
    [result], json_path, md_path = await run_scenarios(["baseline"], SMOKE, tmp_path, stamp="smoke")

    categories = result["messages"]["by_category"]
    assert {"chat", "voice", "button", "bad", "command"} <= set(categories), categories
    assert result["messages"]["unanswered"] == 0, result["unanswered_examples"]
    orders = result["orders"]
    assert orders["placed_told_customer"] >= 2  # one by buttons, one in plain words
    assert orders["placed_told_customer"] == orders["in_database"] == orders["staff_cards_delivered"]
    assert orders["placed_missing_from_database"] == orders["database_orders_without_staff_card"] == []
    assert [life["exit_code"] for life in result["bot"]["lives"]] == [0]

    saved = json.loads(json_path.read_text(encoding="utf-8"))[0]
    for path in FIGURES:
        value = saved
        for key in path:
            value = value[key]
        assert value is not None, path
    report = md_path.read_text(encoding="utf-8")
    assert "| baseline |" in report and "chat p95 < 1500 ms" in report
    assert (tmp_path / "load-smoke-baseline.probes.jsonl").exists()
