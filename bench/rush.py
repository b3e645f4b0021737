"""A rush of cached answers: `python -m bench.rush [--customers 30] [--rounds 3]`.

The real application in this process, the fake Bot API and the fake model server. One customer's
question is answered by the model first (so it is in the exact cache); then `--customers`
customers send that question at the same moment, `--rounds` times. Printed:

- SQL statements per cached turn: every statement SQLite ran (sqlite3 trace callback on the
  aiosqlite connection of storage/sqlite.py: SQLite only), divided by the turns;
- CPU per cached turn: this process's CPU time over the rounds (the bot, the fake Bot API and the fake
  model share it) divided by the turns, a figure that load from other programs does not inflate;
- time from the question queued at the fake Bot API to the answer sent, p50/p95/max.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from bot.app import Application
from storage.sqlite import SqliteBackend
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import make_settings, with_openai

QUESTION = "Do you have oat milk?"
FIRST = 900_000


async def main_async(customers: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeTelegram() as telegram, FakeOpenAI() as model:
            settings = make_settings(Path(tmp), telegram.url, rate_limit_messages=1000, **with_openai(model))
            app = Application(settings)
            await app.start()
            try:
                telegram.send_text(FIRST, QUESTION)  # the model's answer, now in the exact cache
                await telegram.wait_for_messages(FIRST, timeout=30)
                # The speech model loads in the background after the start (bot/app.py): the rush starts once
                # it is in, or it would measure that load (imports holding the GIL), not the cached answers.
                assert app.services is not None
                transcriber = app.services.transcriber
                deadline = time.monotonic() + 120
                while transcriber.status().status == "loading" and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                statements: Counter[str] = Counter()

                texts: Counter[str] = Counter()

                def trace(sql: str) -> None:
                    statements[sql.split(None, 1)[0].upper()] += 1
                    texts[re.sub(r"\b\d[\d.]*\b", "N", " ".join(sql.split()))[:90]] += 1

                backend = app.db.backend
                assert isinstance(backend, SqliteBackend)
                for conn in {backend.conn, backend.reader}:  # writes and reads (one connection in memory)
                    await conn.set_trace_callback(trace)
                latencies: list[float] = []
                cpu_started = time.process_time()
                for round_ in range(rounds):
                    users = [FIRST + 1 + round_ * customers + n for n in range(customers)]
                    asked = time.time()
                    for user in users:
                        telegram.send_text(user, QUESTION)
                    for user in users:
                        [reply] = await telegram.wait_for_messages(user, timeout=60)
                        latencies.append((reply.date - asked) * 1000)
                    await asyncio.sleep(0.5)  # background writes of this round land before the next
                cpu = time.process_time() - cpu_started
                for conn in {backend.conn, backend.reader}:
                    await conn.set_trace_callback(None)
                turns = customers * rounds
                sources = Counter(e.source for e in await app.services.agent.events.recent(limit=turns))
            finally:
                await app.stop()
    for sql, count in texts.most_common():
        print(f"  {count / turns:4.1f}  {sql}")
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"cached turns: {turns} ({dict(sources)})")
    print(f"SQL statements per cached turn: {sum(statements.values()) / turns:.1f} "
          f"({', '.join(f'{k} {v / turns:.1f}' for k, v in statements.most_common())})")
    print(f"CPU per cached turn: {cpu / turns * 1000:.1f} ms (this process: the bot and the fakes; other load on "
          f"the machine does not inflate it)")
    print(f"{customers} customers at once: p50={statistics.median(latencies):.0f} ms  p95={p95:.0f} ms  "
          f"max={ordered[-1]:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rush", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main_async(args.customers, args.rounds))


if __name__ == "__main__":
    main()
