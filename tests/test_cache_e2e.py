"""The cache inside the real application: Redis outages, /api/cache, admin commands, the CLI."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.cache import Cache
from storage.db import Database
from storage.users import UserRepository
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer, free_port
from testkit.settings import ADMIN_ID, make_settings, subprocess_env
from tests.helpers import CUSTOMER_ID, KEY_PREFIX, admin_headers, poll_until, running_app, start_main


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


def in_redis(*keys: str) -> list[str]:
    """The keys as a raw Redis client sees them: under the application prefix."""
    return [KEY_PREFIX + key for key in keys]


async def get_cache(http: aiohttp.ClientSession, port: int) -> dict[str, Any]:
    async with http.get(f"http://127.0.0.1:{port}/api/cache") as r:
        assert r.status == 200
        return await r.json()


async def post_cache(
    http: aiohttp.ClientSession, port: int, body: object, headers: dict[str, str] | None = None, raw_body: str = ""
) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/cache"
    kwargs: dict[str, Any] = {"data": raw_body} if raw_body else {"json": body}
    async with http.post(url, headers=admin_headers() if headers is None else headers, **kwargs) as r:
        return r.status, await r.json()


def startup_warmup_done(cache: Cache) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return "critical" in cache.stats()["warmup"]

    return done


def outage_warnings(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage())


async def test_redis_outage_and_recovery_in_the_running_bot(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession, redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(tmp_path, telegram.url, redis_url=redis_server.url, redis_probe_seconds=0.1)
    async with running_app(settings) as app:
        cache = app.services.cache
        assert (await get_cache(http, app.port))["backend"] == "redis"
        telegram.send_text(CUSTOMER_ID, "/start", first_name="Ana")
        await telegram.wait_for_messages(CUSTOMER_ID)

        redis_server.stop()
        telegram.send_text(CUSTOMER_ID, "/start", first_name="Ana")
        [_, reply] = await telegram.wait_for_messages(CUSTOMER_ID, 2)
        assert "Hi, Ana" in reply.text
        body = await get_cache(http, app.port)
        assert body["backend"] == "memory" and body["available"] is False
        assert body["stats"]["fallback"]["active"] is True
        telegram.send_text(ADMIN_ID, "/cache")
        [report] = await telegram.wait_for_messages(ADMIN_ID)
        assert "memory" in report.text and "Redis unavailable" in report.text
        telegram.send_text(ADMIN_ID, "/warmup")  # warming while Redis is down reaches memory
        [warm] = await telegram.wait_for_messages(ADMIN_ID, after=1)
        assert warm.text.startswith("Warmup critical") and "on memory" in warm.text
        for _ in range(5):
            await get_cache(http, app.port)
            await cache.get("menu:all")
        assert outage_warnings(caplog, "Redis unavailable") == 1

        redis_server.start()

        async def back_on_redis() -> bool:
            return (await get_cache(http, app.port))["backend"] == "redis"

        await poll_until(back_on_redis, timeout=10)
        assert outage_warnings(caplog, "Redis available again") == 1
        fresh = Redis.from_url(redis_server.url, decode_responses=True)
        try:
            async def profile_in_redis() -> int:
                return await fresh.exists(f"{KEY_PREFIX}user:profile:{CUSTOMER_ID}")

            await poll_until(profile_in_redis, timeout=10)  # the warmup after recovery repopulated Redis
            raw_value = await fresh.get(f"{KEY_PREFIX}user:profile:{CUSTOMER_ID}")
            assert json.loads(raw_value.split(":", 2)[2])["first_name"] == "Ana"
        finally:
            await fresh.aclose()
        telegram.send_text(CUSTOMER_ID, "/start")
        await telegram.wait_for_messages(CUSTOMER_ID, 3)


@pytest.mark.parametrize("kind", ["closed port", "bad password"])
async def test_bot_starts_and_answers_with_a_bad_redis_url(
    kind: str, telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession, redis_server: RedisServer,
    raw: Redis, caplog: pytest.LogCaptureFixture,
) -> None:
    await raw.config_set("requirepass", "the-right-one")
    url = {
        "closed port": f"redis://127.0.0.1:{free_port()}/0",
        "bad password": f"redis://:not-the-password@127.0.0.1:{redis_server.port}/0",
    }[kind]
    async with running_app(make_settings(tmp_path, telegram.url, redis_url=url)) as app:
        telegram.send_text(CUSTOMER_ID, "/start")
        await telegram.wait_for_messages(CUSTOMER_ID)
        body = await get_cache(http, app.port)
        await app.services.cache.set("answer:x", "works", 60)
        assert await app.services.cache.get("answer:x") == "works"
    assert body["backend"] == "memory" and body["available"] is False
    assert body["stats"]["redis"]["state"] == "down"
    assert outage_warnings(caplog, "Redis unavailable") == 1
    assert "not-the-password" not in caplog.text and "not-the-password" not in json.dumps(body)


async def test_two_app_instances_share_values_through_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    one_dir, two_dir = tmp_path / "one", tmp_path / "two"
    one_dir.mkdir()
    two_dir.mkdir()
    async with running_app(make_settings(one_dir, redis_url=redis_server.url)) as one, \
            running_app(make_settings(two_dir, redis_url=redis_server.url)) as two:
        await one.services.cache.set("answer:hours", {"text": "8:00-20:00"}, ttl=60)
        assert await two.services.cache.get("answer:hours") == {"text": "8:00-20:00"}
        assert two.services.cache.stats()["tiers"]["redis"]["hits"] == 1


async def test_post_cache_auth_and_validation(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_app(make_settings(tmp_path)) as app:
        port = app.port
        assert (await post_cache(http, port, {"action": "warmup"}, headers={}))[0] == 401
        assert (await post_cache(http, port, {"action": "warmup"}, headers={"Authorization": "Bearer nope"}))[0] == 401
        assert (await post_cache(http, port, {}, headers={"Authorization": "Basic x"}))[0] == 401
        status, body = await post_cache(http, port, None, raw_body="not json")
        assert status == 400 and "JSON" in body["error"]
        assert (await post_cache(http, port, ["warmup"]))[0] == 400
        status, body = await post_cache(http, port, {"action": "explode"})
        assert status == 400 and body["actions"] == ["clear-prefix", "find", "forget", "warmup", "warmup-menu"]
        assert (await post_cache(http, port, {}))[0] == 400
        for bad in ({}, {"prefix": ""}, {"prefix": "   "}, {"prefix": 5}, {"prefix": "x" * 500}):
            status, body = await post_cache(http, port, {"action": "clear-prefix", **bad})
            assert status == 400, bad
            assert "prefix" in body["error"]
    async with running_app(make_settings(tmp_path, admin_api_token=None)) as app:
        status, body = await post_cache(http, app.port, {"action": "warmup"})
        assert status == 403 and "disabled" in body["error"]


async def test_clear_prefix_stays_inside_the_application_prefix_and_says_why_when_refused(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession, redis_server: RedisServer, raw: Redis
) -> None:
    """Another application shares the Redis; nothing an admin types can list or delete its keys."""
    theirs = {"user:profile:1": "theirs", "cafe:menu": "theirs", "cafebot-old:user:profile:1": "theirs",
              "sessions:9": "theirs"}
    for key, value in theirs.items():
        await raw.set(key, value)
    async with running_app(make_settings(tmp_path, telegram.url, redis_url=redis_server.url)) as app:
        cache = app.services.cache
        await poll_until(startup_warmup_done(cache))
        await cache.set("user:profile:1", {"id": 1}, ttl=60)
        refused = {}
        for prefix in (f"{KEY_PREFIX}user:profile:", KEY_PREFIX, "sessions:", "cafebot-old:", "*", "menu:", "prompt:"):
            refused[prefix] = await post_cache(http, app.port, {"action": "clear-prefix", "prefix": prefix})
        telegram.send_text(ADMIN_ID, f"/cache_clear {KEY_PREFIX}user:profile:")
        [refusal] = await telegram.wait_for_messages(ADMIN_ID)
        status, cleared = await post_cache(http, app.port, {"action": "clear-prefix", "prefix": "user:"})
        after = {key: await raw.get(key) for key in theirs}
        ours = [key for key in await raw.keys("*") if key not in theirs]

    for prefix, (code, body) in refused.items():
        assert code == 400, prefix
        assert "REDIS_KEY_PREFIX" in body["error"] and body["key_prefix"] == KEY_PREFIX, body
    assert "use 'user:profile:'" in refused[f"{KEY_PREFIX}user:profile:"][1]["error"]
    assert "outside this bot's keys" in refused["sessions:"][1]["error"]
    assert all("outside this bot's keys" in refused[p][1]["error"] for p in ("menu:", "prompt:"))  # retired
    assert status == 200 and cleared["removed"] == 2 and cleared["redis_prefix"] == f"{KEY_PREFIX}user:"
    assert refusal.text.startswith("Not cleared: prefixes are relative to REDIS_KEY_PREFIX")
    assert after == theirs  # the other application's keys, the same-named one included, are all there
    assert ours and all(key.startswith(KEY_PREFIX) for key in ours)
    assert not any(key.startswith(f"{KEY_PREFIX}user:") for key in ours)  # user 1 and the admin's profile went


async def test_post_cache_actions_report_what_they_did(
    tmp_path: Path, http: aiohttp.ClientSession, redis_server: RedisServer, raw: Redis
) -> None:
    async with running_app(make_settings(tmp_path, redis_url=redis_server.url)) as app:
        cache = app.services.cache
        await poll_until(startup_warmup_done(cache))
        await app.services.users.touch(77, "bea", "Bea", "en")
        for key in ("user:profile:1", "user:profile:2", "user:profiles", "menu:all"):
            await cache.set(key, key, ttl=60)

        status, body = await post_cache(http, app.port, {"action": "clear-prefix", "prefix": "user:profile:"})
        assert status == 200 and body["removed"] == 2 and body["ok"] is True and "took_ms" in body
        assert await raw.exists(*in_redis("user:profile:1", "user:profile:2")) == 0
        assert await raw.exists(*in_redis("user:profiles", "menu:all")) == 2

        await raw.delete(*in_redis("user:profile:77"))
        status, body = await post_cache(http, app.port, {"action": "warmup"})
        assert status == 200 and body["group"] == "critical" and body["backend"] == "redis"
        # Nothing copies the menu, cafe facts or prompt into the cache any more (nothing read them).
        assert {name: w["keys"] for name, w in body["warmers"].items()} == {"user-profiles": 1}
        assert body["keys"] == 1 and body["took_ms"] >= 0
        assert await raw.exists(*in_redis("user:profile:77")) == 1
        # Only the key this test wrote itself above.
        assert await raw.exists(*in_redis("menu:all", "menu:item:espresso", "cafe:info", "prompt:system")) == 1

        status, body = await post_cache(http, app.port, {"action": "warmup-menu"})
        assert status == 200 and body["group"] == "menu" and body["warmers"] == {}  # the semantic cache is off here

        stats = (await get_cache(http, app.port))["stats"]
        assert stats["tiers"]["redis"]["keys"] == await raw.dbsize()
        assert stats["warmup"]["critical"]["warmers"]["user-profiles"]["keys"] == 1
        assert stats["warmup"]["menu"]["keys"] == 0


async def test_admin_cache_commands_and_refusal(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, telegram.url)) as app:
        await poll_until(startup_warmup_done(app.services.cache))
        await app.services.cache.set("user:profile:5", {"id": 5}, ttl=60)
        await app.services.cache.set("menu:all", [], ttl=60)
        for command in ("/cache", "/warmup", "/warmup_menu", "/cache_clear user:profile:"):
            telegram.send_text(CUSTOMER_ID, command)
        refusals = await telegram.wait_for_messages(CUSTOMER_ID, 4)
        assert {m.text for m in refusals} == {"Sorry, that command is for the cafe's admins."}
        assert await app.services.cache.get("user:profile:5") == {"id": 5}

        telegram.send_text(ADMIN_ID, "/cache")
        [stats] = await telegram.wait_for_messages(ADMIN_ID)
        assert "memory only" in stats.text and "Memory" in stats.text
        telegram.send_text(ADMIN_ID, "/cache_clear")
        [usage] = await telegram.wait_for_messages(ADMIN_ID, after=1)
        assert usage.text.startswith("Usage") and "/cache_clear user:profile:" in usage.text
        telegram.send_text(ADMIN_ID, "/cache_clear user:profile:")
        [cleared] = await telegram.wait_for_messages(ADMIN_ID, after=2)
        # user 5, and the customer's and the admin's profiles cached as their updates came in
        assert cleared.text == "Removed 3 cache keys under user:profile: (memory)."
        assert await app.services.cache.get("menu:all") == []
        telegram.send_text(ADMIN_ID, "/warmup")
        [warm] = await telegram.wait_for_messages(ADMIN_ID, after=3)
        assert warm.text.startswith("Warmup critical") and "• user-profiles: 2 keys" in warm.text
        telegram.send_text(ADMIN_ID, "/warmup_menu")
        [menu] = await telegram.wait_for_messages(ADMIN_ID, after=4)
        assert menu.text.startswith("Warmup menu")


async def test_warmup_command_fills_redis_from_the_shell(tmp_path: Path, redis_server: RedisServer, raw: Redis) -> None:
    db_path = tmp_path / "bot.db"
    async with Database(db_path) as db:
        await UserRepository(db).touch(31, "carl", "Carl", "de")
    env = subprocess_env(BOT_MODE="off", DATABASE_PATH=str(db_path), REDIS_URL=redis_server.url, LOG_LEVEL="WARNING")
    proc = start_main(["warmup"], env, tmp_path)
    code = await asyncio.to_thread(proc.wait, 60)
    output = proc.stdout.read() if proc.stdout else ""
    assert code == 0, output
    report = json.loads(output[output.index("{"):])
    assert report["group"] == "critical" and report["warmers"]["user-profiles"]["keys"] == 1
    assert await raw.exists(*in_redis("user:profile:31")) == 1

    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    proc = start_main(["warmup"], env, tmp_path)
    code = await asyncio.to_thread(proc.wait, 60)
    output = proc.stdout.read() if proc.stdout else ""
    assert code == 1 and "Redis is unavailable" in output
