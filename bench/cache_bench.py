"""Cache benchmark: replay a realistic request mix and print hit rates and per-tier get latency.

    python -m bench.cache_bench [--messages 10000] [--redis-url redis://...] [--json]

Without --redis-url it starts a private redis-server on a free port (it must be on
the PATH). The real cache service runs against a real SQLite database holding
2,000 customers and the shipped menu and cafe facts, warmed on start as the bot
does. Each simulated customer message makes the lookups a message of the agent
makes, through `get_or_load` (a miss loads from the database or the knowledge):

- the customer's profile `user:profile:<id>` (always; customers are Zipf-distributed,
  a few regulars write most messages, and 10% of messages come from customers not
  seen in the last day, so not warmed);
- the whole menu `menu:all` (60%), one item `menu:item:<id>` (40%, Zipf over items),
  the cafe facts `cafe:info` (25%) — a modelled read: the bot keeps the menu in memory and
  no longer copies it into the cache, so these are loaded by the replay's first misses;
- an exact-match answer `answer:<n>` (50%, Zipf over 400 distinct questions; a miss
  "answers" and stores it, as the agent would).

Phases: (1) Redis healthy: the Redis hit rate against the runbook's SLO (> 80%) and
the latency of a get served by Redis; (2) Redis killed: the same mix from memory and
the database (`--outage kill`: refused connections; `--outage hang`: a frozen
server that accepts and never answers), the latency of a memory get and of a
database load, and the cost of the one request that meets the outage (`get:redis`
in that phase); (3) Redis back: how long until the cache is on Redis again.
Latencies are of whole `Cache.get` calls, as a handler sees them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.cache import Cache, ProfileCache, build_cache  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.knowledge import KnowledgeBase  # noqa: E402
from bot.percentiles import percentile  # noqa: E402
from storage.db import Database, now  # noqa: E402
from storage.knowledge import KnowledgeRepository  # noqa: E402
from storage.users import UserRepository  # noqa: E402
from testkit.servers import RedisServer  # noqa: E402

CUSTOMERS = 2_000
RECENT_CUSTOMERS = 1_800  # seen in the last day (warmed); the rest last came weeks ago
QUESTIONS = 400
ZIPF_S = 1.1


def zipf_weights(n: int, s: float = ZIPF_S) -> list[float]:
    return [1 / (rank ** s) for rank in range(1, n + 1)]


class Timer:
    """Collects latencies (ms) by label."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    async def time(self, label: str, call: Awaitable[Any]) -> Any:
        t0 = time.perf_counter()
        result = await call
        self.samples.setdefault(label, []).append((time.perf_counter() - t0) * 1000)
        return result

    def summaries(self) -> dict[str, dict[str, float | int | None]]:
        out: dict[str, dict[str, float | int | None]] = {}
        for label in sorted(self.samples):
            ordered = sorted(self.samples[label])
            out[label] = {
                "n": len(ordered),
                "p50_ms": _round(percentile(ordered, 50)),
                "p95_ms": _round(percentile(ordered, 95)),
                "max_ms": _round(ordered[-1]),
            }
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def seed_customers(db: Database) -> None:
    """2,000 customers; the first RECENT_CUSTOMERS were active today, the others weeks ago."""
    ts = now()
    rows = [
        (uid, f"user{uid}", f"Customer{uid}", "en", ts - 90 * 86400,
         ts - (uid % 3600 if uid <= RECENT_CUSTOMERS else 30 * 86400))
        for uid in range(1, CUSTOMERS + 1)
    ]
    await db.executemany(
        "INSERT INTO users(id, username, first_name, language_code, created_at, last_seen_at) VALUES (?,?,?,?,?,?)",
        rows,
    )


# The menu and cafe reads of the modelled workload (the bot itself no longer copies them into the cache).
MENU_ALL, CAFE_INFO = "menu:all", "cafe:info"


def menu_item_key(item_id: str) -> str:
    return f"menu:item:{item_id}"


class Replay:
    """One customer message = the cache lookups the agent makes for it."""

    def __init__(self, cache: Cache, users: UserRepository, knowledge: KnowledgeBase, seed: int) -> None:
        self.cache = cache
        self.profiles = ProfileCache(cache, users)
        self.knowledge = knowledge
        self.users = users
        self.rng = random.Random(seed)
        self.item_ids = [i.id for i in knowledge.menu.items()]
        self.item_weights = zipf_weights(len(self.item_ids))
        recent = list(range(1, RECENT_CUSTOMERS + 1))
        self.recent, self.recent_weights = recent, zipf_weights(len(recent))
        self.question_weights = zipf_weights(QUESTIONS)
        self.timer = Timer()

    def customer(self) -> int:
        if self.rng.random() < 0.10:
            return self.rng.randint(RECENT_CUSTOMERS + 1, CUSTOMERS)
        return self.rng.choices(self.recent, self.recent_weights)[0]

    async def lookup(self, label: str, key: str, loader: Callable[[], Awaitable[Any]], ttl: float) -> Any:
        """get (timed, labelled by the tier that answered), then load from the source on a miss."""
        tier = self.cache.backend
        value = await self.timer.time(f"get:{tier}", self.cache.get(key))
        if value is None:
            # Only database loads are a tier; menu/cafe come from memory, answers from "the model".
            load = loader() if label != "profile" else self.timer.time("load:database", loader())
            value = await load
            if value is not None:
                await self.cache.set(key, value, ttl)
        return value

    async def message(self) -> None:
        uid = self.customer()
        await self.lookup("profile", f"user:profile:{uid}", lambda: self._profile(uid), 6 * 3600)
        if self.rng.random() < 0.60:
            await self.lookup("menu", MENU_ALL, self._menu, 86400)
        if self.rng.random() < 0.40:
            item = self.rng.choices(self.item_ids, self.item_weights)[0]
            await self.lookup("menu", menu_item_key(item), lambda: self._item(item), 86400)
        if self.rng.random() < 0.25:
            await self.lookup("cafe", CAFE_INFO, self._cafe, 86400)
        if self.rng.random() < 0.50:
            question = self.rng.choices(range(QUESTIONS), self.question_weights)[0]
            await self.lookup("answer", f"answer:{question}", lambda: self._answer(question), 3600)

    async def _profile(self, uid: int) -> dict[str, Any] | None:
        user = await self.users.get(uid)
        return None if user is None else {"id": user.id, "first_name": user.first_name}

    async def _menu(self) -> dict[str, Any]:
        return self.knowledge.menu.model_dump(mode="json", by_alias=False)

    async def _item(self, item_id: str) -> dict[str, Any]:
        item = self.knowledge.menu.item(item_id)
        return {} if item is None else item.model_dump(mode="json", by_alias=False)

    async def _cafe(self) -> dict[str, Any]:
        return self.knowledge.cafe.model_dump(mode="json")

    async def _answer(self, question: int) -> str:
        return f"answer to frequent question #{question}"  # the agent would call the model here


def tier_rates(before: dict[str, Any], after: dict[str, Any], tier: str) -> dict[str, Any]:
    hits = after["tiers"][tier]["hits"] - before["tiers"][tier]["hits"]
    misses = after["tiers"][tier]["misses"] - before["tiers"][tier]["misses"]
    return {"hits": hits, "misses": misses, "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None}


async def run(messages: int, redis_url: str | None, seed: int, outage: str) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cache-bench-")))
        server: RedisServer | None = None
        if redis_url is None:
            if shutil.which("redis-server") is None:
                raise SystemExit("redis-server is not on the PATH; install it or pass --redis-url")
            server = RedisServer(workdir)
            server.start()
            stack.callback(lambda: server.stop() if server else None)
            redis_url = server.url
        settings = load_settings(_env_file=None, redis_url=redis_url, database_path=workdir / "bench.db",
                                 redis_probe_seconds=0.2)
        db = await stack.enter_async_context(Database(settings.database_path))
        await seed_customers(db)
        users = UserRepository(db)
        knowledge = KnowledgeBase(settings, KnowledgeRepository(db))
        await knowledge.start()
        cache, _ = build_cache(settings, users, knowledge)
        cache.warm_on_start = False
        await cache.start()
        stack.push_async_callback(cache.stop)
        if not cache.available:
            raise SystemExit(f"Redis at {redis_url} is not reachable")
        warm = await cache.warmup("critical")
        replay = Replay(cache, users, knowledge, seed)

        before = cache.stats()
        t0 = time.perf_counter()
        for _ in range(messages):
            await replay.message()
        healthy_s = time.perf_counter() - t0
        after_healthy = cache.stats()

        latency = {"redis_phase": replay.timer.summaries()}
        result: dict[str, Any] = {
            "messages_per_phase": messages,
            "outage": outage,
            "warmup": {"keys": warm["keys"], "took_ms": warm["took_ms"]},
            "redis_phase": {
                "redis": tier_rates(before, after_healthy, "redis"),
                "slo_redis_hit_rate_over_0.8": None,
                "seconds": round(healthy_s, 2),
            },
        }
        rate = result["redis_phase"]["redis"]["hit_rate"]
        result["redis_phase"]["slo_redis_hit_rate_over_0.8"] = rate is not None and rate > 0.8

        if server is not None:
            if outage == "hang":
                server.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]  # alive but silent
            else:
                server.stop()
            replay.timer = Timer()
            t0 = time.perf_counter()
            for _ in range(messages):
                await replay.message()
            outage_s = time.perf_counter() - t0
            after_outage = cache.stats()
            latency["memory_phase"] = replay.timer.summaries()
            result["memory_phase"] = {
                "memory": tier_rates(after_healthy, after_outage, "memory"),
                "fallback_served": after_outage["fallback"]["served"],
                "seconds": round(outage_s, 2),
            }
            if outage == "hang":
                server.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
            else:
                server.start()
            t0 = time.perf_counter()
            while cache.backend != "redis" and time.perf_counter() - t0 < 30:
                await asyncio.sleep(0.02)
            result["recovery_seconds"] = round(time.perf_counter() - t0, 2)

        result["latency"] = latency
        return result


def print_report(result: dict[str, Any]) -> None:
    healthy = result["redis_phase"]
    print(f"messages per phase: {result['messages_per_phase']}, "
          f"startup warmup: {result['warmup']['keys']} keys in {result['warmup']['took_ms']:.0f} ms")
    redis = healthy["redis"]
    print(f"Redis hit rate: {redis['hit_rate'] * 100:.1f}% ({redis['hits']} hits, {redis['misses']} misses) "
          f"— SLO > 80%: {'met' if healthy['slo_redis_hit_rate_over_0.8'] else 'NOT met'}")
    if "memory_phase" in result:
        memory = result["memory_phase"]["memory"]
        print(f"Redis down ({result['outage']}): memory hit rate {memory['hit_rate'] * 100:.1f}% "
              f"({memory['hits']} hits, {memory['misses']} misses), served without Redis: "
              f"{result['memory_phase']['fallback_served']}")
        print(f"Redis restarted: back on Redis after {result['recovery_seconds']:.2f} s")
    print(f"{'phase':<13} {'latency of':<15} {'n':>7} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}")
    for phase, summaries in result["latency"].items():
        for label, s in summaries.items():
            print(f"{phase:<13} {label:<15} {s['n']:>7} {s['p50_ms']:>9} {s['p95_ms']:>9} {s['max_ms']:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="customer messages per phase")
    parser.add_argument("--redis-url", help="use this Redis (no outage phase) instead of a private one")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--outage", choices=["kill", "hang"], default="kill",
                        help="kill redis-server, or freeze it (SIGSTOP: connections stay open, nothing answers)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = asyncio.run(run(args.messages, args.redis_url, args.seed, args.outage))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
