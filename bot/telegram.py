"""The Telegram Bot API seam.

`TELEGRAM_API_URL` points the bot at any Bot API server: Telegram's, a self-hosted
telegram-bot-api, or the fake one the tests run. Tests and alternative back ends
can also hand in their own aiogram `BaseSession`.
"""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.config import Settings


def api_server(base_url: str) -> TelegramAPIServer:
    """Methods at {base}/bot{token}/{method}, files at {base}/file/bot{token}/{path}."""
    return TelegramAPIServer.from_base(base_url.rstrip("/"))


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession(api=api_server(settings.telegram_api_url), timeout=60)
    return Bot(
        token=settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
