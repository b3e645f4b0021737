"""/reset: the customer starts a new dialog (the agent forgets the conversation so far)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.agent import Agent
from bot.i18n import _


async def on_reset(message: Message, agent: Agent) -> None:
    user_id = message.from_user.id if message.from_user else message.chat.id
    await agent.dialogs.reset(user_id)
    await message.answer(_("🔄 Fresh start — I've forgotten our conversation. What would you like to know?"))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_reset, Command("reset"))
    return router
