"""What no feature handles still gets an answer: other media in private chats, and unknown buttons.

Registered after every feature router. In a private chat, a message no router took (a
photo, a sticker, a location, a file that is not audio, ...) gets a sentence saying what the
bot can do instead of silence. A button press no router understood (forged, or from a
message of a bot version long gone) is answered, so the customer's button stops spinning
and they are told what to do. Messages in groups (the staff group's own talk) are left alone.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType, ContentType
from aiogram.types import CallbackQuery, Message

from bot.i18n import N_, _

WHAT: dict[str, str] = {  # Message.content_type is a plain str
    ContentType.PHOTO: N_("photos"), ContentType.STICKER: N_("stickers"), ContentType.LOCATION: N_("locations"),
    ContentType.VENUE: N_("locations"), ContentType.DOCUMENT: N_("that kind of file"), ContentType.VIDEO: N_("videos"),
    ContentType.ANIMATION: N_("GIFs"), ContentType.CONTACT: N_("contacts"), ContentType.POLL: N_("polls"),
    ContentType.DICE: N_("dice"),
}
UNSUPPORTED = N_("I can read text messages and listen to voice notes, but I can't open {what}. "
               "Please type your question or send a voice note.")
UNKNOWN_BUTTON = N_("This button doesn't work any more. Send /help to see what I can do.")


async def on_unsupported(message: Message) -> None:
    await message.answer(_(UNSUPPORTED).format(what=_(WHAT.get(message.content_type, N_("that kind of message")))))


async def on_unknown_button(callback: CallbackQuery) -> None:
    await callback.answer(_(UNKNOWN_BUTTON), show_alert=True)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_unsupported, F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(on_unknown_button)
    return router
