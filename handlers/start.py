"""/start and /help: the first thing every customer sees."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.agent import Agent
from bot.agent.service import LIMITED_MODE_NOTE
from bot.commands import help_text
from bot.config import Settings
from bot.i18n import N_, _, current_locale
from bot.knowledge import KnowledgeBase
from bot.text import escape

WELCOME = N_(
    "👋 Hi{name}! I'm the cafe's assistant.\n\n"
    "Ask me about the menu, prices, ingredients and allergens, opening hours or Wi-Fi — "
    "by text or voice note.\n\n"
    "Send /help to see everything I can do."
)


async def on_start(message: Message, agent: Agent, knowledge: KnowledgeBase) -> None:
    name = f", {escape(message.from_user.first_name)}" if message.from_user and message.from_user.first_name else ""
    text = _(WELCOME).format(name=name)
    tagline = knowledge.cafe.tagline_in(current_locale())
    if tagline:  # the cafe's own words, in the customer's language when cafe.yaml gives it
        text += f"\n\n<i>{escape(tagline)}</i>"
    if agent.limited:
        text += f"\n\n{escape(_(LIMITED_MODE_NOTE))}"
    await message.answer(text)


async def on_help(message: Message, settings: Settings) -> None:
    is_admin = message.from_user is not None and message.from_user.id in settings.admin_ids
    await message.answer(help_text(is_admin))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_start, CommandStart())
    router.message.register(on_help, Command("help"))
    return router
