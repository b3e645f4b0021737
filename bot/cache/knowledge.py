"""The cafe's knowledge in the cache: `menu:*` and `cafe:*`, written by warmers.

Every process holds the validated menu in memory (`KnowledgeBase`); the cache
copies carry it as JSON for whatever reads the shared tier (other processes,
prompt building, the semantic cache) and give the runbook's `warmup-menu` its
meaning. Each value carries the menu or cafe version, so a reader can tell which
file it came from. A reload that changed the data drops both prefixes and
writes them again, so nothing serves the old menu.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.cache import keys
from bot.cache.service import Cache
from bot.knowledge import KnowledgeBase

log = logging.getLogger(__name__)

KNOWLEDGE_TTL_SECONDS = 24 * 3600.0

MENU_ALL = f"{keys.MENU}all"  # the whole menu: {"version", "currency", "categories": [...]}
MENU_VERSION = f"{keys.MENU}version"
CAFE_INFO = f"{keys.CAFE}info"  # name, address, hours, Wi-Fi, policies, version


def menu_item_key(item_id: str) -> str:
    return f"{keys.MENU}item:{item_id}"


def menu_category_key(category_id: str) -> str:
    return f"{keys.MENU}category:{category_id}"


@dataclass
class KnowledgeCache:
    cache: Cache
    knowledge: KnowledgeBase

    def menu_entries(self) -> dict[str, Any]:
        menu = self.knowledge.menu
        entries: dict[str, Any] = {
            MENU_VERSION: menu.version,
            MENU_ALL: menu.model_dump(mode="json", by_alias=False),
        }
        for category in menu.categories:
            entries[menu_category_key(category.id)] = {
                "id": category.id, "name": category.name, "items": [i.id for i in category.items],
                "version": menu.version,
            }
        for item in menu.items():
            entries[menu_item_key(item.id)] = {**item.model_dump(mode="json", by_alias=False), "version": menu.version}
        return entries

    def cafe_entries(self) -> dict[str, Any]:
        return {CAFE_INFO: self.knowledge.cafe.model_dump(mode="json")}

    async def warm_menu(self) -> int:
        return await self.cache.set_many(self.menu_entries(), KNOWLEDGE_TTL_SECONDS)

    async def warm_cafe(self) -> int:
        return await self.cache.set_many(self.cafe_entries(), KNOWLEDGE_TTL_SECONDS)

    async def menu(self) -> dict[str, Any] | None:
        """The whole menu as JSON, from the cache or (on a miss) from the loaded knowledge."""
        async def load() -> dict[str, Any]:
            return self.menu_entries()[MENU_ALL]

        return await self.cache.get_or_load(MENU_ALL, load, KNOWLEDGE_TTL_SECONDS)

    async def cafe(self) -> dict[str, Any] | None:
        async def load() -> dict[str, Any]:
            return self.cafe_entries()[CAFE_INFO]

        return await self.cache.get_or_load(CAFE_INFO, load, KNOWLEDGE_TTL_SECONDS)

    async def refresh(self, knowledge: KnowledgeBase) -> None:
        """After a reload changed the data: drop the old keys and write the new ones."""
        removed = await self.cache.clear_prefix(keys.MENU) + await self.cache.clear_prefix(keys.CAFE)
        written = await self.warm_menu() + await self.warm_cafe()
        log.info("knowledge changed: replaced %d cached menu/cafe keys with %d", removed, written)

    def register(self) -> None:
        self.cache.warmers.register("menu", {"critical", "menu"}, self.warm_menu)
        self.cache.warmers.register("cafe", {"critical"}, self.warm_cafe)
        self.knowledge.on_change(self.refresh)
