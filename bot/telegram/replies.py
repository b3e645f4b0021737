"""Sending the agent's plain text to a chat: escaped, formatted, split, and never lost to our own markup."""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message

from bot.conversation import render_html
from bot.text import split_message

log = logging.getLogger(__name__)


async def send_text(message: Message, text: str) -> None:
    """Send plain text safely in the message's chat: escaped, split under 4096 characters.

    A 429 is waited out by the bot's session (bot/telegram/session.py); should Telegram still
    refuse our HTML, the part goes out as plain text rather than not at all.
    """
    for part in split_message(text):
        try:
            await message.answer(render_html(part))
        except TelegramBadRequest as exc:
            if "parse entities" not in str(exc):
                raise
            log.error("Telegram rejected our HTML (%s); sending as plain text", exc)
            await message.answer(part, parse_mode=None)
