"""Unpaid orders expire, end to end: the real app, the fake Bot API's invoices and payments, a real database.

With PAYMENT_PROVIDER_TOKEN set, a confirmed order waits for its payment. PAYMENT_EXPIRY_MINUTES (30)
after the confirm, by the application's calendar clock (which the test moves: nothing sleeps), the
expiry job cancels it: the customer is told once, in their language, its lines are back in the cart
(unless the cart holds newer ones), and staff never hear of it. A paid order never expires; an invoice
presented after its time is refused; a payment Telegram still takes for an expired order is recorded
and shown to staff as REFUND DUE; two replicas running the job at once expire the order once.

The job also runs by itself every few seconds on the same clock, so the tests assert what happened to
the order (once), never which run did it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bot.app import Application
from bot.clock import FrozenClock
from bot.orders import ORDER_EXPIRED, Order, OrderStatus
from bot.orders.models import EXPIRED_BY, Payment
from bot.services import Seams
from testkit.fakes.telegram import FakeTelegram
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from tests.helpers import CUSTOMER_ID, poll_until, running_app
from tests.ordering import order_settings
from tests.test_payments_e2e import PROVIDER_TOKEN, _checkout, _invoice, _latest, _staff_rows

MINUTES = 30  # PAYMENT_EXPIRY_MINUTES's default
EXPIRED = "has expired"  # in the customer's message


def _expiry_messages(*telegrams: FakeTelegram, user_id: int = CUSTOMER_ID) -> list[str]:
    return [t for tg in telegrams for t in tg.texts_to(user_id) if EXPIRED in t and "Order" in t]


async def _expire(app: Application, clock: FrozenClock, order: Order, after: timedelta) -> None:
    """Move the calendar clock to `after` past the order's confirm and run the job; the order is expired then."""
    clock.at = clock.at + after
    await app.services.payment_expiry.run_once()

    async def expired() -> bool:
        now = await app.services.orders.get(order.id)
        return now is not None and now.status is OrderStatus.CANCELLED

    await poll_until(expired)


async def _one_expiry_message(app: Application, *telegrams: FakeTelegram) -> str:
    """The customer's expiry message, and no second one: a later message to them arrived after it."""
    [text] = await poll_until(lambda: _async(_expiry_messages(*telegrams)))
    await app.services.outbox.send_message(CUSTOMER_ID, "a later message")
    await poll_until(lambda: _async(any("a later message" in t for tg in telegrams
                                        for t in tg.texts_to(CUSTOMER_ID))))
    assert _expiry_messages(*telegrams) == [text]
    return text


async def _async(value: object) -> object:
    return value


async def _placed_by_services(app: Application, items: list[tuple[str, str | None, int]]) -> Order:
    """An order confirmed through the service (as the summary's button does), awaiting its payment."""
    orders = app.services.orders
    for item, size, quantity in items:
        await orders.add_to_cart(CUSTOMER_ID, item, size, quantity)
    checkout, _ = await orders.start_checkout(CUSTOMER_ID, CUSTOMER_ID)
    await orders.set_pickup(CUSTOMER_ID, checkout.token, "asap")
    await orders.set_note(CUSTOMER_ID, checkout.token, "")
    order, _ = await orders.confirm(CUSTOMER_ID, checkout.token)
    assert order.awaiting_payment
    return order


async def test_an_unpaid_order_expires_after_its_minutes_and_the_customer_gets_one_message_and_the_cart_back(
    wall_clock: FrozenClock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings, Seams(clock=wall_clock)) as app:
        placed_at = wall_clock.at
        await _checkout(telegram, app, [("cappuccino", "large", 2), ("croissant", None, 1)])
        await _invoice(telegram)
        [order] = await app.services.orders.orders_of(CUSTOMER_ID)
        wall_clock.at = placed_at + timedelta(minutes=MINUTES, seconds=-1)  # a second early: nothing
        assert await app.services.payment_expiry.run_once() == 0
        early = await app.services.orders.get(order.id)

        await _expire(app, wall_clock, order, timedelta(seconds=1))
        told = await _one_expiry_message(app, telegram)
        message = next(m for m in telegram.sent_to(CUSTOMER_ID) if m.text == told)
        assert await app.services.payment_expiry.run_once() == 0  # later runs find nothing more
        expired = await app.services.orders.get(order.id)
        cart = await app.services.orders.cart(CUSTOMER_ID)
        expiry_rows = await app.db.fetchval("SELECT COUNT(*) FROM outbox WHERE kind = ?", (ORDER_EXPIRED,))
        telegram.send_text(STAFF_MEMBER, "/orders", chat_id=STAFF_CHAT)
        listing = await _latest(telegram, STAFF_CHAT, "open orders")
        telegram.send_text(CUSTOMER_ID, "/orders")
        mine = await _latest(telegram, CUSTOMER_ID, "Your recent orders")
        staff_rows = await _staff_rows(app)

    assert early is not None and early.status is OrderStatus.NEW and early.awaiting_payment
    assert order.payment_due_at == (placed_at + timedelta(minutes=MINUTES)).timestamp()
    # Cancelled by the system, said so in its history; never paid, never shown to staff.
    assert expired is not None and expired.status is OrderStatus.CANCELLED and expired.expired_unpaid
    assert expired.payment is Payment.AWAITING and not expired.refund_due
    last = expired.history[-1]
    assert (last.from_status, last.to_status, last.changed_by, last.changed_by_name) == (
        OrderStatus.NEW, OrderStatus.CANCELLED, None, EXPIRED_BY)
    assert staff_rows == 0 and [m.text for m in telegram.sent_to(STAFF_CHAT)] == [listing.text]
    assert "No open orders" in listing.text
    # The customer: told once, the lines back in the cart, a button to check out again.
    assert "Order #001 has expired" in told and "back in your cart" in told and expiry_rows == 1
    assert [b["text"] for b in message.buttons()] == ["🛒 View cart", "✅ Checkout"]
    assert sorted((li.item_id, li.size, li.quantity) for li in cart.lines) == [
        ("cappuccino", "large", 2), ("croissant", "", 1)]
    assert "#001" in mine.text and "expired unpaid" in mine.text


async def test_the_expiry_message_is_in_the_customer_s_language_and_a_newer_cart_is_left_alone(
    wall_clock: FrozenClock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings, Seams(clock=wall_clock)) as app:
        telegram.set_language(CUSTOMER_ID, "de")  # Telegram's language_code: the customer reads German
        telegram.send_text(CUSTOMER_ID, "/cart")
        await telegram.wait_for_messages(CUSTOMER_ID, 1)
        order = await _placed_by_services(app, [("espresso", None, 2)])
        await app.services.orders.add_to_cart(CUSTOMER_ID, "croissant", None, 1)  # a new cart since the confirm
        await _expire(app, wall_clock, order, timedelta(minutes=MINUTES))
        told = await _one_expiry_message_de(telegram)
        cart = await app.services.orders.cart(CUSTOMER_ID)

    assert "Bestellung #001" in told and "Warenkorb" in told
    assert [(li.item_id, li.quantity) for li in cart.lines] == [("croissant", 1)]  # the espressos stay out


async def _one_expiry_message_de(telegram: FakeTelegram) -> str:
    return str(await telegram.wait_for(
        lambda: next((t for t in telegram.texts_to(CUSTOMER_ID) if "abgelaufen" in t), None)))


async def test_a_paid_order_never_expires_and_an_approved_pre_checkout_holds_it_while_telegram_charges(
    wall_clock: FrozenClock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings, Seams(clock=wall_clock)) as app:
        placed_at = wall_clock.at
        await _checkout(telegram, app, [("espresso", None, 1)])
        invoice = await _invoice(telegram)
        # The customer presses Pay a minute before the order's time runs out; Telegram charges a bit later.
        wall_clock.at = placed_at + timedelta(minutes=MINUTES - 1)
        query = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, invoice))
        wall_clock.at = placed_at + timedelta(minutes=MINUTES + 1)
        held = await app.services.payment_expiry.run_once()
        telegram.send_successful_payment(CUSTOMER_ID, query, provider_charge_id="PROV-1")
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        # Paid: hours later it is still the kitchen's order.
        wall_clock.at = placed_at + timedelta(hours=5)
        later = await app.services.payment_expiry.run_once()
        [order] = await app.services.orders.orders_of(CUSTOMER_ID)
        await _latest(telegram, CUSTOMER_ID, "Payment received")

    assert query.ok and held == 0 and later == 0
    assert order.status is OrderStatus.NEW and order.payment is Payment.PAID and not order.expired_unpaid
    assert "NEW" in card.text and "REFUND" not in card.text
    assert _expiry_messages(telegram) == []


async def test_an_invoice_presented_after_its_order_expired_is_refused_at_pre_checkout(
    wall_clock: FrozenClock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings, Seams(clock=wall_clock)) as app:
        # Expired by the job, then the old invoice's Pay pressed.
        await _checkout(telegram, app, [("espresso", None, 1)])
        first = await _invoice(telegram)
        [order] = await app.services.orders.orders_of(CUSTOMER_ID)
        await _expire(app, wall_clock, order, timedelta(minutes=MINUTES))
        after_job = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, first))
        first_told = await _one_expiry_message(app, telegram)

        # Its time ran out but no run has seen it yet: the pre-checkout refuses it and expires it (told once).
        await app.services.orders.clear_cart(CUSTOMER_ID)
        await _checkout(telegram, app, [("croissant", None, 1)])
        second = await _invoice(telegram, 2)
        [newer, _] = await app.services.orders.orders_of(CUSTOMER_ID)
        assert newer.payment_due_at is not None
        wall_clock.at = wall_clock.at + timedelta(minutes=MINUTES)
        before_job = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, second))
        texts = await poll_until(lambda: _async(_expiry_messages(telegram)[1:]))
        await app.services.payment_expiry.run_once()
        await app.services.outbox.send_message(CUSTOMER_ID, "after the second expiry")
        await _latest(telegram, CUSTOMER_ID, "after the second expiry")
        expired = await app.services.orders.get(newer.id)
        staff_rows = await _staff_rows(app)

    for query in (after_job, before_job):
        assert not query.ok and query.answer is not None
        assert "has expired: it wasn't paid in time" in query.answer["error_message"]
    # Its number: a new day's #001 if the 30 minutes crossed midnight.
    assert texts == [_expiry_messages(telegram)[1]] and f"Order {newer.number} has expired" in texts[0]
    assert len(_expiry_messages(telegram)) == 2 and f"Order {order.number} has expired" in first_told
    assert expired is not None and expired.status is OrderStatus.CANCELLED and expired.expired_unpaid
    assert staff_rows == 0 and telegram.sent_to(STAFF_CHAT) == []


async def test_a_payment_telegram_still_takes_for_an_expired_order_is_recorded_and_shown_as_refund_due(
    wall_clock: FrozenClock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    """Approved early, charged late: the order expired in between; the money must not be lost."""
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings, Seams(clock=wall_clock)) as app:
        placed_at = wall_clock.at
        await _checkout(telegram, app, [("cappuccino", "large", 1)])
        invoice = await _invoice(telegram)
        wall_clock.at = placed_at + timedelta(minutes=5)
        query = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, invoice))
        [order] = await app.services.orders.orders_of(CUSTOMER_ID)
        wall_clock.at = placed_at  # _expire moves the clock on from here
        await _expire(app, wall_clock, order, timedelta(minutes=MINUTES + 1))
        await _one_expiry_message(app, telegram)
        telegram.send_successful_payment(CUSTOMER_ID, query, telegram_charge_id="TG-LATE",
                                         provider_charge_id="PROV-LATE")
        told = await _latest(telegram, CUSTOMER_ID, "had already expired")
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        paid = await app.services.orders.get(order.id)
        listing_orders = await app.services.orders.open_orders()

    assert query.ok
    assert paid is not None and paid.status is OrderStatus.CANCELLED and paid.payment is Payment.PAID
    assert paid.refund_due and paid.expired_unpaid and paid.provider_payment_charge_id == "PROV-LATE"
    assert "CANCELLED" in card.text and "REFUND DUE: €3.90 was paid in the chat (PROV-LATE)." in card.text
    assert f"cancelled by {EXPIRED_BY}" in card.text and not card.buttons()
    assert "a refund of €3.90 will follow" in told.text
    assert listing_orders == []  # not an open order for the kitchen


async def test_two_replicas_expiring_at_once_expire_the_order_once_with_one_message(
    wall_clock: FrozenClock, tmp_path: Path
) -> None:
    seams = Seams(clock=wall_clock)
    async with FakeTelegram() as tg_a, FakeTelegram() as tg_b:
        settings_a = order_settings(tmp_path, tg_a.url, payment_provider_token=PROVIDER_TOKEN)
        settings_b = order_settings(tmp_path, tg_b.url, payment_provider_token=PROVIDER_TOKEN)
        async with running_app(settings_a, seams) as a, running_app(settings_b, seams) as b:
            order = await _placed_by_services(a, [("espresso", None, 2), ("croissant", None, 1)])
            wall_clock.at = wall_clock.at + timedelta(minutes=MINUTES)
            jobs = (a.services.payment_expiry, b.services.payment_expiry)
            await asyncio.gather(*(job.run_once() for job in (*jobs, *jobs)))
            told = await _one_expiry_message(a, tg_a, tg_b)
            expired = await a.services.orders.get(order.id)
            cart = await a.services.orders.cart(CUSTOMER_ID)
            rows = await a.db.fetchval("SELECT COUNT(*) FROM outbox WHERE kind = ?", (ORDER_EXPIRED,))
            expired_by_jobs = sum(job.expired_total for job in jobs)

    assert "Order #001 has expired" in told and rows == 1 and expired_by_jobs == 1
    assert expired is not None and expired.status is OrderStatus.CANCELLED
    assert [h.to_status for h in expired.history] == [OrderStatus.NEW, OrderStatus.CANCELLED]
    # The lines went back once, not once per replica.
    assert sorted((li.item_id, li.quantity) for li in cart.lines) == [("croissant", 1), ("espresso", 2)]


async def test_an_order_that_ran_out_while_the_bot_was_stopped_expires_by_itself_soon_after_the_start(
    wall_clock: FrozenClock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    """The job runs on its own timer (no run_once here): a few seconds after the start, then periodically."""
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    seams = Seams(clock=wall_clock)
    async with running_app(settings, seams) as app:
        order = await _placed_by_services(app, [("espresso", None, 1)])
    wall_clock.at = wall_clock.at + timedelta(minutes=MINUTES, seconds=1)
    async with running_app(settings, seams) as app:
        told = await _one_expiry_message(app, telegram)
        expired = await app.services.orders.get(order.id)
    assert "Order #001 has expired" in told
    assert expired is not None and expired.expired_unpaid
