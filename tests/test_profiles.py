"""Profiles through the cache: every update is a cache read, the database is written only when it adds something."""

from __future__ import annotations

from pathlib import Path

from bot.cache import Cache, keys
from bot.cache.profiles import SEEN_WRITE_SECONDS, ProfileCache
from storage.db import Database
from storage.users import UserRepository
from testkit.settings import make_settings


async def last_seen(db: Database, user_id: int) -> float:
    return float(await db.fetchval("SELECT last_seen_at FROM users WHERE id = ?", (user_id,)))


async def test_seen_writes_on_first_sight_and_changes_but_not_on_every_update(tmp_path: Path) -> None:
    cache = Cache("", warm_on_start=False)
    await cache.start()
    try:
        async with Database(make_settings(tmp_path).database_target) as db:
            profiles = ProfileCache(cache, UserRepository(db))
            await profiles.seen(42, "ana", "Ana", "en")
            first = await last_seen(db, 42)
            for _ in range(5):  # a chatty customer: no database write
                await profiles.seen(42, "ana", "Ana", "en")
            unchanged = await last_seen(db, 42)
            await profiles.seen(42, "ana", "Ana", "de")  # language changed: written at once
            user = await UserRepository(db).get(42)
            cached = await cache.get(keys.user_profile(42))

            # Once SEEN_WRITE_SECONDS have passed, activity is written again.
            stale = {**(await cache.get(keys.user_profile(42))), "seen_written_at": first - SEEN_WRITE_SECONDS}
            await cache.set(keys.user_profile(42), stale)
            await profiles.seen(42, "ana", "Ana", "de")
            later = await last_seen(db, 42)
    finally:
        await cache.stop()
    assert unchanged == first
    assert user is not None and user.language_code == "de" and user.created_at <= first
    assert cached is not None and cached["first_name"] == "Ana" and cached["created_at"] == user.created_at
    assert later > first
