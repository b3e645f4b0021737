"""Forgetting a cached value everywhere: the cache service against a real redis-server, and the
finder of cached answers (both caches, by words) over it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.cache import CachedAnswers
from bot.cache.answers import EXACT, SEMANTIC, matches, query_words
from bot.cache.report import format_forgotten, format_found
from testkit.servers import RedisServer
from tests.helpers import poll_until
from tests.test_cache import started

ANSWER = {"answer": "Yes, the red lentil soup is gluten-free.", "question": "is the lentil soup gluten free",
          "model": "m", "prompt_version": "p", "menu_version": "v"}


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


async def test_forget_removes_a_key_from_redis_and_from_every_process_memory(
    redis_server: RedisServer, raw: Redis
) -> None:
    async with started(redis_server.url, events_poll=60.0) as one, started(redis_server.url, events_poll=60.0) as two:
        await one.set("answer:bad", ANSWER, ttl=600)
        await one.set("answer:good", {"answer": "Oat milk is free."}, ttl=600)
        for key in ("answer:bad", "answer:good"):
            assert await two.get(key) is not None  # two now holds memory copies of both
        assert await one.forget(["answer:bad"], ttl=600) is True

        assert await one.get("answer:bad") is None and await two.get("answer:bad") is None
        stored = await raw.get("answer:bad")
        assert stored is not None and stored.endswith(":null")  # a tombstone, with the key's remaining life
        assert 0 < await raw.pttl("answer:bad") <= 600_000
        assert await two.apply_events() == 1  # two drops its copy of the forgotten key only

        redis_server.stop()  # from now on both serve from memory
        assert await two.get("answer:bad") is None
        assert await two.get("answer:good") == {"answer": "Oat milk is free."}
        assert two.backend == "memory"


async def test_an_older_write_reconciled_after_an_outage_cannot_bring_a_forgotten_key_back(
    redis_server: RedisServer, raw: Redis
) -> None:
    async with started(redis_server.url) as two:
        redis_server.stop()
        await two.set("answer:bad", ANSWER, ttl=600)  # two is cut off: the write waits in its journal
        assert two.backend == "memory"
        redis_server.start()
        async with started(redis_server.url) as one:
            await one.set("answer:bad", ANSWER, ttl=600)
            assert await one.forget(["answer:bad"]) is True

        assert await two.check_redis() is True  # two reconciles its journal and is back on Redis
        assert (await raw.get("answer:bad") or "").endswith(":null")
        assert await two.get("answer:bad") is None
        assert two.stats()["fallback"]["reconciled"] == 0


async def test_a_forget_during_an_outage_is_applied_and_announced_when_redis_is_back(
    redis_server: RedisServer, raw: Redis
) -> None:
    async with started(redis_server.url, events_poll=60.0) as one, started(redis_server.url, events_poll=60.0) as two:
        await one.set("answer:bad", ANSWER, ttl=600)
        assert await two.get("answer:bad") == ANSWER
        redis_server.stop()
        assert await one.forget(["answer:bad"]) is False  # here only, for now
        assert await one.get("answer:bad") is None
        redis_server.start()
        await raw.set("answer:bad", "1:0:" + '{"answer": "stale"}')  # Redis lost nothing we can trust
        assert await one.check_redis() is True
        assert await raw.get("answer:bad") is None  # the journaled delete reached Redis
        await poll_until(two.check_redis)  # two notices the restart (its old socket fails first) and is back
        assert await two.apply_events() == 1  # and the announcement reached two's memory copy


async def test_clear_prefix_also_drops_the_other_processes_memory_copies(redis_server: RedisServer) -> None:
    async with started(redis_server.url, events_poll=60.0) as one, started(redis_server.url, events_poll=60.0) as two:
        await one.set("user:profile:1", {"id": 1}, ttl=600)
        await one.set("menu:all", [], ttl=600)
        assert await two.get("user:profile:1") == {"id": 1} and await two.get("menu:all") == []
        await one.clear_prefix("user:profile:")
        assert await two.apply_events() == 1
        redis_server.stop()
        assert await two.get("user:profile:1") is None
        assert await two.get("menu:all") == []


async def test_scan_is_bounded_and_skips_tombstones_and_foreign_values(redis_server: RedisServer, raw: Redis) -> None:
    async with started(redis_server.url) as cache:
        for n in range(5):
            await cache.set(f"answer:{n}", {"answer": str(n)}, ttl=600)
        await cache.set("menu:all", [], ttl=600)
        await raw.set("answer:foreign", "not ours")
        await cache.forget(["answer:4"])
        scan = await cache.scan("answer:", 100)
        assert scan.backend == "redis" and not scan.truncated
        assert sorted(v.key for v in scan.values) == [f"answer:{n}" for n in range(4)]
        assert all(abs(v.written_at - scan.values[0].written_at) < 60 for v in scan.values)
        limited = await cache.scan("answer:", 3)
        assert limited.truncated and len(limited.values) <= 3
        with pytest.raises(ValueError):
            await cache.scan("", 10)


async def test_scan_and_forget_without_redis_use_this_process_memory() -> None:
    async with started("") as cache:
        await cache.set("answer:a", {"answer": "a"}, ttl=600)
        await cache.set("answer:b", {"answer": "b"}, ttl=600)
        scan = await cache.scan("answer:", 1)
        assert scan.backend == "memory" and scan.truncated and len(scan.values) == 1
        assert await cache.forget(["answer:a"]) is True
        assert [v.key for v in (await cache.scan("answer:", 10)).values] == ["answer:b"]


# --- the finder over both caches --------------------------------------------------------------------
@dataclass
class Entry:
    key: str
    question: str
    answer: str
    created_at: float


class SemanticStandIn:
    """Unit-test stand-in for the semantic cache: local entries, forget, status."""

    def __init__(self, entries: list[Entry]) -> None:
        self.entries = {e.key: e for e in entries}
        self.forgotten: list[str] = []

    def local_entries(self) -> list[Entry]:
        return list(self.entries.values())

    async def forget(self, keys: Collection[str]) -> int:
        self.forgotten += keys
        return sum(self.entries.pop(k, None) is not None for k in keys)

    def status(self) -> dict[str, Any]:
        return {"shared": {"state": "disabled"}}


def test_words_match_case_insensitively_at_the_start_of_words() -> None:
    assert query_words("Lentil  SOUP!") == ["lentil", "soup"]
    assert matches(["lentil"], "Do you have LENTILS?", "")
    assert matches(["gluten", "free"], "is it gluten-free", "")
    assert matches(["lentil", "vegan"], "is the lentil soup", "Yes, it is vegan.")  # words of both texts
    assert not matches(["tea"], "Which steak?", "Instead, try the stew")
    assert not matches(["lentil", "cake"], "is the lentil soup vegan", "yes")


async def test_find_lists_both_caches_newest_first_with_stable_ids_and_forgets_by_id_or_by_words() -> None:
    now = time.time()  # the exact cache stamps values with the wall clock
    semantic = SemanticStandIn([
        Entry("91ab04c7d2ee" + "0" * 20, "Is the lentil soup gluten free?", "Yes <b>100%</b> & safe", now - 30),
        Entry("77cc" + "1" * 28, "Do you have oat milk?", "Yes, oat milk is free.", now - 5),
    ])
    async with started("") as cache:
        answers = CachedAnswers(cache, semantic)
        await cache.set("answer:3fa9c01b2e" + "a" * 22, ANSWER, ttl=600)
        await cache.set("answer:0123456789" + "b" * 22, {"answer": "Lattes are 3.20.", "question": "latte price"},
                        ttl=600)
        await cache.set("answer:ffff", "not an answer", ttl=600)

        found = await answers.find("LENTIL")
        assert [(a.id, a.cache) for a in found.answers] == [("e-3fa9c01b2e", EXACT), ("s-91ab04c7d2", SEMANTIC)]
        assert found.answers[0].age_seconds < found.answers[1].age_seconds
        assert [a.id for a in (await answers.find("lentil")).answers] == [a.id for a in found.answers]  # stable
        assert [a.id for a in (await answers.find("oat free")).answers] == ["s-77cc111111"]
        text = format_found("lentil <soup>", found, shown=1)
        assert "&lt;b&gt;" not in text and "lentil &lt;soup&gt;" in text  # only the shown entry is listed
        assert "…and 1 more" in text and "<code>e-3fa9c01b2e</code>" in text
        assert "No cached answer matches" in format_found("pizza", await answers.find("pizza"), 10)
        with pytest.raises(ValueError):
            await answers.find(" ?! ")

        forgotten = await answers.forget_id("S-91AB04C7D2")
        assert [a.id for a in forgotten.answers] == ["s-91ab04c7d2"] and forgotten.everywhere
        assert semantic.forgotten == ["91ab04c7d2ee" + "0" * 20]
        assert "Yes &lt;b&gt;" not in format_forgotten(forgotten, "x", 10)
        assert (await answers.forget_id("e-3fa9c0")).count(EXACT) == 1  # a shorter id is enough if unique
        assert await cache.get("answer:3fa9c01b2e" + "a" * 22) is None
        assert (await answers.forget_id("e-3fa9c01b2e")).answers == []
        with pytest.raises(ValueError):
            await answers.forget_id("lentil")
        with pytest.raises(ValueError):
            await answers.forget_id("e-3fa")  # too short to name one entry safely

        everything = await answers.forget_matching("free")  # the oat milk answer, nothing else
        assert [a.id for a in everything.answers] == ["s-77cc111111"]
        assert [a.id for a in (await answers.find("latte")).answers] == ["e-0123456789"]


async def test_an_id_that_names_two_entries_forgets_nothing() -> None:
    async with started("") as cache:
        answers = CachedAnswers(cache)
        await cache.set("answer:abcdef0001", {"answer": "one"}, ttl=600)
        await cache.set("answer:abcdef0002", {"answer": "two"}, ttl=600)
        result = await answers.forget_id("e-abcdef")
        assert len(result.ambiguous) == 2 and result.answers == []
        assert "Nothing forgotten" in format_forgotten(result, "with the id <code>e-abcdef</code>", 10)
        assert await cache.get("answer:abcdef0001") == {"answer": "one"}
