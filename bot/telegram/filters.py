"""Reusable aiogram filters; settings arrive by dependency injection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.filters import BaseFilter
from aiogram.types import CallbackQuery, Message

from bot.config import Settings


class IsAdmin(BaseFilter):
    """Passes only for users listed in ADMIN_IDS."""

    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        user = event.from_user
        return user is not None and user.id in settings.admin_ids


class IsNotAdmin(BaseFilter):
    """The complement of IsAdmin, for the short refusal non-admins get."""

    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        user = event.from_user
        return user is None or user.id not in settings.admin_ids


def filters_on_the_loop(root: Router) -> int:
    """Make every plain-function filter under `root` (`F.text`, `F.chat.type == ...`) run on the event loop.

    aiogram runs a filter that is not a coroutine function with `asyncio.to_thread`: each `F...` magic filter
    is a trip to the default thread pool and back, six for a customer's question (bench/rush.py: 540 trips
    in 90 turns), each a hand-over of the GIL and a wake-up of the loop, slow when the cores are busy. They
    are attribute reads that never block, so they are wrapped in a coroutine function that calls them in
    place. Call it once the routers are included; returns how many were wrapped.
    """
    wrapped = 0
    for router in root.chain_tail:
        for observer in router.observers.values():
            objects = [observer._handler, *observer.handlers]  # the root filters live on `_handler`
            for handler in objects:
                for item in handler.filters or ():
                    if not item.awaitable:
                        _on_the_loop(item)
                        wrapped += 1
    return wrapped


def _on_the_loop(item: FilterObject) -> None:
    plain: Callable[..., Any] = item.callback

    async def check(*args: Any, **kwargs: Any) -> Any:
        return plain(*args, **kwargs)

    item.callback = check  # `params` and `varkw` keep the plain function's: the same arguments are passed
    item.awaitable = True
