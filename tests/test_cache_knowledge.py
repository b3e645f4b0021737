"""The menu and cafe facts in the cache: warmers, readers, and a reload replacing them."""

from __future__ import annotations

import shutil
from pathlib import Path

from redis.asyncio import Redis

from bot.cache import KnowledgeCache
from tests.helpers import KEY_PREFIX, ROOT, RedisServer, make_settings, running_app


async def test_menu_and_cafe_keys_follow_the_loaded_knowledge(tmp_path: Path, redis_server: RedisServer) -> None:
    menu_path, cafe_path = tmp_path / "menu.yaml", tmp_path / "cafe.yaml"
    shutil.copy(ROOT / "data" / "menu.yaml", menu_path)
    shutil.copy(ROOT / "data" / "cafe.yaml", cafe_path)
    settings = make_settings(tmp_path, redis_url=redis_server.url, menu_path=menu_path, cafe_path=cafe_path)
    raw = Redis.from_url(redis_server.url, decode_responses=True)
    try:
        async with running_app(settings) as app:
            cache, knowledge = app.services.cache, app.services.knowledge
            report = await cache.warmup("menu")
            item = await cache.get("menu:item:flat-white")
            assert item["price_cents"] == 360 and item["category_id"] == "coffee"
            assert item["version"] == knowledge.menu.version
            assert (await cache.get("menu:category:coffee"))["items"][0] == "espresso"
            assert report["warmers"]["menu"]["keys"] == len(await raw.keys(f"{KEY_PREFIX}menu:*"))

            reader = KnowledgeCache(cache, knowledge)
            await raw.delete(f"{KEY_PREFIX}cafe:info")
            cafe = await reader.cafe()  # a miss loads from the knowledge base and stores it
            assert cafe["name"] == knowledge.cafe.name and await raw.exists(f"{KEY_PREFIX}cafe:info") == 1
            assert (await reader.menu())["version"] == knowledge.menu.version

            await cache.set("menu:item:retired-scone", {"name": "gone"}, ttl=60)
            menu_path.write_text(menu_path.read_text().replace("price: 3.60", "price: 3.70"))
            result = await knowledge.reload()
            assert result.changed
            item = await cache.get("menu:item:flat-white")
            assert item["price_cents"] == 370 and item["version"] == knowledge.menu.version
            assert await cache.get("menu:item:retired-scone") is None
            assert await raw.exists(f"{KEY_PREFIX}cafe:info") == 1
    finally:
        await raw.aclose()
