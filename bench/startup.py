"""Time from launch to answering, and resident memory when idle: `python -m bench.startup [--runs N]`.

Starts the real bot as its own process (`python main.py`, configured only by environment
variables, as bench/load does) against the fake Bot API, the fake OpenAI-compatible server
(answering at once, so the figures are the bot's own) and a private redis-server. A customer's
`/start` and a menu question are queued at the fake Bot API before the process is launched,
as if they had been sent while the bot was down; the clock runs from launch to:

- side server: `/healthz` answers;
- first getUpdates: the bot's first getUpdates reaches the fake Bot API (the moment it takes updates);
- `/start` answered: the welcome reaches the fake Bot API;
- question answered: the answer to the menu question reaches it (and the CPU seconds the bot had used by
  then, a figure that other load on the machine does not inflate);
- models loaded: Whisper and the embedding model ready (`/api/agent/whisper`, `/api/cache`);

then the bot idles for `--idle` seconds and its resident memory (VmRSS) is read, and it is stopped
(SIGTERM): the restart gap of polling mode is that stop plus the launch to the answered question.
`redis_false_alarms` counts "Redis unavailable" log lines (there is no outage in this bench). Each run
starts with a fresh database; `--cold-model-check` also empties the cache of model sums, so
the start hashes the model files (the first start after an install).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.load.bot_process import BotProcess, fake_backed_env
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer, free_port

CUSTOMER = 700_001
QUESTION = "Do you have oat milk?"


async def one_run(workdir: Path, idle: float, cold_model_check: bool) -> dict[str, float]:
    redis = RedisServer(workdir)
    redis.start()
    try:
        async with FakeTelegram() as telegram, FakeOpenAI() as model, aiohttp.ClientSession() as http:
            env = fake_backed_env(telegram.url, model.url, model.api_key, redis.url, workdir)
            if cold_model_check:
                env["XDG_CACHE_HOME"] = str(workdir / "cache")
            telegram.send_text(CUSTOMER, "/start")
            telegram.send_text(CUSTOMER, QUESTION)
            bot = BotProcess(workdir, env, free_port())
            figures: dict[str, float] = {"load_average": os.getloadavg()[0]}  # other sessions share the machine
            try:
                bot.start()
                started = bot.life.started
                while not await bot._ok(http, "/healthz"):
                    if bot.proc is None or bot.proc.poll() is not None:
                        raise RuntimeError(f"the bot exited; see {bot.log_path}")
                    await asyncio.sleep(0.02)
                figures["side_server_s"] = time.monotonic() - started
                await telegram.wait_for(lambda: telegram.getupdates_times, timeout=120)
                figures["first_getupdates_s"] = telegram.getupdates_times[0] - started
                await telegram.wait_for(lambda: len(telegram.sent_to(CUSTOMER)) >= 1, timeout=120)
                figures["start_answered_s"] = telegram.request_times[_first_send(telegram)] - started
                await telegram.wait_for(lambda: len(telegram.sent_to(CUSTOMER)) >= 2, timeout=120)
                figures["question_answered_s"] = time.monotonic() - started
                # The bot's own CPU seconds by then: what the start costs, whatever else the machine is doing.
                figures["question_answered_cpu_s"] = bot.cpu_seconds() or 0.0
                figures["models_loaded_s"] = await bot.wait_ready(http) if bot.life.ready_after_s is None else 0
                await asyncio.sleep(idle)
                figures["idle_rss_mb"] = bot.rss_mb() or 0.0
            finally:
                stopping = time.monotonic()
                await bot.stop()
                figures["stop_s"] = time.monotonic() - stopping
            # Polling mode: the old process stops (SIGTERM, in-flight answers finish), then the new one launches.
            figures["restart_gap_s"] = figures["stop_s"] + figures["question_answered_s"]
            log = bot.log_path.read_text(encoding="utf-8", errors="replace")
            checks = [float(s) for s in re.findall(r"model files of \S+ \S+ verified in ([0-9.]+) s", log)]
            figures["model_check_s"] = sum(checks)
            figures["redis_false_alarms"] = float(log.count("Redis unavailable"))
            return figures
    finally:
        redis.stop()


def _first_send(telegram: FakeTelegram) -> int:
    return next(i for i, (method, params) in enumerate(telegram.requests)
                if method.lower() == "sendmessage" and str(params.get("chat_id")) == str(CUSTOMER))


async def main_async(runs: int, idle: float, cold_model_check: bool) -> None:
    results = []
    for n in range(runs):
        with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
            figures = await one_run(Path(tmp), idle, cold_model_check)
        results.append(figures)
        print(f"run {n + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), flush=True)
    if runs > 1:
        print("median: " + ", ".join(f"{k} {statistics.median(r[k] for r in results):.2f}" for k in results[0]))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds idle before reading RSS (default 20)")
    parser.add_argument("--cold-model-check", action="store_true", help="start without remembered model sums")
    args = parser.parse_args()
    asyncio.run(main_async(args.runs, args.idle, args.cold_model_check))


if __name__ == "__main__":
    main()
