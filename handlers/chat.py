"""The catch-all: any private text that no command took goes to the agent.

Registered last in `all_routers()`. A slash command nobody handles gets a pointer to
/help instead of being sent to the model.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Message

from bot.conversation import Conversation

UNKNOWN_COMMAND = "I don't know that command. Send /help to see what I can do, or just ask me a question."


async def on_text(message: Message, conversation: Conversation) -> None:
    await conversation.reply(message, message.text or "", kind="text")


async def on_unknown_command(message: Message) -> None:
    await message.answer(UNKNOWN_COMMAND)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.register(on_unknown_command, F.text.startswith("/"))
    router.message.register(on_text, F.text)
    return router
