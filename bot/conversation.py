"""A customer's chat with the agent over Telegram: guards around `Agent.answer`.

Text (and, from the voice feature, transcribed voice notes) goes through `reply()`, which
enforces what protects the model budget and the customer's experience: a maximum input
length and one request in flight per user (a message sent while the previous one is being
answered waits its turn, with a short notice). The per-user rate limit is not here: it
runs for every update before any handler (`bot.middlewares.RateLimitMiddleware`). While
the agent works the chat shows "typing…". The answer is escaped for HTML parse mode
(model text is never markup), split into Telegram-sized messages at paragraph or sentence
boundaries; a 429 from Telegram is waited out by the bot's session (bot/telegram.py)
instead of losing the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message

from bot.agent import Agent
from bot.config import Settings
from bot.text import escape, split_message

log = logging.getLogger(__name__)

MAX_QUEUED_PER_USER = 1  # messages waiting behind the one being answered
TYPING_INTERVAL = 4.0  # Telegram shows "typing" for about 5 s per action


@dataclass
class _UserSlot:
    lock: asyncio.Lock
    waiting: int = 0


class Conversation:
    def __init__(self, agent: Agent, settings: Settings) -> None:
        self.agent = agent
        self.settings = settings
        self._slots: dict[int, _UserSlot] = {}

    async def reply(self, message: Message, text: str, kind: str = "text") -> None:
        """Answer `text` (the message's text or a voice note's transcript) in the message's chat."""
        user_id = message.from_user.id if message.from_user else message.chat.id
        text = text.strip()
        if not text:
            await self.send(message, "Please send me your question as text or a voice note.")
            return
        if len(text) > self.settings.max_input_chars:
            await self.send(message, f"That message is a bit long for me ({len(text)} characters). Please keep "
                                     f"questions under {self.settings.max_input_chars} characters.")
            return

        slot = self._slots.setdefault(user_id, _UserSlot(asyncio.Lock()))
        if slot.lock.locked():
            if slot.waiting >= MAX_QUEUED_PER_USER:
                await self.send(message, "I'm still answering your earlier messages — please wait for my reply "
                                         "before sending more.")
                return
            await self.send(message, "One moment — I'm still answering your previous message; this one is next.")
        slot.waiting += 1
        try:
            async with slot.lock:
                slot.waiting -= 1
                async with typing(message):
                    reply = await self.agent.answer(user_id, text, kind)
                await self.send(message, reply.answer)
        finally:
            if not slot.lock.locked() and slot.waiting <= 0:
                self._slots.pop(user_id, None)

    async def send(self, message: Message, text: str) -> None:
        """Send plain text safely: escaped, split under 4096 characters (the bot session waits out 429s)."""
        for part in split_message(text):
            await self._send_part(message, part)

    async def _send_part(self, message: Message, part: str) -> None:
        try:
            await message.answer(render_html(part))
        except TelegramBadRequest as exc:
            if "parse entities" not in str(exc):
                raise
            log.error("Telegram rejected our HTML (%s); sending as plain text", exc)
            await message.answer(part, parse_mode=None)


@contextlib.asynccontextmanager
async def typing(message: Message) -> AsyncIterator[None]:
    """Show "typing…" until the block ends. Cosmetic: a failing sendChatAction never fails the answer."""

    async def keep_typing() -> None:
        bot = message.bot
        if bot is None:  # a Message not bound to a Bot (aiogram binds every one it hands to a handler)
            return
        while True:
            try:
                await bot.send_chat_action(chat_id=message.chat.id, action=ChatAction.TYPING)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("sendChatAction failed: %s", exc)
            await asyncio.sleep(TYPING_INTERVAL)

    task = asyncio.create_task(keep_typing(), name="typing")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_BULLET = re.compile(r"^[ \t]*[-*][ \t]+", re.MULTILINE)


def render_html(text: str) -> str:
    """Plain model text to Telegram HTML: everything escaped, then **bold** and list bullets made readable.

    Only tags this function writes itself reach Telegram, so an answer quoting `<b>`,
    `&` or `<script>` shows them literally and never fails to parse.
    """
    html = escape(text)
    html = _BULLET.sub("• ", html)
    return _BOLD.sub(r"<b>\1</b>", html)
