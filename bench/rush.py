"""A rush of cached answers: `python -m bench.rush [--customers 30] [--rounds 3] [--runs 3] [--in-process]`.

By default the bot runs as production runs it: its own process (`python main.py`, configured only by
environment variables, as bench/startup.py and bench/load do), with Redis (a private redis-server), the
semantic cache on and the default LOG_LEVEL (INFO: two lines a turn). The fake Bot API and the fake model
server run in this process, so their work does not share the bot's event loop (in production Telegram is
remote). Before the rush the bot loads its models (the rush must not measure those loads), one customer's
question is answered by the model, so it is in the exact cache (the default question is no FAQ seed: a seed
is served by the semantic cache), the bot's CPU is let settle, and a warm-up round that is not measured
follows. Then `--customers` new customers send that question at the same moment, `--rounds` times. Printed
per run:

- latency: the fake Bot API's receive time of each reply minus the time the updates were queued, p50/p95/max;
- CPU per cached turn: the BOT process's user + system CPU over the measured rounds (/proc/<pid>/stat)
  divided by the turns, a figure that load from other programs inflates far less than the wall clock.

`--in-process` runs the old way: the application, the fakes and this harness on one event loop (no Redis,
semantic cache off). It prints what only a process of our own can see: every SQL statement SQLite ran per
cached turn (the sqlite3 trace callback on both connections of storage/sqlite.py: `conn` for writes, `reader`
for reads; SQLite only); its CPU figure includes the fakes. `--profile FILE` (with `--in-process`) writes a
cProfile of the measured rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import re
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.load.bot_process import BotProcess, fake_backed_env
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer, free_port

# Not one of the FAQ seeds (data/faq.yaml): with the semantic cache on, a seed is answered from the semantic
# cache and never reaches the exact one. `--question "Do you have oat milk?"` measures that path.
QUESTION = "Is the mocha vegan?"
FIRST = 900_000
SETTLE_SECONDS = 0.5  # after a round: its background work ends before the next round starts


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # ms, measured rounds only
    cpu_s: float = 0.0
    turns: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    statements: Counter[str] = field(default_factory=Counter)
    texts: Counter[str] = field(default_factory=Counter)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    settle_s: float = 0.0  # out of process: from the models loaded to the bot's CPU quiet


async def _quiet(bot: BotProcess, timeout: float = 60.0) -> float:
    """Until the bot's process uses under 5 % of a core for a second: what it does after its models are loaded
    (the FAQ seeds, the semantic index) would otherwise be counted as the rush's CPU."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = bot.cpu_seconds() or 0.0
        await asyncio.sleep(1.0)
        if (bot.cpu_seconds() or 0.0) - before < 0.05:
            break
    return time.monotonic() - started


async def _round(telegram: FakeTelegram, users: list[int], question: str, latencies: list[float] | None) -> None:
    asked = time.time()
    for user in users:
        telegram.send_text(user, question)
    for user in users:
        [reply] = await telegram.wait_for_messages(user, timeout=60)
        if latencies is not None:
            latencies.append((reply.date - asked) * 1000)
    await asyncio.sleep(SETTLE_SECONDS)


def _users(round_: int, customers: int) -> list[int]:
    return [FIRST + 1 + round_ * customers + n for n in range(customers)]


async def out_of_process(customers: int, rounds: int, question: str) -> Result:
    result = Result()
    with tempfile.TemporaryDirectory(prefix="rush-") as tmp:
        workdir = Path(tmp)
        redis = RedisServer(workdir)
        redis.start()
        try:
            async with FakeTelegram() as telegram, FakeOpenAI() as model, aiohttp.ClientSession() as http:
                env = fake_backed_env(telegram.url, model.url, model.api_key, redis.url, workdir,
                                      RATE_LIMIT_MESSAGES="1000")
                bot = BotProcess(workdir, env, free_port())
                try:
                    bot.start()
                    await bot.wait_ready(http)  # the models are loaded: the rush does not measure their loads
                    result.settle_s = await _quiet(bot)
                    telegram.send_text(FIRST, question)  # the model's answer, now in the exact cache
                    await telegram.wait_for_messages(FIRST, timeout=60)
                    await _round(telegram, _users(0, customers), question, None)  # warm-up, not measured
                    result.load = os.getloadavg()
                    cpu_started = bot.cpu_seconds() or 0.0
                    for round_ in range(1, rounds + 1):
                        await _round(telegram, _users(round_, customers), question, result.latencies)
                    result.cpu_s = (bot.cpu_seconds() or 0.0) - cpu_started
                finally:
                    await bot.stop()
        finally:
            redis.stop()
        result.turns = customers * rounds
        with sqlite3.connect(workdir / "bot.db") as db:
            rows = db.execute("SELECT source FROM agent_events ORDER BY id DESC LIMIT ?", (result.turns,)).fetchall()
        result.sources = Counter(source for (source,) in rows)
    return result


async def in_process(customers: int, rounds: int, question: str, profile: str | None) -> Result:
    from bot.app import Application  # only here: the default mode must not import the bot into the harness
    from storage.sqlite import SqliteBackend
    from testkit.settings import make_settings, with_openai

    result = Result()
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram() as telegram, FakeOpenAI() as model:
            settings = make_settings(Path(tmp), telegram.url, rate_limit_messages=1000, **with_openai(model))
            app = Application(settings)
            await app.start()
            try:
                telegram.send_text(FIRST, question)  # the model's answer, now in the exact cache
                await telegram.wait_for_messages(FIRST, timeout=30)
                # The speech model loads in the background after the start (bot/app.py): the rush starts once
                # it is in, or it would measure that load (imports holding the GIL), not the cached answers.
                assert app.services is not None
                transcriber = app.services.transcriber
                deadline = time.monotonic() + 120
                while transcriber.status().status == "loading" and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await _round(telegram, _users(0, customers), question, None)  # warm-up, not measured

                def trace(sql: str) -> None:
                    result.statements[sql.split(None, 1)[0].upper()] += 1
                    result.texts[re.sub(r"\b\d[\d.]*\b", "N", " ".join(sql.split()))[:90]] += 1

                backend = app.db.backend
                assert isinstance(backend, SqliteBackend)
                for conn in {backend.conn, backend.reader}:  # writes and reads (one connection in memory)
                    await conn.set_trace_callback(trace)
                result.load = os.getloadavg()
                profiler = cProfile.Profile() if profile else None
                if profiler is not None:
                    profiler.enable()
                cpu_started = time.process_time()
                for round_ in range(1, rounds + 1):
                    await _round(telegram, _users(round_, customers), question, result.latencies)
                result.cpu_s = time.process_time() - cpu_started
                if profiler is not None and profile:
                    profiler.disable()
                    profiler.dump_stats(profile)
                for conn in {backend.conn, backend.reader}:
                    await conn.set_trace_callback(None)
                result.turns = customers * rounds
                result.sources = Counter(e.source for e in await app.services.agent.events.recent(limit=result.turns))
            finally:
                await app.stop()
    return result


def report(result: Result, customers: int, in_process_mode: bool) -> tuple[float, float, float]:
    turns = result.turns
    if result.statements:
        for sql, count in result.texts.most_common():
            print(f"  {count / turns:4.1f}  {sql}")
        print(f"SQL statements per cached turn: {sum(result.statements.values()) / turns:.1f} "
              f"({', '.join(f'{k} {v / turns:.1f}' for k, v in result.statements.most_common())})")
    ordered = sorted(result.latencies)
    p50, p95 = statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]
    whose = "this process: the bot and the fakes" if in_process_mode else "the bot's process"
    print(f"cached turns: {turns} ({dict(result.sources)}); load average {result.load[0]:.2f}"
          + ("" if in_process_mode else f"; the bot was quiet {result.settle_s:.1f} s after its models loaded"))
    print(f"CPU per cached turn: {result.cpu_s / turns * 1000:.1f} ms ({whose})")
    print(f"{customers} customers at once: p50={p50:.0f} ms  p95={p95:.0f} ms  max={ordered[-1]:.0f} ms", flush=True)
    return p50, p95, ordered[-1]


async def main_async(args: argparse.Namespace) -> None:
    for n in range(args.runs):
        if args.runs > 1:
            print(f"run {n + 1}:")
        if args.in_process:
            result = await in_process(args.customers, args.rounds, args.question, args.profile)
        else:
            result = await out_of_process(args.customers, args.rounds, args.question)
        report(result, args.customers, args.in_process)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rush", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--question", default=QUESTION, help=f"what every customer asks (default {QUESTION!r})")
    parser.add_argument("--runs", type=int, default=1, help="whole runs, each with a fresh bot (default 1)")
    parser.add_argument("--in-process", action="store_true",
                        help="the app in this process with the fakes (counts the SQL statements per turn)")
    parser.add_argument("--profile", metavar="FILE", help="with --in-process: cProfile of the measured rounds")
    args = parser.parse_args()
    if args.profile and not args.in_process:
        parser.error("--profile needs --in-process")
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
