"""/reload_menu: admins apply an edited menu.yaml / cafe.yaml without a restart."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.knowledge import KnowledgeBase
from bot.telegram.filters import IsAdmin
from bot.text import escape


async def on_reload(message: Message, knowledge: KnowledgeBase) -> None:
    result = await knowledge.reload()
    if result.ok:
        state = "changed" if result.changed else "unchanged"
        await message.answer(f"✅ Menu {result.menu_version}, cafe facts {result.cafe_version} ({state}).")
    else:
        errors = "\n".join(f"• {escape(e)}" for e in result.errors)
        await message.answer(
            f"⚠️ Kept the last good data (menu {result.menu_version}).\n{errors}"
        )


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.message.register(on_reload, Command("reload_menu"))
    return router
