"""Routing a customer's question costs little: the bot's `F...` filters run on the event loop, not in aiogram's
thread pool (bot/telegram/filters.py), and routers of commands sit behind gates (handlers/__init__.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Dispatcher, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import Command
from aiogram.types import Chat, Message

from bot.telegram.filters import filters_on_the_loop
from handlers import all_routers, commands_only


def _message(text: str, chat_type: str = "private") -> Message:
    return Message(message_id=1, date=datetime.now(UTC), chat=Chat(id=7, type=chat_type), text=text)


def test_every_filter_of_the_bot_is_awaited_on_the_loop() -> None:
    dp = Dispatcher()
    dp.include_routers(*all_routers())
    assert filters_on_the_loop(dp) > 0
    assert filters_on_the_loop(dp) == 0  # nothing left to wrap
    for router in dp.chain_tail:
        for observer in router.observers.values():
            for handler in [observer._handler, *observer.handlers]:
                assert all(item.awaitable for item in handler.filters or ())


async def test_wrapped_filters_decide_as_before_without_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a filter went to the thread pool")

    root = Router()
    root.message.filter(F.chat.type == "private")
    seen: list[str] = []

    async def on_hi(message: Message) -> None:
        seen.append(message.text or "")

    root.message.register(on_hi, F.text.startswith("hi"))
    filters_on_the_loop(root)
    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    observer = root.message
    [handler] = observer.handlers
    for message, passes_root, passes in ((_message("hi there"), True, True), (_message("bye"), True, False),
                                         (_message("hi", "group"), False, True)):
        assert (await observer.check_root_filters(message))[0] is passes_root
        assert (await handler.check(message))[0] is passes
    assert await root.propagate_event("message", _message("hi you")) is None
    assert seen == ["hi you"]


def test_command_routers_behind_gates_keep_their_order() -> None:
    dp = Dispatcher()
    dp.include_routers(*all_routers())
    names = [r.name for r in dp.chain_tail if not r.name.startswith("commands.")][1:]
    assert names == ["handlers.start", "handlers.language", "handlers.admin_knowledge", "handlers.admin_cache",
                     "handlers.admin_cache.admin", "handlers.admin_cache.refusal", "handlers.orders.menu",
                     "handlers.orders.payments", "handlers.orders.cart", "handlers.orders.staff", "handlers.voice",
                     "handlers.dialog", "handlers.admin_limits", "handlers.chat", "handlers.unsupported"]


def test_a_gate_admits_only_routers_of_commands() -> None:
    router = Router(name="mixed")
    router.message.register(_noop, Command("help"))
    router.message.register(_noop, F.text)
    with pytest.raises(ValueError, match="needs a Command"):
        commands_only("gate", router)


async def test_a_gate_passes_commands_and_skips_its_routers_for_anything_else() -> None:
    seen: list[str] = []

    async def on_help(message: Message) -> None:
        seen.append(message.text or message.caption or "")

    inner = Router(name="inner")
    inner.message.register(on_help, Command("help"))
    gate = commands_only("gate", inner)
    assert await gate.propagate_event("message", _message("help me"), bot=None) is UNHANDLED
    assert await gate.propagate_event("message", _message("/help"), bot=None) is None
    caption = Message(message_id=2, date=datetime.now(UTC), chat=Chat(id=7, type="private"), caption="/help")
    assert await gate.propagate_event("message", caption, bot=None) is None
    assert seen == ["/help", "/help"]


async def _noop(message: Message) -> None:
    return None
