"""Ordering with buttons, end to end: the real app, the fake Bot API server, a real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FrozenClock
from bot.config import DATA_DIR
from bot.orders.models import OrderStatus
from handlers.orders.callbacks import AddCb, CartCb, CheckoutCb, CustomerOrderCb, RepeatCb, StaffCb
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from testkit.settings import ADMIN_ID
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import OUTSIDER, answer_after, order_settings, press

OTHER_CUSTOMER = 1002


async def _latest(telegram: FakeTelegram, chat_id: int, contains: str) -> SentMessage:
    return await telegram.wait_for(
        lambda: next((m for m in reversed(telegram.sent_to(chat_id)) if contains.lower() in m.text.lower()), None)
    )


async def _until(telegram: FakeTelegram, message: SentMessage, contains: str) -> SentMessage:
    await telegram.wait_for(lambda: contains.lower() in message.text.lower())
    return message


async def _undelivered(app: Any, timeout: float = 5.0) -> int:
    """Outbox rows not recorded delivered, once the worker had time to record what Telegram already shows.

    The fake Bot API holds the message a moment before the worker commits `delivered`
    (longer on PostgreSQL than on SQLite: a network round trip), so this polls briefly.
    """
    deadline = time.monotonic() + timeout
    while True:
        count = int(await app.db.fetchval("SELECT COUNT(*) FROM outbox WHERE status != 'delivered'"))
        if count == 0 or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.02)


async def _buttons_order(telegram: FakeTelegram, user_id: int = CUSTOMER_ID) -> SentMessage:
    """/menu → Coffee → Cappuccino → large, 2 → add → cart → checkout → ASAP → note → confirm."""
    telegram.send_text(user_id, "/menu")
    page = await _latest(telegram, user_id, "Pick a category")
    await press(telegram, user_id, page, "Coffee")
    await _until(telegram, page, "Cappuccino —")
    await press(telegram, user_id, page, "Cappuccino")
    await _until(telegram, page, "Allergens: milk")
    await press(telegram, user_id, page, "large")
    await press(telegram, user_id, page, "+")
    await _until(telegram, page, "2 × Cappuccino (large) = €7.80")
    await press(telegram, user_id, page, "Add 2 to cart")
    await _until(telegram, page, "Added 2 × Cappuccino (large)")
    await press(telegram, user_id, page, "View cart")
    await _until(telegram, page, "Total: €7.80")
    await press(telegram, user_id, page, "Checkout")
    await _until(telegram, page, "When will you pick it up")
    await press(telegram, user_id, page, "As soon as possible")
    await _until(telegram, page, "Anything we should know")
    telegram.send_text(user_id, "Oat milk in one, please")
    summary = await _latest(telegram, user_id, "Please check your order")
    assert "Note: Oat milk in one, please" in summary.text and "Total: €7.80" in summary.text
    await press(telegram, user_id, summary, "Confirm order")
    await _until(telegram, summary, "placed")
    return summary


async def test_buttons_order_reaches_staff_who_accept_and_mark_ready_and_the_customer_hears_each_step(
    telegram: FakeTelegram, tmp_path: Path, wall_clock: FrozenClock
) -> None:
    """At any hour of any day (wall_clock: CI runs it at Sunday midnight, a DST switch, New Year)."""
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        placed = await _buttons_order(telegram)
        assert "Order #001 placed" in placed.text
        assert [b["text"] for b in placed.buttons()] == ["✖ Cancel order"]

        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        assert "NEW" in card.text and f"👤 User{CUSTOMER_ID}" in card.text
        assert "2 × Cappuccino (large) — €7.80" in card.text
        assert "Oat milk in one, please" in card.text
        customer_before = len(telegram.sent_to(CUSTOMER_ID))

        await press(telegram, STAFF_MEMBER, card, "Accept")
        await _until(telegram, card, "ACCEPTED")
        await press(telegram, STAFF_MEMBER, card, "Preparing")
        await _until(telegram, card, "PREPARING")
        await press(telegram, STAFF_MEMBER, card, "Ready")
        await _until(telegram, card, "READY")
        updates = await telegram.wait_for_messages(CUSTOMER_ID, 3, after=customer_before)

        order = (await app.services.orders.open_orders())[0]
        rows = await app.db.fetchall("SELECT * FROM order_items WHERE order_id = ?", (order.id,))

    assert [m.text for m in updates] == [
        "👍 Your order #001 was accepted — we'll start on it shortly.",
        "☕ We're preparing your order #001.",
        "✅ Your order #001 is ready! Pick it up at the counter.",
    ]
    # One staff message, edited in place at each step; its buttons follow the state machine.
    assert len(telegram.sent_to(STAFF_CHAT)) == 1
    assert [h.split("\n")[0] for h in card.history] == [
        "🆕 Order #001 · NEW", "👍 Order #001 · ACCEPTED", "☕ Order #001 · PREPARING", "✅ Order #001 · READY",
    ]
    assert [b["text"] for b in card.buttons()] == ["✔️ Picked up"]
    assert order.status is OrderStatus.READY and order.source == "buttons"
    assert [(h.from_status, h.to_status, h.changed_by) for h in order.history] == [
        (None, OrderStatus.NEW, CUSTOMER_ID),
        (OrderStatus.NEW, OrderStatus.ACCEPTED, STAFF_MEMBER),
        (OrderStatus.ACCEPTED, OrderStatus.PREPARING, STAFF_MEMBER),
        (OrderStatus.PREPARING, OrderStatus.READY, STAFF_MEMBER),
    ]
    assert all(h.changed_at > 0 for h in order.history)
    [item] = [dict(r) for r in rows]
    assert (item["item_id"], item["size"], item["quantity"], item["unit_price_cents"], item["line_total_cents"]) == (
        "cappuccino", "large", 2, 390, 780
    )
    assert order.total_cents == 780 and order.number == "#001"


async def test_a_customer_cancels_a_new_order_and_the_staff_card_says_so(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        placed = await _buttons_order(telegram)
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        customer_before = len(telegram.sent_to(CUSTOMER_ID))

        await press(telegram, CUSTOMER_ID, placed, "Cancel order")  # asks once more
        asked = [b["text"] for b in placed.buttons()]
        await press(telegram, CUSTOMER_ID, placed, "Keep it")
        kept = [b["text"] for b in placed.buttons()]
        still_new = (await app.services.orders.open_orders())[0]

        await press(telegram, CUSTOMER_ID, placed, "Cancel order")
        await press(telegram, CUSTOMER_ID, placed, "Yes, cancel #001")
        await _until(telegram, placed, "cancelled at your request")
        await _until(telegram, card, "CANCELLED")
        order = await app.services.orders.get(still_new.id)
        pending = await _undelivered(app)
        to_customer = await app.db.fetchval("SELECT COUNT(*) FROM outbox WHERE chat_id = ?", (CUSTOMER_ID,))

    assert asked == ["❌ Yes, cancel #001", "« Keep it"] and kept == ["✖ Cancel order"]
    assert still_new.status is OrderStatus.NEW
    assert order is not None and order.status is OrderStatus.CANCELLED and pending == 0
    assert (order.history[-1].changed_by, order.history[-1].changed_by_name) == (
        CUSTOMER_ID, f"User{CUSTOMER_ID} (customer)")
    assert not placed.buttons()
    # Staff see who cancelled on the one card, which has no buttons left.
    assert f"cancelled by User{CUSTOMER_ID} (customer)" in card.text and not card.buttons()
    assert len(telegram.sent_to(STAFF_CHAT)) == 1
    # The edited message is the customer's confirmation: no "cancelled by the cafe" message on top.
    assert to_customer == 0 and telegram.sent_to(CUSTOMER_ID)[customer_before:] == []


async def test_once_accepted_only_staff_can_cancel_and_nobody_cancels_another_customers_order(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        placed = await _buttons_order(telegram)
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        order = (await app.services.orders.open_orders())[0]

        # Another customer forges the cancel of this order.
        before = len(telegram.callback_answers)
        telegram.send_callback(OTHER_CUSTOMER, CustomerOrderCb(order=order.id, action="sure").pack(),
                               chat_id=OTHER_CUSTOMER, message_id=77)
        forged = await answer_after(telegram, before)

        await press(telegram, STAFF_MEMBER, card, "Accept")
        await _until(telegram, card, "ACCEPTED")
        late = await answer_after(telegram, await press(telegram, CUSTOMER_ID, placed, "Cancel order"))
        # A "sure" press that was already on screen when the cafe accepted is refused too.
        before = len(telegram.callback_answers)
        telegram.send_callback(CUSTOMER_ID, CustomerOrderCb(order=order.id, action="sure").pack(), placed)
        late_sure = await answer_after(telegram, before)
        after = await app.services.orders.get(order.id)

    assert forged["show_alert"] and "isn't one of your orders" in forged["text"]
    assert late["show_alert"] and "already accepted order #001" in late["text"] and "+49 30 1234 5678" in late["text"]
    assert late_sure["show_alert"] and "already accepted" in late_sure["text"]
    assert not placed.buttons()  # the stale button is taken away
    assert after is not None and after.status is OrderStatus.ACCEPTED
    assert [h.to_status for h in after.history] == [OrderStatus.NEW, OrderStatus.ACCEPTED]


async def test_a_non_staff_press_is_refused_and_changes_nothing(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        await _buttons_order(telegram)
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        index = await press(telegram, OUTSIDER, card, "Accept")  # getChatMember says: left
        answer = await answer_after(telegram, index)
        order = (await app.services.orders.open_orders())[0]
        # An admin (ADMIN_IDS) may press without being a group member.
        await press(telegram, ADMIN_ID, card, "Accept")
        await _until(telegram, card, "ACCEPTED")
    assert answer["show_alert"] is True and "Only cafe staff" in answer["text"]
    assert order.status is OrderStatus.NEW
    assert any(c.get("user_id") == OUTSIDER for c in telegram.calls("getChatMember"))


async def test_staff_membership_is_cached_briefly(telegram: FakeTelegram, tmp_path: Path) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "administrator")
    async with running_app(order_settings(tmp_path, telegram.url)):
        await _buttons_order(telegram)
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        await press(telegram, STAFF_MEMBER, card, "Accept")
        await _until(telegram, card, "ACCEPTED")
        await press(telegram, STAFF_MEMBER, card, "Preparing")
        await _until(telegram, card, "PREPARING")
    asked = [c for c in telegram.calls("getChatMember") if c.get("user_id") == STAFF_MEMBER]
    assert len(asked) == 1


async def test_forged_and_stale_buttons_never_change_another_cart_or_an_order(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        orders = app.services.orders
        line, _ = await orders.add_to_cart(CUSTOMER_ID, "espresso", None, 2)

        async def forged(user_id: int, data: str) -> dict:
            before = len(telegram.callback_answers)
            telegram.send_callback(user_id, data, chat_id=user_id, message_id=77)
            return await answer_after(telegram, before)

        # Another customer presses "remove"/"+" with the first customer's cart line id.
        refused_rm = await forged(OTHER_CUSTOMER, CartCb(action="rm", line=line.id).pack())
        refused_inc = await forged(OTHER_CUSTOMER, CartCb(action="inc", line=line.id).pack())
        # Data that no button ever carried: an absurd quantity, an unknown action, garbage.
        refused_qty = await forged(CUSTOMER_ID, "oa:espresso::999")
        refused_action = await forged(CUSTOMER_ID, "oc:steal:1")
        refused_garbage = await forged(CUSTOMER_ID, "os:1:accepted:0:extra")
        # A sold-out item and an item that does not exist.
        refused_sold_out = await forged(CUSTOMER_ID, AddCb(item="cheesecake", qty=1).pack())
        refused_unknown = await forged(CUSTOMER_ID, AddCb(item="caviar", qty=1).pack())
        # Confirming with a token that is not the customer's checkout.
        refused_token = await forged(CUSTOMER_ID, CheckoutCb(action="confirm", token="AAAAAAAAAAAA").pack())
        cart = await orders.cart(CUSTOMER_ID)
        other_cart = await orders.cart(OTHER_CUSTOMER)

        # A summary's Confirm is stale once the cart changed after it was shown.
        checkout, _ = await orders.start_checkout(CUSTOMER_ID, CUSTOMER_ID)
        await orders.set_pickup(CUSTOMER_ID, checkout.token, "asap")
        await orders.set_note(CUSTOMER_ID, checkout.token, "")
        await orders.add_to_cart(CUSTOMER_ID, "croissant", None, 1)
        refused_stale = await forged(CUSTOMER_ID, CheckoutCb(action="confirm", token=checkout.token).pack())
        no_orders = await orders.open_orders()

        # Staff pressing a transition the state machine does not allow (new → ready).
        checkout, _ = await orders.start_checkout(CUSTOMER_ID, CUSTOMER_ID)
        await orders.set_pickup(CUSTOMER_ID, checkout.token, "asap")
        await orders.set_note(CUSTOMER_ID, checkout.token, "")
        order, _ = await orders.confirm(CUSTOMER_ID, checkout.token)
        refused_jump = await forged(STAFF_MEMBER, StaffCb(order=order.id, to=OrderStatus.READY).pack())
        # A customer pressing a staff button of their own order.
        refused_customer = await forged(CUSTOMER_ID, StaffCb(order=order.id, to=OrderStatus.ACCEPTED).pack())
        after = await orders.get(order.id)

    for answer in (refused_rm, refused_inc):
        assert answer["show_alert"] and "no longer in your cart" in answer["text"]
    for answer in (refused_qty, refused_action, refused_garbage):
        assert answer["show_alert"] and "out of date" in answer["text"]
    assert "sold out" in refused_sold_out["text"] and "isn't on our menu" in refused_unknown["text"]
    assert "out of date" in refused_token["text"]
    assert "out of date" in refused_stale["text"]
    assert [(li.item_id, li.quantity) for li in cart.lines] == [("espresso", 2)] and other_cart.empty
    assert no_orders == []
    assert "can't be marked ready" in refused_jump["text"]
    assert "Only cafe staff" in refused_customer["text"]
    assert after is not None and after.status is OrderStatus.NEW and len(after.history) == 1


async def test_cart_quantities_are_bounded_and_lines_editable(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "espresso", None, 19)
        telegram.send_text(CUSTOMER_ID, "/cart")
        page = await _latest(telegram, CUSTOMER_ID, "Your cart")
        assert "19 × Espresso — €45.60" in page.text
        await press(telegram, CUSTOMER_ID, page, "+")
        await _until(telegram, page, "20 × Espresso")
        index = await press(telegram, CUSTOMER_ID, page, "+")
        too_many = await answer_after(telegram, index)
        await press(telegram, CUSTOMER_ID, page, "−")
        await _until(telegram, page, "19 × Espresso")
        await press(telegram, CUSTOMER_ID, page, "Clear")
        await _until(telegram, page, "cart is empty")
    assert too_many["show_alert"] and "At most 20" in too_many["text"]


async def test_checkout_continues_after_a_restart(telegram: FakeTelegram, tmp_path: Path) -> None:
    settings = order_settings(tmp_path, telegram.url)
    async with running_app(settings) as app:
        await app.services.orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        telegram.send_text(CUSTOMER_ID, "/cart")
        page = await _latest(telegram, CUSTOMER_ID, "Your cart")
        await press(telegram, CUSTOMER_ID, page, "Checkout")
        await _until(telegram, page, "When will you pick it up")
    async with running_app(settings) as app:
        telegram.send_text(CUSTOMER_ID, "asap")  # the answer to the question asked before the restart
        await _latest(telegram, CUSTOMER_ID, "Anything we should know")
        telegram.send_text(CUSTOMER_ID, "no sugar")
        summary = await _latest(telegram, CUSTOMER_ID, "Please check your order")
        await press(telegram, CUSTOMER_ID, summary, "Confirm order")
        await _until(telegram, summary, "placed")
        [order] = await app.services.orders.open_orders()
    assert order.note == "no sugar" and order.pickup == "asap"


async def test_a_bad_pickup_time_gets_a_clear_answer(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        await app.services.orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 1)
        telegram.send_text(CUSTOMER_ID, "/cart")
        page = await _latest(telegram, CUSTOMER_ID, "Your cart")
        await press(telegram, CUSTOMER_ID, page, "Checkout")
        await _until(telegram, page, "When will you pick it up")
        telegram.send_text(CUSTOMER_ID, "tomorrow-ish")
        reply = await _latest(telegram, CUSTOMER_ID, "Please send a time like 12:30")
    assert reply is not None


async def test_staff_orders_command_lists_open_orders(telegram: FakeTelegram, tmp_path: Path) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        await _buttons_order(telegram)
        await _latest(telegram, STAFF_CHAT, "Order #001")
        telegram.send_text(STAFF_MEMBER, "/orders", chat_id=STAFF_CHAT)
        listing = await _latest(telegram, STAFF_CHAT, "Open orders")
        telegram.send_text(CUSTOMER_ID, "/orders")
        mine = await _latest(telegram, CUSTOMER_ID, "Your recent orders")
        assert app.services.orders is not None
    assert "#001" in listing.text and "new" in listing.text and "Cappuccino (large)" in listing.text
    assert "#001" in mine.text and "€7.80" in mine.text


async def test_orders_repeats_a_past_order_at_todays_prices_skipping_what_is_sold_out(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    menu_path = tmp_path / "menu.yaml"
    menu_path.write_text((DATA_DIR / "menu.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    async with running_app(order_settings(tmp_path, telegram.url, menu_path=menu_path)) as app:
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "espresso", None, 2)
        await orders.add_to_cart(CUSTOMER_ID, "croissant", None, 1)
        await orders.add_to_cart(CUSTOMER_ID, "cappuccino", "large", 2)
        checkout, _ = await orders.start_checkout(CUSTOMER_ID, CUSTOMER_ID)
        await orders.set_pickup(CUSTOMER_ID, checkout.token, "asap")
        await orders.set_note(CUSTOMER_ID, checkout.token, "")
        past, _ = await orders.confirm(CUSTOMER_ID, checkout.token)
        assert {li.item_id for li in past.lines} == {"espresso", "croissant", "cappuccino"}
        # Since then: the croissants are sold out and the espresso costs more.
        await app.services.availability.mark("croissant", False, STAFF_MEMBER)
        menu_path.write_text(menu_path.read_text(encoding="utf-8").replace(
            "price: 2.40", "price: 2.70", 1), encoding="utf-8")
        assert (await app.services.knowledge.reload()).ok

        telegram.send_text(CUSTOMER_ID, "/orders")
        mine = await _latest(telegram, CUSTOMER_ID, "Your recent orders")
        assert [b["text"] for b in mine.buttons()] == ["🔁 Repeat #001"]
        await press(telegram, CUSTOMER_ID, mine, "Repeat #001")
        page = await _until(telegram, mine, "Skipped")
        cart = await orders.cart(CUSTOMER_ID)

        # Another customer forges a repeat of this order: refused, their cart stays empty.
        before = len(telegram.callback_answers)
        telegram.send_callback(OTHER_CUSTOMER, RepeatCb(order=past.id).pack(), chat_id=OTHER_CUSTOMER, message_id=77)
        forged = await answer_after(telegram, before)
        other_cart = await orders.cart(OTHER_CUSTOMER)

    assert sorted((li.item_id, li.size, li.quantity, li.unit_price_cents) for li in cart.lines) == [
        ("cappuccino", "large", 2, 390), ("espresso", "", 2, 270)]
    assert "added 4 items at today's prices" in page.text
    assert "Skipped: 1 × Butter Croissant (sold out today)" in page.text
    assert "€5.40" in page.text and "Total: €13.20" in page.text
    assert page.button("Checkout")
    assert forged["show_alert"] and "isn't one of your orders" in forged["text"]
    assert other_cart.empty


async def test_without_telegram_notifications_are_skipped_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.outbox")
    async with running_app(order_settings(tmp_path, None)) as app:  # BOT_MODE=off, no token
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "espresso", None, 1)
        checkout, _ = await orders.start_checkout(CUSTOMER_ID, CUSTOMER_ID)
        await orders.set_pickup(CUSTOMER_ID, checkout.token, "asap")
        await orders.set_note(CUSTOMER_ID, checkout.token, "")
        order, created = await orders.confirm(CUSTOMER_ID, checkout.token)
        stats = await app.services.outbox.stats()
    assert created and order.status is OrderStatus.NEW
    assert stats.skipped == 1 and stats.pending == 0
    assert "telegram disabled" in caplog.text and "skipped" in caplog.text
