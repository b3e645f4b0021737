"""A refused ordering request (OrderError) becomes a clear answer: an alert for a button, a reply for text.

An inner middleware on the ordering routers rather than a router `errors` handler:
error events propagate from the Dispatcher down, and its catch-all handler
(handlers/errors.py) would answer first with a generic apology.

An OrderError's text is plain text that may carry a menu item's name or what a customer
typed. The reply goes out in the bot's HTML parse mode, so it is escaped: a name like
"Mac & Cheese <3" would otherwise be refused by Telegram ("can't parse entities") or, with
a tag in it, become markup. A callback alert is never parsed, so it gets the text as is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.orders import OrderError
from bot.text import escape


class OrderErrorReply(BaseMiddleware):
    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except OrderError as exc:
            if isinstance(event, CallbackQuery):
                await event.answer(str(exc), show_alert=True)
            elif isinstance(event, Message):
                await event.answer(escape(str(exc)))
            return None


def reply_to_order_errors(router: Router) -> Router:
    router.message.middleware(OrderErrorReply())
    router.callback_query.middleware(OrderErrorReply())
    return router
