"""Helpers for the ordering tests: order settings, an outsider, pressing buttons (the staff group is in testkit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config import Settings
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT, always_open_cafe
from testkit.settings import make_settings

OUTSIDER = 6006


def order_settings(tmp_path: Path, telegram_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"staff_chat_id": STAFF_CHAT, "cafe_path": always_open_cafe(tmp_path)}
    values.update(overrides)
    return make_settings(tmp_path, telegram_url, **values)


async def press(telegram: FakeTelegram, user_id: int, message: SentMessage, button: str) -> int:
    """Press the button whose text contains `button`; returns the number of callback answers before it."""
    answered = len(telegram.callback_answers)
    telegram.send_callback(user_id, message.button(button)["callback_data"], message)
    await telegram.wait_for(lambda: len(telegram.callback_answers) > answered)
    return answered


async def answer_after(telegram: FakeTelegram, index: int) -> dict[str, Any]:
    return await telegram.wait_for(lambda: telegram.callback_answers[index]
                                   if len(telegram.callback_answers) > index else None)
