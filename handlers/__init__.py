"""aiogram routers, one per feature; `all_routers()` is the one place they are collected.

Each feature's Telegram-specific code (callback data, keyboards, filters, views) sits next to its
routers (handlers/orders/); the middlewares are in bot/telegram/middlewares.py.

Each feature module exposes `create_router()`: a fresh Router per Dispatcher, so
several application instances (tests, a second bot process) never share one.
"""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message


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

    # Order matters: command routers before the catch-all chat router. Runs of routers whose messages are all
    # commands sit behind one gate each (`commands_only`), in the same order.
    return [
        commands_only("commands.first", start.create_router(), language.create_router(),
                      admin_knowledge.create_router(), admin_cache.create_router(), menu.create_router()),
        payments.create_router(),  # before cart: a payment message must never be read as a checkout answer
        cart.create_router(),  # before voice/chat: its checkout answers are plain text
        commands_only("commands.staff", staff.create_router()),
        voice.create_router(),
        commands_only("commands.last", dialog.create_router(), admin_limits.create_router()),
        chat.create_router(),  # catch-all for text
        unsupported.create_router(),  # what nothing else took: keep last
    ]


def commands_only(name: str, *routers: Router) -> Router:
    """`routers` behind one router that lets through only messages that look like a command.

    Every message handler in them needs a `Command` (prefix "/"), so a message whose text (or caption) does not
    start with "/" can match none of them: one check skips them all instead of each router's middlewares and a
    Command filter per handler (a customer's question went through 15 routers and 22 handlers' filters, now 8 and 8;
    bench/rush.py).
    Other updates (buttons, payments) pass the gate unchecked. Raises if a message handler has no Command.
    """
    for router in routers:
        for each in router.chain_tail:
            for handler in each.message.handlers:
                if not any(isinstance(f.callback, Command) and f.callback.prefix == "/" for f in handler.filters or ()):
                    raise ValueError(f"{each.name}: message handler {handler.callback.__name__} needs a Command")
    gate = Router(name=name)
    gate.message.filter(_looks_like_command)
    gate.include_routers(*routers)
    return gate


async def _looks_like_command(message: Message) -> bool:
    """What every Command filter requires first (aiogram reads the text, else the caption)."""
    text = message.text or message.caption or ""
    return text.startswith("/")
