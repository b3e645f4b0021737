"""The "typing…" indicator (bot/telegram/chat_action.py): nothing for a quick answer, repeated for a slow one,
quiet when Telegram refuses it, and a call under way is let finish."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from aiogram import Bot

from bot.telegram.chat_action import QuietChatActionSender


class FakeBot:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.finished = 0
        self.fail = fail
        self.gate: asyncio.Event | None = None

    async def send_chat_action(self, **params: Any) -> bool:
        self.calls.append(params)
        if self.fail:
            raise RuntimeError("Telegram said no")
        if self.gate is not None:
            await self.gate.wait()
        self.finished += 1
        return True


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def sender(bot: FakeBot, **kwargs: Any) -> QuietChatActionSender:
    return QuietChatActionSender.typing(bot=cast(Bot, bot), chat_id=7, **kwargs)


async def test_an_answer_ready_before_the_delay_shows_nothing() -> None:
    bot = FakeBot()
    action = sender(bot, initial_sleep=60)
    async with action:
        pass
    assert bot.calls == [] and action._task is None


async def test_a_slow_answer_repeats_the_action() -> None:
    bot = FakeBot()
    async with sender(bot, interval=0.01):
        await until(lambda: len(bot.calls) >= 3)
    count = len(bot.calls)
    await asyncio.sleep(0.05)
    assert len(bot.calls) == count  # stopped with the block
    assert bot.calls[0] == {"chat_id": 7, "action": "typing", "message_thread_id": None}


async def test_a_refused_action_ends_the_indicator_quietly() -> None:
    bot = FakeBot(fail=True)
    async with sender(bot, interval=0.01) as action:
        await until(lambda: bot.calls and action._task is not None and action._task.done())
    assert len(bot.calls) == 1


async def test_a_call_under_way_is_let_finish() -> None:
    bot = FakeBot()
    bot.gate = asyncio.Event()
    action = sender(bot)
    await action.__aenter__()
    await until(lambda: bot.calls)
    leaving = asyncio.create_task(action.__aexit__(None, None, None))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not leaving.done()  # waits for the call, does not cancel it
    bot.gate.set()
    await leaving
    assert bot.finished == 1 and len(bot.calls) == 1
