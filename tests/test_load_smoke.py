"""The load benchmark's harness, in miniature, so it cannot rot: 5 customers for 20 seconds, no fault.

It runs `python -m bench.load` as a child process, exactly as an operator does (which runs
the real `python main.py` against the fake servers and a private Redis), and checks in its
report files that every kind of customer step was exercised, answered and reported. It asserts
no latency: figures belong to the benchmark, not to CI. The tests do not import the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from testkit import ROOT
from testkit.settings import subprocess_env

SMOKE = ["--scenario", "baseline", "--customers", "5", "--minutes", str(20 / 60), "--seed", "11",
         "--first-actions", "order_buttons,order_words,voice,bad_input,frequent", "--stamp", "smoke"]
FIGURES = [
    ("latency_ms", "chat", "p50"), ("latency_ms", "chat", "p95"), ("latency_ms", "chat", "p99"),
    ("messages", "error_rate"), ("cache", "exact_hit_rate"), ("cache", "semantic_hit_rate"),
    ("cache", "redis", "hit_rate"), ("throughput", "answered_per_s"), ("memory_mb", "peak_mb"),
    ("orders", "placed_told_customer"), ("orders", "in_database"), ("orders", "staff_cards_delivered"),
]


def test_load_harness_drives_every_kind_of_step_and_reports_every_figure(tmp_path: Path, redis_installed: None) -> None:
    run = subprocess.run([sys.executable, "-m", "bench.load", *SMOKE, "--results-dir", str(tmp_path)],
                         cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr

    [result] = json.loads((tmp_path / "load-smoke.json").read_text(encoding="utf-8"))
    categories = result["messages"]["by_category"]
    assert {"chat", "voice", "button", "bad", "command"} <= set(categories), categories
    assert result["messages"]["unanswered"] == 0, result["unanswered_examples"]
    orders = result["orders"]
    assert orders["placed_told_customer"] >= 2  # one by buttons, one in plain words
    assert orders["placed_told_customer"] == orders["in_database"] == orders["staff_cards_delivered"]
    assert orders["placed_missing_from_database"] == orders["database_orders_without_staff_card"] == []
    assert [life["exit_code"] for life in result["bot"]["lives"]] == [0]
    for path in FIGURES:
        value = result
        for key in path:
            value = value[key]
        assert value is not None, path

    report = (tmp_path / "load-smoke.md").read_text(encoding="utf-8")
    assert "| baseline |" in report and "chat p95 < 1500 ms" in report
    assert (tmp_path / "load-smoke-baseline.probes.jsonl").exists()
