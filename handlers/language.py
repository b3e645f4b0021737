"""/language: the customer picks the language the bot writes in (buttons: English / Deutsch / ...).

The choice is kept in the users table (and the cached profile), so it survives restarts and wins
over Telegram's `language_code` from the next update on (LocaleMiddleware). The buttons list every
catalogue the bot has, each language named in itself.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from babel import Locale
from pydantic import Field

from bot.cache.profiles import ProfileCache
from bot.i18n import Catalogues, _, use_locale
from handlers.orders.views import show


class LanguageCb(CallbackData, prefix="lg"):
    code: str = Field(pattern=r"^[a-z]{2,3}$")


def language_name(code: str) -> str:
    """The language in its own words: "English", "Deutsch"."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def keyboard(catalogues: Catalogues, current: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for code in catalogues.locales:
        mark = "• " if code == current else ""
        kb.button(text=f"{mark}{language_name(code)}", callback_data=LanguageCb(code=code))
    kb.adjust(len(catalogues.locales))
    return kb.as_markup()


async def on_language(message: Message, catalogues: Catalogues, locale: str) -> None:
    await message.answer(_("🌐 Which language should I write in?"), reply_markup=keyboard(catalogues, locale))


async def on_choose(callback: CallbackQuery, callback_data: LanguageCb, catalogues: Catalogues,
                    profiles: ProfileCache) -> None:
    if not catalogues.supports(callback_data.code):
        await callback.answer(_("This button doesn't work any more. Send /help to see what I can do."),
                              show_alert=True)
        return
    await profiles.set_language(callback.from_user.id, callback_data.code)
    with use_locale(catalogues, callback_data.code) as code:  # the answer already in the new language
        await show(callback, _("✅ I'll write in {language} from now on. Send /help to see what I can do.").format(
            language=language_name(code)), None)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_language, Command("language"), F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(on_choose, LanguageCb.filter())
    return router
