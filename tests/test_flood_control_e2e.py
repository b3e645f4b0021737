"""Telegram's flood control (429 retry_after) on the bot's replies: waited out, never a lost reply."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from handlers.errors import SORRY
from testkit.fakes.telegram import FakeTelegram
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import order_settings, press


async def test_a_429_on_a_command_reply_and_on_a_button_page_is_waited_out(
    telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.telegram")
    async with running_app(order_settings(tmp_path, telegram.url)):
        telegram.fail("sendMessage", status=429, retry_after=1, chat_id=CUSTOMER_ID)
        telegram.send_text(CUSTOMER_ID, "/menu")
        [page] = await telegram.wait_for_messages(CUSTOMER_ID)
        telegram.fail("editMessageText", status=429, retry_after=1, chat_id=CUSTOMER_ID)
        await press(telegram, CUSTOMER_ID, page, "Coffee")
    assert "Pick a category" in page.history[0]
    assert "Cappuccino" in page.text  # the category page, shown after the wait
    sends = [t for t, (m, p) in zip(telegram.request_times, telegram.requests, strict=True)
             if m == "sendMessage" and p.get("chat_id") == CUSTOMER_ID]
    assert len(sends) == 2 and sends[1] - sends[0] >= 1.0  # refused, then sent when Telegram allowed
    assert len(telegram.calls("editMessageText")) == 2
    assert caplog.text.count("Telegram flood control") == 2


async def test_a_flood_wait_too_long_for_a_reply_is_not_waited(telegram: FakeTelegram, tmp_path: Path) -> None:
    """Over 30 s the customer is better served by the error path at once than by a reply minutes late."""
    async with running_app(order_settings(tmp_path, telegram.url)):
        telegram.fail("sendMessage", status=429, retry_after=120, chat_id=CUSTOMER_ID)
        telegram.send_text(CUSTOMER_ID, "/menu")
        [sorry] = await telegram.wait_for_messages(CUSTOMER_ID)
    assert sorry.text == SORRY
    assert len([c for c in telegram.calls("sendMessage") if "Pick a category" in c.get("text", "")]) == 1
