"""Helpers for the ordering tests: a staff group, a cafe that is always open, pressing buttons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import ROOT, make_settings

STAFF_CHAT = -1001234567890
STAFF_MEMBER = 5005
OUTSIDER = 6006


def always_open_cafe(tmp_path: Path) -> Path:
    """The shipped cafe.yaml, open around the clock, so checkout works whenever the tests run."""
    cafe = yaml.safe_load((ROOT / "data" / "cafe.yaml").read_text(encoding="utf-8"))
    cafe["hours"] = {day: "00:00-24:00" for day in cafe["hours"]}
    cafe["kitchen_closes_before_minutes"] = 0
    path = tmp_path / "cafe.yaml"
    path.write_text(yaml.safe_dump(cafe, allow_unicode=True), encoding="utf-8")
    return path


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
