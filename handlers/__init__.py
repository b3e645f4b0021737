"""aiogram routers, one per feature; `all_routers()` is the one place they are collected.

Each feature's Telegram-specific code (callback data, keyboards, filters, views) sits next to its
routers (handlers/orders/); the middlewares are in bot/telegram/middlewares.py.

Each feature module exposes `create_router()`: a fresh Router per Dispatcher, so
several application instances (tests, a second bot process) never share one.
"""

from __future__ import annotations

from aiogram import Router


def all_routers() -> list[Router]:
    from handlers import (
        admin_cache,
        admin_knowledge,
        admin_limits,
        chat,
        dialog,
        language,
        start,
        unsupported,
        voice,
    )
    from handlers.orders import cart, menu, payments, staff

    # Order matters: command routers before the catch-all chat router.
    return [
        start.create_router(),
        language.create_router(),
        admin_knowledge.create_router(),
        admin_cache.create_router(),
        menu.create_router(),
        payments.create_router(),  # before cart: a payment message must never be read as a checkout answer
        cart.create_router(),  # before voice/chat: its checkout answers are plain text
        staff.create_router(),
        voice.create_router(),
        dialog.create_router(),
        admin_limits.create_router(),
        chat.create_router(),  # catch-all for text
        unsupported.create_router(),  # what nothing else took: keep last
    ]
