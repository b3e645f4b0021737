"""Operations benchmark: what metrics cost per turn and per scrape, and what a purge costs the bot.

    python -m bench.ops_bench [--turns 100000] [--window-turns 20000] [--rows 200000] [--json]

- record_turn: the one call per agent turn (counters, histogram, 5-minute window), µs per call.
- window snapshot (p50/p95/error rate) and `/metrics` render, each after a new turn, with
  `--window-turns` turns in the last 5 minutes (20,000 is a busy cafe chain: about 67
  turns a second), ms per call.
- purge: `--rows` agent_events and as many dialog messages older than the retention limits
  in a real SQLite file (WAL), purged while a "bot" task writes one row every 10 ms through
  the same Database; printed: rows/s and how long the bot's writes waited (p50, p99, max),
  batched (500 rows per transaction) and, for comparison, as one big delete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from bot.config import load_settings
from bot.metrics import Metrics
from bot.ops.retention import BATCH_SIZE, DAY_SECONDS, purge
from bot.percentiles import percentile
from storage.db import Database

SOURCES = ("llm", "cache", "semantic", "offline")


def bench_record_turn(turns: int) -> float:
    metrics = Metrics()
    rng = random.Random(1)
    samples = [(rng.choice(SOURCES), rng.lognormvariate(-1, 1), None if rng.random() > 0.01 else "timeout")
               for _ in range(turns)]
    started = time.perf_counter()
    for source, latency, error in samples:
        metrics.record_turn("text", source, latency, error)
    return (time.perf_counter() - started) / turns * 1e6


def bench_scrape(window_turns: int) -> tuple[float, float]:
    metrics = Metrics()
    rng = random.Random(2)
    for _ in range(window_turns):
        metrics.record_turn("text", rng.choice(SOURCES), rng.lognormvariate(-1, 1), None)
    runs = 20
    snapshot = render = 0.0
    for _ in range(runs):  # a new turn before each read: no cached snapshot helps
        metrics.record_turn("text", "llm", 0.5, None)
        started = time.perf_counter()
        metrics.chat_window()
        snapshot += time.perf_counter() - started
        metrics.record_turn("text", "llm", 0.5, None)
        started = time.perf_counter()
        metrics.render()
        render += time.perf_counter() - started
    return snapshot / runs * 1000, render / runs * 1000


async def seed(db: Database, rows: int) -> None:
    old = time.time() - 400 * DAY_SECONDS
    chunk = 10_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        await db.executemany(
            "INSERT INTO agent_events(user_id, kind, latency_ms, source, model, prompt_version, created_at) "
            "VALUES (?, 'text', 100, 'llm', 'm', 'v', ?)", [(i % 500, old + i) for i in range(start, start + n)])
        async with db.transaction() as tx:
            dialog_id = await tx.insert(
                "INSERT INTO dialogs(user_id, started_at, last_message_at) VALUES (1, ?, ?) RETURNING id", (old, old))
            await tx.executemany(
                "INSERT INTO dialog_messages(dialog_id, user_id, role, content, created_at) "
                "VALUES (?, 1, 'user', 'an old question about the menu', ?)",
                [(dialog_id, old + i) for i in range(n)])


async def bench_purge(rows: int, batch_size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(_env_file=None, database_path=Path(tmp) / "bench.db")
        async with Database(settings.database_path) as db:
            await seed(db, rows)
            waits: list[float] = []
            done = asyncio.Event()

            async def bot_writes() -> None:
                while not done.is_set():
                    started = time.perf_counter()
                    await db.execute("INSERT INTO runtime_settings(key, value, updated_at) VALUES ('k', 'v', 0) "
                                     "ON CONFLICT(key) DO UPDATE SET updated_at = updated_at + 1")
                    waits.append((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(0.01)

            writer = asyncio.create_task(bot_writes())
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            report = await purge(db, settings, batch_size=batch_size)
            seconds = time.perf_counter() - started
            done.set()
            await writer
    removed = sum(report.counts.values())
    ordered = sorted(waits)
    return {"rows_removed": removed, "seconds": round(seconds, 2), "rows_per_s": round(removed / seconds),
            "bot_write_wait_ms_p50": round(percentile(ordered, 50) or 0, 1),
            "bot_write_wait_ms_p99": round(percentile(ordered, 99) or 0, 1),
            "bot_write_wait_ms_max": round(ordered[-1] if ordered else 0, 1), "bot_writes": len(ordered)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--window-turns", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    results: dict[str, object] = {"record_turn_us": round(bench_record_turn(args.turns), 2)}
    snapshot_ms, render_ms = bench_scrape(args.window_turns)
    results["window_snapshot_ms"] = round(snapshot_ms, 2)
    results["metrics_render_ms"] = round(render_ms, 2)
    results["purge_batched"] = asyncio.run(bench_purge(args.rows, BATCH_SIZE))
    results["purge_one_delete"] = asyncio.run(bench_purge(args.rows, args.rows * 2))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"record_turn: {results['record_turn_us']} µs per turn")
    print(f"{args.window_turns} turns in the window: snapshot {snapshot_ms:.2f} ms, /metrics render {render_ms:.2f} ms")
    for name in ("purge_batched", "purge_one_delete"):
        r = results[name]
        assert isinstance(r, dict)
        print(f"{name}: {r['rows_removed']} rows in {r['seconds']} s ({r['rows_per_s']} rows/s); bot writes waited "
              f"p50 {r['bot_write_wait_ms_p50']} ms, p99 {r['bot_write_wait_ms_p99']} ms, "
              f"max {r['bot_write_wait_ms_max']} ms ({r['bot_writes']} writes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
