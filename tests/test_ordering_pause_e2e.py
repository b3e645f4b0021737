"""/pause and /resume from the staff group, end to end: checkout refuses while paused, across a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.orders import OrderError
from bot.orders.pause import PAUSE_KEY, parse_pause
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import OUTSIDER, answer_after, order_settings, press

NOON = "2026-06-03T12:00:00+02:00"  # a Wednesday, on the frozen calendar clock


async def _latest(telegram: FakeTelegram, chat_id: int, contains: str, after: int = 0) -> SentMessage:
    return await telegram.wait_for(lambda: next(
        (m for m in reversed(telegram.sent_to(chat_id)[after:]) if contains.lower() in m.text.lower()), None))


async def _checkout(telegram: FakeTelegram) -> dict:
    """/cart → Checkout; the press's answer (an alert when refused)."""
    before = len(telegram.sent_to(CUSTOMER_ID))
    telegram.send_text(CUSTOMER_ID, "/cart")
    page = await _latest(telegram, CUSTOMER_ID, "Your cart", after=before)
    index = await press(telegram, CUSTOMER_ID, page, "Checkout")
    return {"page": page, "answer": await answer_after(telegram, index)}


def test_pause_arguments() -> None:
    assert parse_pause("") == (None, "")
    assert parse_pause("20 kitchen rush") == (20, "kitchen rush")
    assert parse_pause("20min rush") == (20, "rush")
    assert parse_pause("15 min") == (15, "")
    assert parse_pause("machine broken") == (None, "machine broken")
    with pytest.raises(OrderError, match="from 1 to 1440 minutes"):
        parse_pause("0 nothing")


async def test_pause_refuses_checkout_until_resume_and_holds_across_a_restart(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    settings = order_settings(tmp_path, telegram.url, clock_frozen_at=NOON)
    async with running_app(settings) as app:
        await app.services.orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        telegram.send_text(OUTSIDER, "/pause", chat_id=STAFF_CHAT)  # not staff: refused, nothing paused
        await _latest(telegram, STAFF_CHAT, "Only cafe staff can use this command")
        assert await app.services.orders.pause.current() is None

        telegram.send_text(STAFF_MEMBER, "/pause 0 oops", chat_id=STAFF_CHAT)
        await _latest(telegram, STAFF_CHAT, "A pause lasts from 1 to 1440 minutes")
        assert await app.services.orders.pause.current() is None
        telegram.send_text(STAFF_MEMBER, "/pause 30 kitchen rush", chat_id=STAFF_CHAT)
        confirmation = await _latest(telegram, STAFF_CHAT, "paused")
        refused = await _checkout(telegram)
        with pytest.raises(OrderError, match="paused new orders until 12:30"):  # the agent's place_order too
            await app.services.orders.place_order(CUSTOMER_ID, CUSTOMER_ID, pickup="asap")
    assert confirmation.text.startswith("⏸ New orders are paused until 12:30 (kitchen rush).")
    assert refused["answer"]["show_alert"]
    assert refused["answer"]["text"] == ("Sorry, we've paused new orders until 12:30 (kitchen rush). "
                                         "Please order again then.")
    assert "When will you pick it up" not in refused["page"].text

    async with running_app(settings) as app:  # the same database: the pause is still in force
        again = await _checkout(telegram)
        assert "paused new orders until 12:30" in again["answer"]["text"]
        telegram.send_text(STAFF_MEMBER, "/resume", chat_id=STAFF_CHAT)
        await _latest(telegram, STAFF_CHAT, "Ordering is open again")
        reopened = await _checkout(telegram)
        await telegram.wait_for(lambda: "When will you pick it up" in reopened["page"].text)
    assert not reopened["answer"].get("show_alert")


async def test_a_timed_pause_ends_by_itself_and_an_untimed_one_says_why(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(order_settings(tmp_path, telegram.url, clock_frozen_at=NOON)) as app:
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        await orders.pause.pause(None, "espresso machine broken", STAFF_MEMBER, "Sam")
        with pytest.raises(OrderError, match=r"paused new orders for a moment \(espresso machine broken\)"):
            await orders.start_checkout(CUSTOMER_ID, CUSTOMER_ID)
        # A pause that ended a second ago (as another process wrote it) no longer holds.
        await app.services.runtime_settings.set(PAUSE_KEY, json.dumps({"reason": "rush", "until": time.time() - 1}))
        assert await orders.pause.current() is None
        checkout, _cart = await orders.start_checkout(CUSTOMER_ID, CUSTOMER_ID)
    assert checkout.step == "pickup"


async def test_a_summary_shown_before_the_pause_cannot_be_confirmed_during_it(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_app(order_settings(tmp_path, telegram.url, clock_frozen_at=NOON)) as app:
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        summary = await orders.place_order(CUSTOMER_ID, CUSTOMER_ID, pickup="asap")
        await orders.pause.pause(10, "", STAFF_MEMBER, "Sam")
        with pytest.raises(OrderError, match="paused new orders until 12:10"):
            await orders.confirm(CUSTOMER_ID, summary.token)
        await orders.pause.resume()
        order, created = await orders.confirm(CUSTOMER_ID, summary.token)
        again, created_again = await orders.confirm(CUSTOMER_ID, summary.token)
    assert created and not created_again and again.id == order.id
