"""The Telegram Bot API seam.

`TELEGRAM_API_URL` points the bot at any Bot API server: Telegram's, a self-hosted
telegram-bot-api, or the fake one the tests run. Tests and alternative back ends
can also hand in their own aiogram `BaseSession`.
"""

from __future__ import annotations

import asyncio
import logging
from contextvars import ContextVar
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response

from bot.config import Settings
from bot.telegram.health import WEBHOOK_PATH, LinkRecorder, TelegramHealth

log = logging.getLogger(__name__)

# Set while the outbox delivers: it has its own answer to a 429 (pause that chat, reschedule
# the row, deliver other chats meanwhile) and must not be held up waiting inside the call.
OUTBOX_DELIVERY: ContextVar[bool] = ContextVar("outbox_delivery", default=False)
MAX_RETRY_AFTER_SECONDS = 30.0  # a longer flood wait is not worth keeping a customer's reply waiting for
MAX_RETRIES = 3


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Every reply the bot makes waits out Telegram's flood control (429 `retry_after`) and is sent.

    Found by the load benchmark: with 429s on 30 % of sends, /menu pages, button pages and
    even "Order #007 placed" were lost when the handler's one call was refused — the order
    existed but the customer never saw it. Handlers make their calls once; this makes
    each of them wait as long as Telegram asks (up to MAX_RETRY_AFTER_SECONDS, MAX_RETRIES
    times) instead of each handler needing its own loop.
    """

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Response[Any]:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                attempt += 1
                if (OUTBOX_DELIVERY.get() or isinstance(method, GetUpdates) or attempt > MAX_RETRIES
                        or exc.retry_after > MAX_RETRY_AFTER_SECONDS):
                    raise
                log.warning("Telegram flood control on %s: waiting %s s (attempt %d)",
                            type(method).__name__, exc.retry_after, attempt)
                await asyncio.sleep(exc.retry_after)


class KeepResponseTypes(BaseRequestMiddleware):
    """Holds the `Response[T]` class of every call made, so pydantic does not build it again and again.

    aiogram reads each answer through `Response[method.__returning__]`; pydantic keeps such classes only
    weakly, so the garbage collector drops them between calls and the next call builds the class and its
    validator again (3-16 ms each). Found by bench/rush.py: 35 of 183 calls in a rush of cached answers paid it.
    """

    def __init__(self) -> None:
        self._types: dict[Any, Any] = {}
        self._response: Any = Response  # subscripted with a type known only at run time

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Response[Any]:
        returning = method.__returning__
        if returning not in self._types:
            self._types[returning] = self._response[returning]
        return await make_request(bot, method)


def api_server(base_url: str) -> TelegramAPIServer:
    """Methods at {base}/bot{token}/{method}, files at {base}/file/bot{token}/{path}."""
    return TelegramAPIServer.from_base(base_url.rstrip("/"))


def webhook_url(settings: Settings) -> str:
    return settings.webhook_base_url + WEBHOOK_PATH


def create_bot(settings: Settings, session: BaseSession | None = None,
               health: TelegramHealth | None = None) -> Bot:
    """The bot on its session; with `health`, every call's outcome is recorded there (innermost, per attempt)."""
    if session is None:
        session = AiohttpSession(api=api_server(settings.telegram_api_url), timeout=60)
    if not any(isinstance(m, KeepResponseTypes) for m in session.middleware):
        session.middleware(KeepResponseTypes())
    if not any(isinstance(m, RetryAfterMiddleware) for m in session.middleware):
        session.middleware(RetryAfterMiddleware())
    if health is not None and not any(isinstance(m, LinkRecorder) for m in session.middleware):
        session.middleware(LinkRecorder(health))
    return Bot(
        token=settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
