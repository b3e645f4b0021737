"""A refused ordering request (OrderError) becomes a clear answer: an alert for a button, a reply for text.

An inner middleware on the ordering routers rather than a router `errors` handler:
error events propagate from the Dispatcher down, and its catch-all handler
(handlers/errors.py) would answer first with a generic apology.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.orders import OrderError


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
                await event.answer(str(exc))
            return None


def reply_to_order_errors(router: Router) -> Router:
    router.message.middleware(OrderErrorReply())
    router.callback_query.middleware(OrderErrorReply())
    return router
