"""The catch-all: any private text that no command took goes to the agent.

Registered last in `all_routers()`. A slash command nobody handles gets a pointer to
/help instead of being sent to the model. A question is admitted first (the length limit,
one answer in flight per user: `TextAdmissionMiddleware`); while the agent works the chat
shows "typing…" (bot/telegram/chat_action.py) once it takes longer than TYPING_AFTER. Voice notes'
transcripts take the same `answer()` (handlers/voice.py).
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.types import Message, MessageGenerationStopped

from bot.conversation import Conversation
from bot.i18n import N_, _
from bot.telegram.chat_action import QuietChatActionSender
from bot.telegram.drafts import DraftStreams
from bot.telegram.middlewares import TEXT_ADMISSION, TextAdmissionMiddleware
from bot.telegram.replies import send_text

UNKNOWN_COMMAND = N_("I don't know that command. Send /help to see what I can do, or just ask me a question.")
TYPING_INTERVAL = 4.0  # Telegram shows "typing" for about 5 s per action
# "typing…" only for an answer that takes longer than this: a cached answer (tens of ms) needs no indicator, and
# under a rush every skipped sendChatAction is one call less for Telegram and the event loop (bench/rush.py).
TYPING_AFTER = 0.3


async def answer(message: Message, bot: Bot, conversation: Conversation, text: str, kind: str,
                 drafts: DraftStreams | None = None) -> None:
    """An admitted question's answer in the message's chat, "typing…" shown until it is ready.

    In a private chat a model answer is shown while it is written (drafts, bot/telegram/drafts.py),
    then sent whole; elsewhere, or with drafts off, it is sent whole when ready. The indicator
    is cosmetic: a failing sendChatAction only stops it, never the answer.
    """
    user_id = message.from_user.id if message.from_user else message.chat.id
    async with QuietChatActionSender.typing(bot=bot, chat_id=message.chat.id, interval=TYPING_INTERVAL,
                                            initial_sleep=TYPING_AFTER):
        if drafts is not None and drafts.allowed(message.chat):
            async with drafts.open(bot, message.chat.id, message.message_thread_id) as draft:
                reply = await conversation.answer(user_id, text, kind, on_text=draft)
        else:
            reply = await conversation.answer(user_id, text, kind)
    await send_text(message, reply)


async def on_text(message: Message, bot: Bot, conversation: Conversation, drafts: DraftStreams) -> None:
    await answer(message, bot, conversation, message.text or "", kind="text", drafts=drafts)


async def on_stop(update: MessageGenerationStopped, drafts: DraftStreams) -> None:
    """The customer pressed stop under a draft: that answer ends with the words written so far."""
    drafts.stop(update.chat.id, update.draft_id)


async def on_unknown_command(message: Message) -> None:
    await message.answer(_(UNKNOWN_COMMAND))


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    router.message.middleware(TextAdmissionMiddleware())  # for handlers flagged TEXT_ADMISSION
    router.message.register(on_unknown_command, F.text.startswith("/"))
    router.message.register(on_text, F.text, flags={TEXT_ADMISSION: True})
    router.stopped_message_generation.register(on_stop)
    return router
