"""Pre-orders announced to staff again shortly before their pickup, on a calendar clock the test moves.

Monday 30 Nov 2026, 21:00 in Berlin, the shipped cafe.yaml (Tuesday 07:30-18:00): an order for
tomorrow 08:15 reaches the staff group at once with its day, and again PREORDER_REMIND_MINUTES (30)
before its pickup, at 07:45 by the application's injected calendar clock, which the test moves
forward (the outbox worker looks again within its 2 s poll; the test waits with a deadline). The
reminder is written with the order, so it survives a restart and is sent once by whichever of two
replicas claims it; a pre-order cancelled or finished before then is not re-announced; and while
it waits it holds up nothing else in the staff chat.

"Nothing was sent" is asserted once a later message to the same chat has arrived: the worker has
gone through that chat's queue since, and a reminder at its head would have gone first.
"""

from __future__ import annotations

import shutil
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import Application
from bot.clock import FrozenClock
from bot.config import DATA_DIR
from bot.knowledge.loader import load_cafe
from bot.orders import ORDER_REMINDER, Order, OrderService, OrderStatus
from bot.orders.pickup import cafe_zone, preorder_at
from bot.services import Seams
from storage.db import Database
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from testkit.settings import ADMIN_ID
from tests.helpers import CUSTOMER_ID, poll_until, running_app
from tests.ordering import order_settings

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_NIGHT = datetime(2026, 11, 30, 21, 0, tzinfo=BERLIN)  # closed since 18:00; Tuesday 07:30-18:00
REMIND_AT = datetime(2026, 12, 1, 7, 45, tzinfo=BERLIN)  # 08:15 less PREORDER_REMIND_MINUTES (30)
OTHER, THIRD = CUSTOMER_ID + 1, CUSTOMER_ID + 2
CAFE, _ = load_cafe(DATA_DIR / "cafe.yaml")


def shipped_cafe(tmp_path: Path) -> Path:
    path = tmp_path / "shipped-cafe.yaml"  # not cafe.yaml: order_settings writes that one
    shutil.copy(DATA_DIR / "cafe.yaml", path)
    return path


async def _preorder(orders: OrderService, user_id: int = CUSTOMER_ID, when: str = "tomorrow 8:15") -> Order:
    await orders.add_to_cart(user_id, "flat-white", None, 1)
    checkout, _ = await orders.start_checkout(user_id, user_id)
    await orders.set_pickup(user_id, checkout.token, when)
    await orders.set_note(user_id, checkout.token, "")
    order, _ = await orders.confirm(user_id, checkout.token)
    return order


def _reminders(*telegrams: FakeTelegram) -> list[SentMessage]:
    return [m for tg in telegrams for m in tg.sent_to(STAFF_CHAT) if "Reminder" in m.text]


async def _through_the_staff_chat(app: Application, text: str, *telegrams: FakeTelegram) -> None:
    """A plain message to the staff chat, delivered (by any replica): the chat's queue was gone through since."""
    await app.services.outbox.send_message(STAFF_CHAT, text)

    async def delivered() -> bool:
        return any(text in tg.texts_to(STAFF_CHAT) for tg in telegrams)

    await poll_until(delivered)


async def _reminder_row(db: Database, order_id: int) -> tuple[int, str]:
    row = await db.fetchone("SELECT id, status FROM outbox WHERE order_id = ? AND kind = ?",
                            (order_id, ORDER_REMINDER))
    assert row is not None, f"no reminder row for order {order_id}"
    return int(row["id"]), str(row["status"])


def test_a_preorder_pickup_is_its_true_instant_across_a_dst_change() -> None:
    assert preorder_at("asap", CAFE) is None and preorder_at("12:30", CAFE) is None  # today's: not pre-orders
    tuesday = preorder_at("2026-12-01 08:15", CAFE)
    assert tuesday is not None and tuesday.timestamp() == REMIND_AT.timestamp() + 30 * 60
    # 29 Mar 2026: Berlin's clocks jump from 02:00 to 03:00; 30 minutes before 03:15 is 01:45 local.
    spring = preorder_at("2026-03-29 03:15", CAFE)
    assert spring is not None
    assert datetime.fromtimestamp(spring.timestamp() - 30 * 60, BERLIN).strftime("%H:%M") == "01:45"
    # 25 Oct 2026: back from 03:00 to 02:00; 08:15 that day is UTC+1.
    autumn = preorder_at("2026-10-25 08:15", CAFE)
    assert autumn is not None and autumn.utcoffset() == timedelta(hours=1)


async def test_a_preorder_at_21_00_for_tomorrow_08_15_reaches_staff_with_its_day_and_again_before_its_slot(
    tmp_path: Path
) -> None:
    clock = FrozenClock(MONDAY_NIGHT)  # the application's calendar clock: the test moves it
    seams = Seams(clock=clock)
    async with FakeTelegram() as telegram:
        settings = order_settings(tmp_path, telegram.url, cafe_path=shipped_cafe(tmp_path))
        async with running_app(settings, seams) as app:
            order = await _preorder(app.services.orders)
            card = await telegram.wait_for_text(STAFF_CHAT, "Order #001")
            assert "🕒 Pickup tomorrow, Tue, Dec 1, 08:15" in card.text
            await _through_the_staff_chat(app, "nine pm", telegram)
            assert _reminders(telegram) == []
            clock.at = REMIND_AT - timedelta(minutes=1)
            await _through_the_staff_chat(app, "a minute early", telegram)
            assert _reminders(telegram) == []
            stats = await app.services.outbox.stats()
            assert stats.scheduled == 1 and stats.pending == 0  # waiting for its moment is no backlog
            row_id, status = await _reminder_row(app.db, order.id)
            assert status == "pending"

    # Restarted as two replicas on the same database; then the clock reaches 07:45.
    async with AsyncExitStack() as stack:
        tg_a = await stack.enter_async_context(FakeTelegram())
        tg_b = await stack.enter_async_context(FakeTelegram())
        a = await stack.enter_async_context(
            running_app(order_settings(tmp_path, tg_a.url, cafe_path=shipped_cafe(tmp_path)), seams))
        b = await stack.enter_async_context(
            running_app(order_settings(tmp_path, tg_b.url, cafe_path=shipped_cafe(tmp_path)), seams))
        clock.at = REMIND_AT

        async def sent() -> list[SentMessage]:
            return _reminders(tg_a, tg_b)

        [reminder] = await poll_until(sent, timeout=15)
        row = await a.services.outbox.wait_final(row_id, timeout=10)
        await _through_the_staff_chat(a, "after the reminder, a", tg_a, tg_b)
        await _through_the_staff_chat(b, "after the reminder, b", tg_a, tg_b)
        assert len(_reminders(tg_a, tg_b)) == 1  # sent once, by one replica
    assert row is not None and row.status == "delivered" and row.attempts == 1
    assert "⏰ Reminder: pre-order #001, pickup today, Tue, Dec 1, 08:15" in reminder.text
    assert "1 × Flat White" in reminder.text and "Status now: new" in reminder.text


async def test_a_preorder_cancelled_or_picked_up_before_its_slot_is_not_announced_again(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    clock = FrozenClock(MONDAY_NIGHT)
    settings = order_settings(tmp_path, telegram.url, cafe_path=shipped_cafe(tmp_path))
    async with running_app(settings, Seams(clock=clock)) as app:
        orders = app.services.orders
        cancelled, finished, kept = (await _preorder(orders, CUSTOMER_ID), await _preorder(orders, OTHER),
                                     await _preorder(orders, THIRD))
        await orders.cancel_by_customer(CUSTOMER_ID, cancelled.id, "Ann")
        for status in (OrderStatus.ACCEPTED, OrderStatus.PREPARING, OrderStatus.READY, OrderStatus.COMPLETED):
            await orders.transition(finished.id, status, ADMIN_ID, "Staff")
        await orders.transition(kept.id, OrderStatus.ACCEPTED, ADMIN_ID, "Staff")
        assert (await _reminder_row(app.db, cancelled.id))[1] == "skipped"
        assert (await _reminder_row(app.db, finished.id))[1] == "skipped"
        clock.at = REMIND_AT
        [reminder] = await telegram.wait_for(lambda: _reminders(telegram), timeout=15)
        await _through_the_staff_chat(app, "after the reminders", telegram)
        reminders = [m.text.split("\n")[0] for m in _reminders(telegram)]
    assert f"pre-order {kept.number}" in reminder.text and "Status now: accepted" in reminder.text
    assert reminders == [f"⏰ Reminder: pre-order {kept.number}, pickup today, Tue, Dec 1, 08:15"]


async def test_a_reminder_waiting_for_its_moment_holds_up_nothing_in_the_staff_chat(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    clock = FrozenClock(MONDAY_NIGHT)
    settings = order_settings(tmp_path, telegram.url, cafe_path=shipped_cafe(tmp_path))
    async with running_app(settings, Seams(clock=clock)) as app:
        orders = app.services.orders
        first = await _preorder(orders)  # its reminder (urgent, and the oldest row) waits for 07:45
        await telegram.wait_for_text(STAFF_CHAT, f"Order {first.number}")
        second = await _preorder(orders, OTHER, "Wednesday 9:00")  # a new card behind it
        await telegram.wait_for_text(STAFF_CHAT, f"Order {second.number}")
        await orders.transition(first.id, OrderStatus.ACCEPTED, ADMIN_ID, "Staff")  # an edit behind it
        await telegram.wait_for(lambda: telegram.calls("editMessageText"))
        await _through_the_staff_chat(app, "a plain message behind it", telegram)
        assert _reminders(telegram) == []
        assert (await _reminder_row(app.db, first.id))[1] == "pending"


async def test_a_preorder_reminder_is_due_exactly_its_minutes_before_the_pickup_at_any_instant(
    wall_clock: FrozenClock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    """On the always-open test cafe, whatever the instant and time zone the suite runs at."""
    async with running_app(order_settings(tmp_path, telegram.url), Seams(clock=wall_clock)) as app:
        order = await _preorder(app.services.orders, when="tomorrow 10:00")
        due_at = preorder_at(order.pickup, app.services.orders.cafe)
        assert due_at is not None and order.pickup.endswith(" 10:00")
        today = wall_clock.at.astimezone(cafe_zone(app.services.orders.cafe)).date()
        assert due_at.date() == today + timedelta(days=1)
        row_id, _status = await _reminder_row(app.db, order.id)
        card_id = await app.db.fetchval("SELECT id FROM outbox WHERE order_id = ? AND kind = 'order_card'",
                                        (order.id,))
        await app.services.outbox.wait_final(card_id, timeout=10)  # the card, ahead in the queue, is gone
        stored = await app.services.outbox.get(row_id)
        repo = app.services.outbox.repo
        at = due_at.timestamp() - 30 * 60
        early = await repo.due(50, calendar=at - 1)
        on_time = await repo.due(50, calendar=at)
    assert stored is not None and stored.not_before == at
    assert row_id not in [r.id for r in early]
    assert row_id in [r.id for r in on_time]


async def test_staff_orders_lists_the_closures_and_special_days_ahead_with_their_reasons(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    clock = FrozenClock(datetime(2026, 12, 20, 10, 0, tzinfo=BERLIN))  # four days before Christmas Eve
    settings = order_settings(tmp_path, telegram.url, cafe_path=shipped_cafe(tmp_path))
    async with running_app(settings, Seams(clock=clock)) as app:
        await _preorder(app.services.orders, when="tomorrow 8:15")
        telegram.send_text(STAFF_MEMBER, "/orders", chat_id=STAFF_CHAT)
        listing = await telegram.wait_for_text(STAFF_CHAT, "Open orders")
        clock.at = MONDAY_NIGHT  # 30 Nov: nothing special within two weeks
        telegram.send_text(STAFF_MEMBER, "/orders", chat_id=STAFF_CHAT)
        plain = await telegram.wait_for(lambda: next(
            (m for m in telegram.sent_to(STAFF_CHAT) if "Open orders" in m.text and m is not listing), None))
    assert "#001" in listing.text and "tomorrow, Mon, Dec 21, 08:15" in listing.text
    assert listing.text.endswith("Special days ahead\n"
                                 "📅 Thu, Dec 24: open 09:00–14:00 (Christmas Eve)\n"
                                 "📅 Fri, Dec 25 – Sat, Dec 26: closed, no pickups (Christmas holidays)")
    assert "Special days" not in plain.text
