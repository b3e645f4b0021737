"""The outbox against the fake Bot API: retries, flood control, permanent errors, restarts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.orders import Order, OrderService, OrderStatus
from storage.db import Database, now
from storage.outbox import OutboxRepository
from testkit.fakes.telegram import FakeTelegram
from testkit.ordering import STAFF_CHAT
from testkit.settings import ADMIN_ID
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import order_settings

OTHER, THIRD = 1002, 1003


async def _place(orders: OrderService, user_id: int = CUSTOMER_ID) -> Order:
    await orders.add_to_cart(user_id, "flat-white", None, 1)
    checkout, _ = await orders.start_checkout(user_id, user_id)
    await orders.set_pickup(user_id, checkout.token, "asap")
    await orders.set_note(user_id, checkout.token, "")
    order, _ = await orders.confirm(user_id, checkout.token)
    return order


def _plain(html: str) -> str:
    return html.replace("<b>", "").replace("</b>", "")


def _staff_sends(telegram: FakeTelegram) -> list[dict]:
    return [c for c in telegram.calls("sendMessage") if c.get("chat_id") == STAFF_CHAT]


async def test_429_then_5xx_for_the_staff_chat_is_delivered_once_the_errors_stop_exactly_once(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.fail("sendMessage", status=429, retry_after=1, chat_id=STAFF_CHAT)
    telegram.fail("sendMessage", status=502, description="Bad Gateway", chat_id=STAFF_CHAT)
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        outbox = app.services.outbox
        order = await _place(app.services.orders)
        [card] = await telegram.wait_for_messages(STAFF_CHAT, timeout=20)
        row_id = await app.db.fetchval("SELECT id FROM outbox WHERE order_id = ? AND kind = 'order_card'",
                                       (order.id,))
        row = await outbox.wait_final(row_id, timeout=10)  # recorded right after Telegram answered
        # Nothing else is queued that could send it again.
        stats = await outbox.stats()
    assert "Order #001" in card.text
    assert len(_staff_sends(telegram)) == 3  # 429, 502, then the delivery
    assert len(telegram.sent_to(STAFF_CHAT)) == 1
    assert row is not None and row.status == "delivered"
    assert row.attempts == 3 and row.message_id == card.message_id
    assert stats.pending == 0 and stats.sending == 0 and stats.failed == 0


async def test_flood_control_waits_as_long_as_telegram_asks(
    telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    telegram.fail("sendMessage", status=429, retry_after=2, chat_id=STAFF_CHAT)
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        await _place(app.services.orders)
        await telegram.wait_for_messages(STAFF_CHAT, timeout=20)
    first, second = [t for t, (m, p) in zip(telegram.request_times, telegram.requests, strict=True)
                     if m == "sendMessage" and p.get("chat_id") == STAFF_CHAT]
    assert second - first >= 2.0
    # The outbox paused the chat and rescheduled the row (its worker stays free for other chats);
    # the session's wait-it-out for replies (bot/telegram.py) stayed out of the way.
    assert "flood control for chat" in caplog.text and "Telegram flood control on" not in caplog.text


async def test_a_permanent_error_is_given_up_logged_and_counted(
    telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.outbox")
    telegram.fail("sendMessage", status=400, description="Bad Request: chat not found", chat_id=STAFF_CHAT)
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        outbox = app.services.outbox
        order = await _place(app.services.orders)
        row_id = await app.db.fetchval("SELECT id FROM outbox WHERE order_id = ?", (order.id,))
        row = await outbox.wait_final(row_id, timeout=10)
        stats = await outbox.stats()
        api = await app.db.fetchval("SELECT COUNT(*) FROM orders")
    assert row is not None and row.status == "failed"
    assert stats.failed == 1 and stats.pending == 0
    assert "giving up" in caplog.text and "chat not found" in caplog.text
    assert "chat not found" in (stats.last_failure or "")
    assert len(_staff_sends(telegram)) == 1  # not retried
    assert api == 1  # the order itself is kept


async def test_a_notification_pending_when_the_process_stopped_is_delivered_after_restart(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = order_settings(tmp_path, telegram.url)
    telegram.fail("sendMessage", status=500, times=10_000, chat_id=STAFF_CHAT)  # Telegram down for the staff chat
    async with running_app(settings) as app:
        order = await _place(app.services.orders)
        await telegram.wait_for(lambda: _staff_sends(telegram))  # tried at least once, failed
    async with Database(settings.database_target) as db:  # what the stopped process left on disk
        left = await OutboxRepository(db).stats()
    assert left.pending == 1 and left.sending == 0 and telegram.sent_to(STAFF_CHAT) == []

    telegram.clear_failures()  # Telegram is back
    async with running_app(settings) as app:
        [card] = await telegram.wait_for_messages(STAFF_CHAT, timeout=20)
        row_id = await app.db.fetchval("SELECT id FROM outbox WHERE order_id = ?", (order.id,))
        await app.services.outbox.wait_final(row_id, timeout=10)
        stored = await app.services.orders.get(order.id)
        after = await app.services.outbox.stats()
    assert "Order #001" in card.text
    assert stored is not None and stored.staff_message_id == card.message_id
    assert after.pending == 0 and after.delivered == 1
    assert len(telegram.sent_to(STAFF_CHAT)) == 1


async def test_a_send_cut_off_by_a_crash_is_sent_again_when_its_lease_runs_out(
    telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The crash window: claimed (status sending) but never recorded. It is re-sent, with a warning."""
    caplog.set_level(logging.WARNING, logger="bot.outbox")
    settings = order_settings(tmp_path, None)
    async with running_app(settings) as app:  # Telegram off: write the row as a crashed process left it
        await app.db.execute(
            """INSERT INTO outbox(kind, chat_id, payload, status, attempts, next_attempt_at, lease_until,
               created_at) VALUES ('message', ?, '{"text": "left mid-send"}', 'sending', 1, ?, ?, ?)""",
            (STAFF_CHAT, now(), now() - 1, now()),
        )
    async with running_app(order_settings(tmp_path, telegram.url)):
        [message] = await telegram.wait_for_messages(STAFF_CHAT)
    assert message.text == "left mid-send"
    assert "cut off mid-send" in caplog.text


async def test_customer_messages_keep_their_order_when_one_fails_for_a_while(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        outbox = app.services.outbox
        telegram.fail("sendMessage", status=500, times=2, chat_id=CUSTOMER_ID)
        for text in ("first", "second", "third"):
            await outbox.send_message(CUSTOMER_ID, text)
        messages = await telegram.wait_for_messages(CUSTOMER_ID, 3, timeout=20)
    assert [m.text for m in messages] == ["first", "second", "third"]


async def test_in_a_rush_new_order_cards_reach_staff_before_edits_of_older_cards(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    """Telegram allows ~20 messages a minute to a group: what queues, the kitchen gets new orders first."""
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        orders = app.services.orders
        first = await _place(orders)
        await telegram.wait_for_messages(STAFF_CHAT)
        telegram.fail("editMessageText", status=429, retry_after=3, chat_id=STAFF_CHAT)
        await orders.transition(first.id, OrderStatus.ACCEPTED, ADMIN_ID, "Staff")
        await telegram.wait_for(lambda: telegram.calls("editMessageText"))  # refused: the chat waits 3 s
        second, third = await _place(orders, OTHER), await _place(orders, THIRD)
        await telegram.wait_for(lambda: len(telegram.calls("editMessageText")) == 2, timeout=20)
    staff_calls = [(method, _plain(params.get("text", "").split("\n")[0])) for method, params in telegram.requests
                   if method in ("sendMessage", "editMessageText") and params.get("chat_id") == STAFF_CHAT]
    assert staff_calls == [
        ("sendMessage", "🆕 Order #001 · NEW"),
        ("editMessageText", "👍 Order #001 · ACCEPTED"),  # 429: retried after the pause...
        ("sendMessage", f"🆕 Order {second.number} · NEW"),  # ...but the new orders go first
        ("sendMessage", f"🆕 Order {third.number} · NEW"),
        ("editMessageText", "👍 Order #001 · ACCEPTED"),
    ]
