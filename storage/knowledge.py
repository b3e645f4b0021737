"""Snapshots of the last good menu and cafe facts (the YAML content as parsed), and the menu as rows."""

from __future__ import annotations

import json
from typing import Any

from bot.knowledge.models import CafeInfo, Menu
from storage.db import Database, now

_SAVE_SNAPSHOT = """INSERT INTO knowledge_snapshots(kind, version, content, loaded_at) VALUES (?, ?, ?, ?)
    ON CONFLICT(kind) DO UPDATE SET version = excluded.version, content = excluded.content,
        loaded_at = excluded.loaded_at"""


class KnowledgeRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_menu(self, menu: Menu, raw: dict[str, Any]) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                _SAVE_SNAPSHOT,
                ("menu", menu.version, json.dumps(raw), now()),
            )
            await tx.execute("DELETE FROM menu_items")
            await tx.executemany(
                """INSERT INTO menu_items(id, category_id, name, description, price_cents, sizes_json, tags_json,
                   allergens_json, available, position, menu_version) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                [
                    (i.id, i.category_id, i.name, i.description, i.price_cents, json.dumps(i.sizes),
                     json.dumps(i.tags), json.dumps(i.allergens), int(i.available), pos, menu.version)
                    for pos, i in enumerate(menu.items())
                ],
            )

    async def save_cafe(self, cafe: CafeInfo, raw: dict[str, Any]) -> None:
        await self._db.execute(
            _SAVE_SNAPSHOT,
            ("cafe", cafe.version, json.dumps(raw), now()),
        )

    async def last_menu(self) -> Menu | None:
        row = await self._db.fetchone("SELECT version, content FROM knowledge_snapshots WHERE kind = 'menu'")
        if row is None:
            return None
        return Menu.model_validate(json.loads(row["content"])).model_copy(update={"version": row["version"]})

    async def last_cafe(self) -> CafeInfo | None:
        row = await self._db.fetchone("SELECT version, content FROM knowledge_snapshots WHERE kind = 'cafe'")
        if row is None:
            return None
        return CafeInfo.model_validate(json.loads(row["content"])).model_copy(update={"version": row["version"]})
