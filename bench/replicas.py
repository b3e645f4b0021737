"""One replica or three, and PostgreSQL vs SQLite per turn: `python -m bench.replicas`.

Part 1, replicas (`--replicas 1,3`): real `python main.py` processes in webhook mode on one
PostgreSQL schema and one private Redis (plus one replica on a SQLite file, today's default),
the fake Bot API and the fake model server (a fixed `--model-delay`) in this process. This
process is also Telegram's side of the webhook: it POSTs each update to the replicas round
robin (with the secret header), as a load balancer would, and times each question from its
POST to the answer arriving at the fake Bot API. `--customers` new customers at a time (each
asks one question, then the next customer comes), half of them the question already in the
exact cache, half a new question for the model. Printed per run: answers per second,
p50/p95, and the CPU seconds the replica processes used per answer (/proc; the fakes and
PostgreSQL are printed apart; Redis is not counted).

Part 2, engines (`--engines sqlite,postgresql`): the real application in this process on each
engine, one customer at a time (no contention), a cached answer and a model answer (model
delay 0): SQL statements per turn and the milliseconds spent waiting on the database per
turn, counted by a wrapper around the engine's backend (statements inside transactions
included; BEGIN/COMMIT not counted as statements), and the turn's own latency.

The machine is shared: run it with `--repeat 2` and compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import itertools
import os
import resource
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench.load.bot_process import BotProcess
from bot.app import Application
from bot.percentiles import percentile
from testkit.database import DEFAULT_POSTGRES_URL, postgres_schema
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer, free_port
from testkit.settings import ADMIN_TOKEN, TEST_TOKEN, make_settings, with_openai

SECRET = "bench-webhook-secret"
CACHED_QUESTION = "Do you have oat milk?"
WARM_USER = 800_000


# --- part 1: replicas ----------------------------------------------------------------------------------
def replica_env(telegram: FakeTelegram, model: FakeOpenAI, redis: RedisServer, database_url: str,
                name: str) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN, "TELEGRAM_API_URL": telegram.url, "BOT_MODE": "webhook",
        "WEBHOOK_BASE_URL": "https://bot.example.com", "WEBHOOK_SECRET": SECRET, "TELEGRAM_DRAFTS": "false",
        "OPENAI_API_KEY": model.api_key, "OPENAI_BASE_URL": model.url, "OPENAI_TIMEOUT": "20",
        "REDIS_URL": redis.url, "DATABASE_URL": database_url, "REPLICA_NAME": name, "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "RATE_LIMIT_MESSAGES": "1000", "LOG_LEVEL": "WARNING", "SEMANTIC_CACHE_ENABLED": "false",
    }


def update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """A private-chat text message as Telegram would POST it to the webhook."""
    user = {"id": user_id, "is_bot": False, "first_name": f"Guest {user_id}", "language_code": "en"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "chat": {"id": user_id, "type": "private",
                                                                    "first_name": user["first_name"]},
        "from": user, "text": text}}


class Balancer:
    """Round robin over the replicas' webhook endpoints; a refused delivery is retried on the next one."""

    def __init__(self, http: aiohttp.ClientSession, bots: list[BotProcess]) -> None:
        self.http = http
        self.bots = bots
        self._next = itertools.cycle(range(len(bots)))
        self._ids = itertools.count(1)

    async def deliver(self, user_id: int, text: str) -> None:
        body = update(next(self._ids), user_id, text)
        for _ in range(len(self.bots) * 3):
            bot = self.bots[next(self._next)]
            try:
                async with self.http.post(f"{bot.base_url}/telegram/webhook", json=body,
                                          headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
        raise RuntimeError("no replica took the update")


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of the given processes and their children (PostgreSQL's backends are not ours)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            pass
    return total


def postgres_cpu() -> float:
    """CPU seconds of every postgres process on this machine (the server all replicas share)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                text = stat.read()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def run_replicas(count: int, answers: int, customers: int, model_delay: float, workdir: Path,
                       postgres: str, engine: str = "postgresql") -> dict[str, Any]:
    users = itertools.count(1_000_000 * count + (500_000 if engine == "sqlite" else 0) + 1)
    async with FakeTelegram() as telegram, FakeOpenAI() as model, aiohttp.ClientSession() as http:
        model.latency = model_delay
        run = f"{count}-{engine}"
        redis = RedisServer(workdir / f"redis-{run}")
        (workdir / f"redis-{run}").mkdir()
        redis.start()
        bots: list[BotProcess] = []
        try:
            with _database(engine, workdir / run, postgres) as overrides:
                database_url = overrides["database_url"]
                for n in range(count):
                    folder = workdir / f"r{run}-{n}"
                    folder.mkdir()
                    bot = BotProcess(folder, replica_env(telegram, model, redis, database_url, f"bot-{n + 1}"),
                                     free_port())
                    bot.start()
                    bots.append(bot)
                for bot in bots:
                    await bot.wait_ready(http)
                balancer = Balancer(http, bots)
                await balancer.deliver(WARM_USER + count, CACHED_QUESTION)  # the model's answer, now cached
                await telegram.wait_for_messages(WARM_USER + count, timeout=60)
                latencies: dict[str, list[float]] = {"cache": [], "model": []}
                asked = itertools.count()

                async def customer() -> None:
                    while (n := next(asked)) < answers:
                        user = next(users)
                        kind = "cache" if n % 2 == 0 else "model"
                        text = CACHED_QUESTION if kind == "cache" else f"Is the soup vegan today, question {n}?"
                        started = time.monotonic()
                        await balancer.deliver(user, text)
                        await telegram.wait_for_messages(user, timeout=120)
                        latencies[kind].append((time.monotonic() - started) * 1000)

                pids = [bot.proc.pid for bot in bots if bot.proc is not None]
                cpu0, pg0, own0 = cpu_of(pids), postgres_cpu(), _own_cpu()
                load0 = os.getloadavg()[0]
                started = time.monotonic()
                await asyncio.gather(*(customer() for _ in range(customers)))
                elapsed = time.monotonic() - started
                cpu, pg, own = cpu_of(pids) - cpu0, postgres_cpu() - pg0, _own_cpu() - own0
        finally:
            for bot in bots:
                await bot.stop()
                bot.kill()
            redis.stop()
    every = sorted(latencies["cache"] + latencies["model"])
    return {
        "replicas": count, "engine": engine, "answers": len(every), "seconds": elapsed,
        "per_second": len(every) / elapsed,
        "p50": percentile(every, 50), "p95": percentile(every, 95),
        "cache_p95": percentile(sorted(latencies["cache"]), 95),
        "model_p95": percentile(sorted(latencies["model"]), 95),
        "cpu_per_answer": cpu / len(every), "pg_cpu_per_answer": pg / len(every),
        "harness_cpu_per_answer": own / len(every), "load_before": load0,
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- part 2: engines -----------------------------------------------------------------------------------
# Inside a counted call of this task: SQLite's execute opens its own transaction, counted once as the statement.
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("inside_counted_call", default=False)


class Counting:
    """Counts the statements an engine runs and the time the callers wait for them (bench instrumentation)."""

    def __init__(self) -> None:
        self.statements = 0
        self.transactions = 0
        self.seconds = 0.0

    def timed(self, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _INSIDE.get():
                return await call(*args, **kwargs)
            token = _INSIDE.set(True)
            started = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                _INSIDE.reset(token)
                self.seconds += time.perf_counter() - started
                self.statements += 1
        return wrapper

    def install(self, backend: Any) -> None:
        for name in ("fetchone", "fetchall", "execute"):
            setattr(backend, name, self.timed(getattr(backend, name)))
        original = backend.transaction
        counting = self

        @asynccontextmanager
        async def transaction() -> AsyncIterator[Any]:
            if _INSIDE.get():  # a single statement's own transaction (SQLite), counted as that statement
                async with original() as tx:
                    yield tx
                return
            counting.transactions += 1
            started = time.perf_counter()
            async with original() as tx:
                counting.seconds += time.perf_counter() - started  # waiting for the write lock, BEGIN
                for name in ("fetchone", "fetchall", "execute", "executemany"):
                    setattr(tx, name, counting.timed(getattr(tx, name)))
                yield tx
                done = time.perf_counter()
            counting.seconds += time.perf_counter() - done  # COMMIT
        backend.transaction = transaction


async def run_engine(engine: str, turns: int, workdir: Path, postgres: str) -> dict[str, Any]:
    async with FakeTelegram() as telegram, FakeOpenAI() as model:
        with _database(engine, workdir, postgres) as overrides:
            settings = make_settings(workdir / engine, telegram.url, rate_limit_messages=1000, telegram_drafts=False,
                                     **overrides, **with_openai(model))
            (workdir / engine).mkdir(exist_ok=True)
            app = Application(settings)
            await app.start()
            try:
                telegram.send_text(WARM_USER, CACHED_QUESTION)
                await telegram.wait_for_messages(WARM_USER, timeout=60)
                await _settled(app)
                out: dict[str, Any] = {"engine": engine}
                for kind in ("cache", "model"):
                    counting = Counting()
                    counting.install(app.db.backend)
                    latencies = []
                    for n in range(turns):
                        user = 2_000_000 + (0 if kind == "cache" else 100_000) + n
                        started = time.monotonic()
                        telegram.send_text(user, CACHED_QUESTION if kind == "cache" else f"Is the soup vegan? {n}")
                        await telegram.wait_for_messages(user, timeout=60)
                        latencies.append((time.monotonic() - started) * 1000)
                        await _settled(app)  # its background writes counted with it
                    _uninstall(app.db.backend)
                    out[kind] = {"statements": counting.statements / turns, "db_ms": counting.seconds * 1000 / turns,
                                 "transactions": counting.transactions / turns,
                                 "p50": statistics.median(latencies), "p95": percentile(sorted(latencies), 95)}
            finally:
                await app.stop()
    return out


def _uninstall(backend: Any) -> None:
    for name in ("fetchone", "fetchall", "execute", "transaction"):
        backend.__dict__.pop(name, None)


async def _settled(app: Application, quiet: float = 0.3) -> None:
    """Until nothing is in flight and the database has been idle for `quiet` seconds (background writes done)."""
    while app.services.inflight.count:
        await asyncio.sleep(0.01)
    await asyncio.sleep(quiet)


class _database:
    """The engine's settings overrides: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""

    def __init__(self, engine: str, workdir: Path, postgres: str) -> None:
        self.engine, self.workdir, self.postgres = engine, workdir, postgres
        self._schema: Any = None

    def __enter__(self) -> dict[str, Any]:
        if self.engine == "sqlite":
            self.workdir.mkdir(parents=True, exist_ok=True)
            return {"database_url": f"sqlite:///{self.workdir / 'engine.db'}"}
        self._schema = postgres_schema(self.postgres)
        return {"database_url": self._schema.__enter__()}

    def __exit__(self, *exc: object) -> None:
        if self._schema is not None:
            self._schema.__exit__(*exc)


# --- printing ------------------------------------------------------------------------------------------
def print_replicas(rows: list[dict[str, Any]]) -> None:
    print("\n| replicas | database | answers | answers/s | p50 ms | p95 ms | p95 cached / model ms | CPU s per answer "
          "(replicas) | + PostgreSQL | + harness (fakes) | load avg before |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['replicas']} | {r['engine']} | {r['answers']} | {r['per_second']:.1f} | {r['p50']:.0f} | "
              f"{r['p95']:.0f} | "
              f"{r['cache_p95']:.0f} / {r['model_p95']:.0f} | {r['cpu_per_answer']:.3f} | "
              f"{r['pg_cpu_per_answer']:.3f} | {r['harness_cpu_per_answer']:.3f} | {r['load_before']:.1f} |")


def print_engines(rows: list[dict[str, Any]]) -> None:
    print("\n| engine | turn | SQL statements per turn | transactions per turn | ms waiting on the database "
          "per turn | turn p50 ms | turn p95 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        for kind, label in (("cache", "cached answer"), ("model", "model answer")):
            k = r[kind]
            print(f"| {r['engine']} | {label} | {k['statements']:.1f} | {k['transactions']:.1f} | {k['db_ms']:.1f} | "
                  f"{k['p50']:.0f} | {k['p95']:.0f} |")


async def main_async(args: argparse.Namespace) -> None:
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for repeat in range(args.repeat):
            if args.replicas:
                rows = []
                runs = [(int(c), "postgresql") for c in args.replicas.split(",")]
                if args.sqlite_replica:
                    runs.insert(0, (1, "sqlite"))  # today's default: one process on its SQLite file
                for count, engine in runs:
                    run = workdir / f"run{repeat}"
                    run.mkdir(exist_ok=True)
                    rows.append(await run_replicas(count, args.answers, args.customers, args.model_delay, run,
                                                   args.postgres, engine))
                print(f"\nrun {repeat + 1}: {args.answers} answers, {args.customers} customers at a time, "
                      f"model delay {args.model_delay:.2f} s")
                print_replicas(rows)
            if args.engines:
                engines = []
                for engine in args.engines.split(","):
                    run = workdir / f"engine{repeat}"
                    run.mkdir(exist_ok=True)
                    engines.append(await run_engine(engine, args.turns, run, args.postgres))
                print(f"\nrun {repeat + 1}: {args.turns} turns of each kind, one customer at a time")
                print_engines(engines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="1,3", help="replica counts to compare ('' skips part 1)")
    parser.add_argument("--no-sqlite-replica", dest="sqlite_replica", action="store_false",
                        help="part 1 without the row of one replica on SQLite")
    parser.add_argument("--answers", type=int, default=240)
    parser.add_argument("--customers", type=int, default=24, help="customers waiting for an answer at once")
    parser.add_argument("--model-delay", type=float, default=0.5, help="the fake model's seconds per answer")
    parser.add_argument("--engines", default="sqlite,postgresql", help="engines to compare ('' skips part 2)")
    parser.add_argument("--turns", type=int, default=30, help="part 2: turns of each kind per engine")
    parser.add_argument("--postgres", default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL)
    parser.add_argument("--repeat", type=int, default=1)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
