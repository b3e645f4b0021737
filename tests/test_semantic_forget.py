"""Forgetting a semantic cache entry: gone from every process, its SQLite copy and the shared stream,
and never brought back by a process that was down or reads the stream from the start."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from bot.semantic import Ct2Embedder, RedisShare, SemanticCache
from bot.semantic.cache import entry_key
from storage.db import Database
from storage.semantic import SemanticCacheRepository
from testkit.servers import RedisServer
from tests.helpers import ManualClock
from tests.test_semantic_cache import START, Ctx, make_cache, wait_for

BAD = ("Is the lentil soup gluten-free?", "Yes, everything here is gluten-free.")
OTHER = ("Are dogs allowed?", "Dogs are welcome.")


def share(cache: SemanticCache, redis_server: RedisServer) -> RedisShare:
    return RedisShare(cache, Redis.from_url(redis_server.url, socket_timeout=1), poll_seconds=0.05,
                      max_backoff_seconds=0.2)


async def in_sqlite(db: Database, cache: SemanticCache) -> list[str]:
    return [e.question for e in await SemanticCacheRepository(db).load(cache.generation, START)]


async def test_a_forgotten_entry_leaves_every_process_and_sqlite_and_a_stream_replay_skips_it(
    tmp_path: Path, embedder: Ct2Embedder, redis_server: RedisServer
) -> None:
    async with Database(tmp_path / "a.db") as db_a, Database(tmp_path / "b.db") as db_b, \
            Database(tmp_path / "c.db") as db_c:
        clock_a, clock_b = ManualClock(START), ManualClock(START)
        a, b = make_cache(db_a, embedder, clock=clock_a), make_cache(db_b, embedder, clock=clock_b)
        shares = [share(a, redis_server), share(b, redis_server)]
        for part in (a, b, *shares):
            await part.start()
        await wait_for(lambda: all(s.status()["state"] == "ok" for s in shares))
        assert await a.store(*BAD, Ctx())
        await wait_for(lambda: b.status()["entries"] == 1)
        key = entry_key(BAD[0], a.generation)

        assert await a.forget([key]) == 1
        assert a.status()["entries"] == 0 and await in_sqlite(db_a, a) == []
        # "forgotten" counts once the SQLite rows are gone too (the index drops the entry first)
        await wait_for(lambda: b.status()["forgotten"] == 1)
        assert b.status()["entries"] == 0 and await in_sqlite(db_b, b) == []
        assert await b.lookup("is the lentil soup gluten free", Ctx()) is None

        await b.store(*OTHER, Ctx())  # sharing goes on
        await wait_for(lambda: a.status()["entries"] == 1)

        # A new process reads the whole stream, the forgotten entry included: it never takes it.
        c = make_cache(db_c, embedder)
        share_c = share(c, redis_server)
        await c.start()
        await share_c.start()
        await wait_for(lambda: c.status()["entries"] == 1)
        assert [e.question for e in c.local_entries()] == [OTHER[0]]

        # The same question answered again later (a good answer this time) is shared as usual.
        clock_a.now += 60
        clock_b.now += 60
        assert await a.store(BAD[0], "No: it is cooked in a kitchen that handles wheat.", Ctx())
        await wait_for(lambda: b.status()["entries"] == 2)
        hit = await b.lookup("is the lentil soup gluten free", Ctx())
        assert hit is not None and hit.answer.startswith("No:")
        for part in (share_c, *shares, a, b, c):
            await part.stop()


async def test_a_process_down_during_the_forget_drops_its_sqlite_copy_before_it_answers(
    tmp_path: Path, embedder: Ct2Embedder, redis_server: RedisServer
) -> None:
    async with Database(tmp_path / "a.db") as db_a, Database(tmp_path / "b.db") as db_b:
        a, b = make_cache(db_a, embedder), make_cache(db_b, embedder)
        share_a, share_b = share(a, redis_server), share(b, redis_server)
        for part in (a, b, share_a, share_b):
            await part.start()
        assert await a.store(*BAD, Ctx())
        assert await a.store(*OTHER, Ctx())
        await wait_for(lambda: b.status()["entries"] == 2)
        await share_b.stop()
        await b.stop()  # b is down; its SQLite copy holds both entries

        await a.forget([entry_key(BAD[0], a.generation)])
        # Many entries later the stream no longer holds the forget event: the tombstone set still does.
        raw = Redis.from_url(redis_server.url)
        for stream in [k async for k in raw.scan_iter("semantic:*:stream")]:
            await raw.xtrim(stream, maxlen=0)
        await raw.aclose()

        b = make_cache(db_b, embedder)
        share_b = share(b, redis_server)
        await b.start()
        assert b.status()["entries"] == 2  # what b's SQLite held, as it was when b stopped
        await share_b.start()  # returns once b knows what was forgotten meanwhile
        assert [e.question for e in b.local_entries()] == [OTHER[0]]
        assert await in_sqlite(db_b, b) == [OTHER[0]]
        assert await b.lookup("is the lentil soup gluten free", Ctx()) is None
        for part in (share_a, share_b, a, b):
            await part.stop()
