"""Pre-orders on a fixed clock: at 21:00, with the kitchen closed, a customer orders for tomorrow 08:15.

The shipped cafe.yaml (Mon-Wed 07:30-18:00, last orders 17:30; closed 25-26 Dec for Christmas):
checkout offers slots at the next openings as buttons and takes a day in words ("8:15 tomorrow",
"morgen 8:15"); the pickup is stored with its day and the staff card and the customer's pages show
that day. A closure date offers no slots and a typed time on it is refused with the reason.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import DATA_DIR
from bot.i18n import Catalogues, use_locale
from bot.knowledge.loader import load_cafe
from bot.orders import OrderError
from bot.orders.pickup import PickupRules, describe, pickup_moment, preorder_slots, validate_pickup
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import order_settings, press

CAFE, _ = load_cafe(DATA_DIR / "cafe.yaml")
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_NIGHT = datetime(2026, 11, 30, 21, 0, tzinfo=BERLIN)  # closed since 18:00; Tuesday 07:30-18:00
CHRISTMAS_EVE_NIGHT = datetime(2026, 12, 24, 21, 0, tzinfo=BERLIN)  # 25-26 Dec closed (Christmas holidays)


def shipped_cafe(tmp_path: Path) -> Path:
    path = tmp_path / "shipped-cafe.yaml"  # not cafe.yaml: order_settings writes that one
    shutil.copy(DATA_DIR / "cafe.yaml", path)
    return path


async def _latest(telegram: FakeTelegram, chat_id: int, contains: str) -> SentMessage:
    return await telegram.wait_for(
        lambda: next((m for m in reversed(telegram.sent_to(chat_id)) if contains.lower() in m.text.lower()), None))


async def _reply(telegram: FakeTelegram, text: str) -> SentMessage:
    """Send `text` as the customer and return the bot's next message to them."""
    before = len(telegram.sent_to(CUSTOMER_ID))
    telegram.send_text(CUSTOMER_ID, text)
    return (await telegram.wait_for_messages(CUSTOMER_ID, 1, after=before))[0]


async def _until(telegram: FakeTelegram, message: SentMessage, contains: str) -> None:
    await telegram.wait_for(lambda: contains in message.text)


@pytest.mark.parametrize("typed", ["tomorrow 8:15", "8:15 tomorrow", "Tuesday 8:15", "tue 08:15", "morgen 8:15",
                                   "morgen um 8:15 Uhr", "tomorrow at 8.15", "Dienstag 8:15", "2026-12-01 08:15"])
def test_a_day_in_words_is_a_pickup_on_that_day(typed: str) -> None:
    assert validate_pickup(typed, CAFE, MONDAY_NIGHT) == "2026-12-01 08:15"


def test_today_stays_a_bare_time_and_later_days_are_checked_against_their_hours() -> None:
    noon = datetime(2026, 11, 30, 10, 0, tzinfo=BERLIN)
    assert validate_pickup("12:30", CAFE, noon) == "12:30"  # as before pre-orders
    assert validate_pickup("today 12:30", CAFE, noon) == "12:30"
    with pytest.raises(OrderError, match=r"kitchen has closed for today .* “tomorrow 8:15”"):
        validate_pickup("8:15", CAFE, MONDAY_NIGHT)  # a bare time is today's, and says how to order ahead
    with pytest.raises(OrderError, match=r"On Tue, Dec 1 we take pickups from 07:30 until 17:30"):
        validate_pickup("tomorrow 7:00", CAFE, MONDAY_NIGHT)
    with pytest.raises(OrderError, match="at most 2 days ahead"):
        validate_pickup("Thursday 8:00", CAFE, MONDAY_NIGHT)
    assert validate_pickup("Thursday 8:00", CAFE, MONDAY_NIGHT, PickupRules(days_ahead=3)) == "2026-12-03 08:00"
    with pytest.raises(OrderError, match="only take orders for today"):
        validate_pickup("tomorrow 8:15", CAFE, MONDAY_NIGHT, PickupRules(days_ahead=0))
    with pytest.raises(OrderError, match="add a time"):
        validate_pickup("tomorrow", CAFE, MONDAY_NIGHT)


def test_slots_start_at_each_opening_in_steps_and_skip_closures() -> None:
    assert preorder_slots(CAFE, MONDAY_NIGHT) == [
        (date(2026, 12, 1), ["07:30", "07:45", "08:00", "08:15"]),
        (date(2026, 12, 2), ["07:30", "07:45", "08:00", "08:15"]),
    ]
    assert preorder_slots(CAFE, MONDAY_NIGHT, PickupRules(days_ahead=1, slot_minutes=20), per_day=2) == [
        (date(2026, 12, 1), ["07:40", "08:00"])]
    assert preorder_slots(CAFE, CHRISTMAS_EVE_NIGHT) == []  # 25 and 26 Dec are closed
    assert [d for d, _times in preorder_slots(CAFE, CHRISTMAS_EVE_NIGHT, PickupRules(days_ahead=3))] == [
        date(2026, 12, 27)]
    with pytest.raises(OrderError, match=r"closed on Fri, Dec 25 \(Christmas holidays\)"):
        validate_pickup("tomorrow 10:00", CAFE, CHRISTMAS_EVE_NIGHT)
    with use_locale(Catalogues(), "de"), pytest.raises(OrderError, match=r"\(Weihnachtsfeiertage\)"):
        validate_pickup("tomorrow 10:00", CAFE, CHRISTMAS_EVE_NIGHT)  # the reason as cafe.yaml translates it


def test_the_pickup_day_reads_relative_and_localised() -> None:
    monday = date(2026, 11, 30)
    assert describe("2026-12-01 08:15", monday) == "tomorrow, Tue, Dec 1, 08:15"
    assert describe("2026-12-02 08:15", monday) == "on Wed, Dec 2, 08:15"
    assert describe("2026-12-01 08:15", date(2026, 12, 1)) == "today, Tue, Dec 1, 08:15"
    assert describe("12:30", monday) == "at 12:30"  # an order stored before pre-orders reads as it did
    assert pickup_moment("12:30", monday) == (monday, "12:30")
    assert pickup_moment("2026-12-01 08:15", monday) == (date(2026, 12, 1), "08:15")
    with use_locale(Catalogues(), "de"):
        assert describe("2026-12-01 08:15", monday) == "morgen, Di., 1. Dez., 08:15"
        assert describe("2026-12-02 08:15", monday) == "am Mi., 2. Dez., 08:15"


async def test_at_21_00_an_order_for_tomorrow_08_15_by_button_and_in_words_reaches_staff_with_the_day(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = order_settings(tmp_path, telegram.url, cafe_path=shipped_cafe(tmp_path),
                              clock_frozen_at=MONDAY_NIGHT.isoformat())
    async with running_app(settings) as app:
        orders = app.services.orders
        # By button: the slots of the next openings, no "as soon as possible".
        await orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        telegram.send_text(CUSTOMER_ID, "/cart")
        page = await _latest(telegram, CUSTOMER_ID, "Your cart")
        await press(telegram, CUSTOMER_ID, page, "Checkout")
        await _until(telegram, page, "When will you pick it up")
        labels = [b["text"] for b in page.buttons()]
        assert "Or order ahead for Tue, Dec 1, Wed, Dec 2" in page.text
        assert not any("As soon as possible" in label for label in labels)
        assert labels[:5] == ["Tue 07:30", "Tue 07:45", "Tue 08:00", "Tue 08:15", "Wed 07:30"]
        await press(telegram, CUSTOMER_ID, page, "Tue 08:15")
        await _until(telegram, page, "🕒 Pickup tomorrow, Tue, Dec 1, 08:15.")
        await press(telegram, CUSTOMER_ID, page, "Skip")
        await _until(telegram, page, "Please check your order")
        assert "🕒 Pickup tomorrow, Tue, Dec 1, 08:15" in page.text
        await press(telegram, CUSTOMER_ID, page, "Confirm order")
        await _until(telegram, page, "placed")
        assert "Order #001 placed" in page.text and "pickup tomorrow, Tue, Dec 1, 08:15" in page.text
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        assert "🕒 Pickup tomorrow, Tue, Dec 1, 08:15" in card.text

        # In words, the day after the time.
        await orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        telegram.send_text(CUSTOMER_ID, "/cart")
        page = await _latest(telegram, CUSTOMER_ID, "Your cart")
        await press(telegram, CUSTOMER_ID, page, "Checkout")
        await _until(telegram, page, "When will you pick it up")
        refused = await _reply(telegram, "Saturday 9:30")  # beyond PREORDER_DAYS: refused, still asking
        assert "at most 2 days ahead" in refused.text
        assert "🕒 Pickup tomorrow, Tue, Dec 1, 08:15." in (await _reply(telegram, "8:15 tomorrow")).text
        summary = await _reply(telegram, "Oat milk please")
        assert "Please check your order" in summary.text
        assert "🕒 Pickup tomorrow, Tue, Dec 1, 08:15" in summary.text
        await press(telegram, CUSTOMER_ID, summary, "Confirm order")
        card = await _latest(telegram, STAFF_CHAT, "Order #002")
        assert "🕒 Pickup tomorrow, Tue, Dec 1, 08:15" in card.text and "Oat milk please" in card.text
        stored = [o.pickup for o in await orders.open_orders()]
    assert sorted(stored) == ["2026-12-01 08:15", "2026-12-01 08:15"]


async def test_a_closure_date_offers_no_slots_and_refuses_a_typed_one_with_the_reason(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = order_settings(tmp_path, telegram.url, cafe_path=shipped_cafe(tmp_path),
                              clock_frozen_at=CHRISTMAS_EVE_NIGHT.isoformat(), preorder_days=3)
    async with running_app(settings) as app:
        await app.services.orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        telegram.send_text(CUSTOMER_ID, "/cart")
        page = await _latest(telegram, CUSTOMER_ID, "Your cart")
        await press(telegram, CUSTOMER_ID, page, "Checkout")
        await _until(telegram, page, "When will you pick it up")
        labels = [b["text"] for b in page.buttons()]
        assert not any(label.startswith(("Fri", "Sat")) for label in labels)  # 25 and 26 Dec: closed
        assert [label for label in labels if label.startswith("Sun")] == [
            "Sun 09:00", "Sun 09:15", "Sun 09:30", "Sun 09:45"]
        refusal = await _reply(telegram, "tomorrow 10:00")
        assert "Sorry, we're closed on Fri, Dec 25 (Christmas holidays)." in refusal.text
