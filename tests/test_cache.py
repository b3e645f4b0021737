"""The cache service against a real redis-server: tiers, breaker, recovery, prefixes."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from bot.cache import Cache
from bot.cache.redis_tier import encode, glob_escape
from testkit.servers import RedisServer, free_port
from tests.helpers import poll_until

OUTAGE = "Redis unavailable"
BACK = "Redis available again"


@asynccontextmanager
async def started(url: str, **options: object) -> AsyncIterator[Cache]:
    options.setdefault("warm_on_start", False)
    options.setdefault("probe_interval", 60.0)  # tests drive recovery with check_redis()
    cache = Cache(url, **options)  # type: ignore[arg-type]
    await cache.start()
    try:
        yield cache
    finally:
        await cache.stop()


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name == "bot.cache.service" and text in r.getMessage()]


async def test_hits_and_misses_are_counted_per_tier(redis_server: RedisServer) -> None:
    async with started(redis_server.url) as cache:
        assert cache.backend == "redis" and cache.available
        assert await cache.get("menu:all") is None
        await cache.set("menu:all", {"items": ["latte"]}, ttl=60)
        assert await cache.get("menu:all") == {"items": ["latte"]}
        assert await cache.get("menu:all") == {"items": ["latte"]}
        redis = cache.stats()["tiers"]["redis"]
    assert (redis["hits"], redis["misses"], redis["errors"]) == (2, 1, 0)
    assert redis["hit_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert redis["latency_ms"]["samples"] == 3 and redis["latency_ms"]["p95"] is not None


async def test_get_or_load_reads_the_database_once_for_concurrent_misses(redis_server: RedisServer) -> None:
    calls = 0
    release = asyncio.Event()

    async def loader() -> dict[str, object]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"id": 7, "first_name": "Ana"}

    async with started(redis_server.url) as cache:
        waiting = [asyncio.create_task(cache.get_or_load("user:profile:7", loader, 60)) for _ in range(5)]
        await asyncio.sleep(0)  # let every task reach the cache (ordering only, not a wait for a result)
        release.set()
        results = await asyncio.gather(*waiting)
        assert await cache.get_or_load("user:profile:7", loader, 60) == {"id": 7, "first_name": "Ana"}
        database = cache.stats()["tiers"]["database"]
    assert calls == 1
    assert all(r == {"id": 7, "first_name": "Ana"} for r in results)
    assert database["loads"] == 1


async def test_a_value_written_by_one_cache_is_read_by_another_through_redis(redis_server: RedisServer) -> None:
    async with started(redis_server.url) as one, started(redis_server.url) as two:
        await one.set("answer:wifi", "The password is on the receipt", ttl=60)
        assert await two.get("answer:wifi") == "The password is on the receipt"
        assert two.stats()["tiers"]["redis"]["hits"] == 1


async def test_ttl_expires_in_redis_and_memory(redis_server: RedisServer, raw: Redis) -> None:
    async with started(redis_server.url) as cache:
        await cache.set("cafe:hours", "8-20", ttl=0.05)
        assert 0 < await raw.pttl("cafe:hours") <= 50
        await asyncio.sleep(0.1)  # letting the TTL elapse is the subject of the test
        assert await cache.get("cafe:hours") is None


async def test_clear_prefix_removes_only_the_literal_prefix_using_scan(redis_server: RedisServer, raw: Redis) -> None:
    keep = ["user:profiles", "user:x", "menu:all", "axb:1", "a[b]:1", "ab:1"]
    doomed_profiles = ["user:profile:1", "user:profile:2"]
    doomed_glob = ["a*b:1", "a*b:2"]
    async with started(redis_server.url) as cache:
        for key in keep + doomed_profiles + doomed_glob:
            await cache.set(key, key, ttl=60)
        await raw.config_resetstat()
        assert await cache.clear_prefix("user:profile:") == 2
        assert await cache.clear_prefix("a*b:") == 2
        assert await cache.clear_prefix("a[b]") == 1
        assert await cache.clear_prefix("nothing:") == 0
        commands = await raw.info("commandstats")
        # The test may use KEYS; the cache must not. cache:events tells the other processes.
        remaining = sorted(k for k in await raw.keys("*") if k != "cache:events")
        for key in keep:
            if key != "a[b]:1":
                assert await cache.get(key) == key
        with pytest.raises(ValueError):
            await cache.clear_prefix("")
    assert "cmdstat_scan" in commands and "cmdstat_keys" not in commands
    assert remaining == sorted(k for k in keep if k != "a[b]:1")


APP_PREFIX = "cafebot:"
# Another application's keys in the same Redis: one with exactly our relative name, one under a
# prefix our application prefix is itself a prefix of (without the ':' it would match), others.
FOREIGN = {"user:profile:1": "theirs", "cafebot-v1:user:profile:1": "theirs", "cafebotx:menu:all": "theirs",
           "other:menu:item:1": "theirs", "sessions:42": "theirs"}


async def test_every_key_lives_under_the_application_prefix_and_other_applications_keys_are_never_touched(
    redis_server: RedisServer, raw: Redis
) -> None:
    for key, value in FOREIGN.items():
        await raw.set(key, value)
    async with started(redis_server.url, key_prefix=APP_PREFIX) as cache:
        assert await cache.get("user:profile:1") is None  # the other application's key of the same name
        await cache.set("user:profile:1", {"id": 1}, ttl=60)
        await cache.set_many({"menu:all": [1], "menu:item:1": "latte", "menu:item:2": "mocha"}, ttl=60)
        ours = sorted(k for k in await raw.keys("*") if k not in FOREIGN)
        assert ours == ["cafebot:menu:all", "cafebot:menu:item:1", "cafebot:menu:item:2", "cafebot:user:profile:1"]
        assert await cache.clear_prefix("user:profile:") == 1
        assert await cache.delete("menu:all")
        # In an outage the clear and the delete are journaled and reconciled later: under the prefix too.
        redis_server.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        try:
            await cache.get("menu:item:1")  # times out: the breaker opens
            assert cache.backend == "memory"
            assert await cache.clear_prefix("menu:") == 2
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        assert await cache.check_redis()
        stats = cache.stats()
        events = APP_PREFIX + "cache:events"  # the clears told the other processes, under the prefix too
        assert await raw.type(events) == "stream"
        remaining = {k: await raw.get(k) for k in await raw.keys("*") if k != events}
    assert remaining == FOREIGN
    assert stats["redis"]["key_prefix"] == APP_PREFIX and stats["fallback"]["pending_reconcile"] == 0


def test_glob_escape_escapes_every_special_character() -> None:
    assert glob_escape(r"a*b?c[d]e\f") == r"a\*b\?c\[d\]e\\f"


@pytest.mark.parametrize("kind", ["closed port", "bad password", "invalid url"])
async def test_misconfigured_redis_at_start_runs_on_memory(
    kind: str, redis_server: RedisServer, raw: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await raw.config_set("requirepass", "right-password")
    url = {
        "closed port": f"redis://127.0.0.1:{free_port()}/0",
        "bad password": f"redis://:wrong-password-123@127.0.0.1:{redis_server.port}/0",
        "invalid url": "http://not-redis",
    }[kind]
    caplog.set_level(logging.INFO)
    async with started(url) as cache:
        assert cache.backend == "memory" and not cache.available
        await cache.set("menu:all", [1, 2], ttl=60)
        assert await cache.get("menu:all") == [1, 2]
        stats = cache.stats()
    assert stats["fallback"]["active"] and stats["fallback"]["activations"] == 1
    assert stats["fallback"]["served"] == {"set": 1, "get": 1}
    assert len(warnings(caplog, OUTAGE)) == 1
    assert "wrong-password-123" not in caplog.text
    assert "wrong-password-123" not in str(stats)


async def test_no_redis_url_is_memory_only_and_not_a_fallback(caplog: pytest.LogCaptureFixture) -> None:
    async with started("") as cache:
        await cache.set("k:1", {"a": 1})
        assert await cache.get("k:1") == {"a": 1}
        stats = cache.stats()
    assert stats["backend"] == "memory" and stats["redis"]["state"] == "disabled"
    assert not stats["fallback"]["active"] and stats["fallback"]["served"] == {}
    assert warnings(caplog, OUTAGE) == []


async def test_redis_dying_opens_the_breaker_once_and_recovery_closes_it(
    redis_server: RedisServer, raw: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    async with started(redis_server.url) as cache:
        await cache.set("menu:all", "before", ttl=60)
        redis_server.stop()
        assert await cache.get("menu:all") == "before"  # the write-through copy in memory
        for i in range(20):
            await cache.set(f"answer:{i}", i, ttl=60)
            assert await cache.get(f"answer:{i}") == i
        stats = cache.stats()
        assert cache.backend == "memory"
        assert stats["fallback"]["activations"] == 1 and stats["fallback"]["served"]["get"] >= 20
        assert stats["tiers"]["redis"]["errors"] == 1  # later requests never touched Redis
        assert len(warnings(caplog, OUTAGE)) == 1

        redis_server.start()
        assert await cache.check_redis()
        assert cache.backend == "redis"
        assert len(warnings(caplog, BACK)) == 1
        # What was written during the outage reached Redis, with its TTL.
        fresh = Redis.from_url(redis_server.url, decode_responses=True)
        try:
            assert await fresh.exists(*(f"answer:{i}" for i in range(20))) == 20
            assert 0 < await fresh.pttl("answer:3") <= 60_000
        finally:
            await fresh.aclose()
        assert cache.stats()["fallback"]["pending_reconcile"] == 0


async def test_after_recovery_old_pooled_connections_do_not_trip_the_breaker_again(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the load benchmark: a second "Redis unavailable" seconds after Redis came back."""
    async with started(redis_server.url) as cache:
        await cache.set("menu:all", "before", ttl=60)
        await asyncio.gather(*(cache.get("menu:all") for _ in range(16)))  # the pool now holds many sockets
        redis_server.stop()
        await cache.get("menu:all")
        assert cache.backend == "memory"
        redis_server.start()
        assert await cache.check_redis()
        await cache.set("menu:all", "after", ttl=60)  # the new Redis started empty
        values = await asyncio.gather(*(cache.get("menu:all") for _ in range(16)))  # old sockets and new
        stats = cache.stats()
    assert values == ["after"] * 16 and stats["backend"] == "redis"
    assert len(warnings(caplog, OUTAGE)) == 1 and stats["fallback"]["activations"] == 1


async def test_stale_local_values_never_overwrite_newer_redis_values(redis_server: RedisServer, raw: Redis) -> None:
    async with started(redis_server.url) as cache:
        redis_server.stop()
        await cache.set("user:profile:1", {"name": "local, written during the outage"}, ttl=60)
        await cache.set("user:profile:2", {"name": "local, written during the outage"}, ttl=60)
        await cache.delete("user:profile:3")
        redis_server.start()
        async with started(redis_server.url) as other:
            # Another process writes newer values after Redis came back...
            await other.set("user:profile:1", {"name": "newer, from another process"}, ttl=60)
            await other.set("user:profile:3", {"name": "newer, from another process"}, ttl=60)
            # ...and Redis still holds an older value for key 2 (written before ours).
            await raw.set("user:profile:2", encode('{"name":"older"}', 1, 0))
            assert await cache.check_redis()
            assert await other.get("user:profile:1") == {"name": "newer, from another process"}
            assert await other.get("user:profile:3") == {"name": "newer, from another process"}
            assert await other.get("user:profile:2") == {"name": "local, written during the outage"}
            assert await cache.get("user:profile:1") == {"name": "newer, from another process"}


async def test_deletes_and_prefix_clears_in_an_outage_reach_redis_only_over_older_values(
    redis_server: RedisServer,
) -> None:
    async with started(redis_server.url) as cache:
        await cache.set("answer:hours", "8-18", ttl=60)
        await cache.set("menu:item:1", "latte", ttl=60)
        await cache.set("menu:item:2", "mocha", ttl=60)
        redis_server.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]  # Redis hangs, keeps its data
        try:
            await cache.delete("answer:hours")  # times out: the breaker opens, the delete is journaled
            assert cache.backend == "memory"
            assert await cache.clear_prefix("menu:item:") == 2
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        async with started(redis_server.url) as other:
            await other.set("menu:item:3", "newer than the clear", ttl=60)
            assert await cache.check_redis()
            assert await other.get("answer:hours") is None
            assert await other.get("menu:item:1") is None and await other.get("menu:item:2") is None
            assert await other.get("menu:item:3") == "newer than the clear"


async def test_a_hanging_redis_costs_one_timeout_then_memory_serves(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with started(redis_server.url, redis_timeout=0.2) as cache:
        await cache.set("menu:all", "cached", ttl=60)
        redis_server.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        try:
            async with asyncio.timeout(2):  # a hang here would fail the test
                assert await cache.get("menu:all") == "cached"
                for _ in range(50):
                    assert await cache.get("menu:all") == "cached"
            assert cache.backend == "memory"
            assert cache.stats()["tiers"]["redis"]["errors"] == 1
            assert not await cache.check_redis()  # still hanging: stays on memory
        finally:
            redis_server.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        assert await cache.check_redis()
    assert len(warnings(caplog, OUTAGE)) == 1


async def test_the_background_probe_switches_back_without_help(redis_server: RedisServer) -> None:
    async with started(redis_server.url, probe_interval=0.05) as cache:
        redis_server.stop()
        await cache.get("x:1")
        assert cache.backend == "memory"
        redis_server.start()

        async def back() -> bool:
            return cache.backend == "redis"

        await poll_until(back, 5)


async def test_warmers_run_by_group_and_a_failing_one_is_reported() -> None:
    async with started("") as cache:
        async def menu() -> int:
            return await cache.set_many({"menu:a": 1, "menu:b": 2}, ttl=60)

        async def broken() -> int:
            raise RuntimeError("no FAQ file")

        cache.warmers.register("menu", {"critical", "menu"}, menu)
        cache.warmers.register("faq", {"critical"}, broken)
        with pytest.raises(ValueError):
            cache.warmers.register("menu", {"menu"}, menu)
        with pytest.raises(ValueError):
            cache.warmers.register("odd", {"weekly"}, menu)
        only_menu = await cache.warmup("menu")
        critical = await cache.warmup("critical")
        with pytest.raises(ValueError):
            await cache.warmup("weekly")
        assert cache.stats()["warmup"]["critical"]["keys"] == 2
    assert only_menu["keys"] == 2 and list(only_menu["warmers"]) == ["menu"]
    assert critical["keys"] == 2 and critical["errors"] == 1
    assert critical["warmers"]["faq"]["error"] == "RuntimeError: no FAQ file"


async def test_stats_providers_add_their_block() -> None:
    async with started("") as cache:
        cache.add_stats_provider("semantic", lambda: {"entries": 3, "hit_rate": 0.4})
        with pytest.raises(ValueError):
            cache.add_stats_provider("tiers", dict)
        assert cache.stats()["semantic"] == {"entries": 3, "hit_rate": 0.4}


async def test_memory_tier_is_bounded_lru() -> None:
    async with started("", memory_max_entries=100) as cache:
        for i in range(150):
            await cache.set(f"k:{i}", i)
        await cache.get("k:60")  # recently used survives
        await cache.set("k:new", 1)
        stats = cache.stats()["tiers"]["memory"]
        assert stats["keys"] == 100 and stats["evictions"] == 51
        assert await cache.get("k:60") == 60 and await cache.get("k:50") is None
