"""Paying in the chat, end to end: the real app, the fake Bot API's invoices and payments, a real database.

With PAYMENT_PROVIDER_TOKEN set, the order goes to staff only once Telegram reports `successful_payment`;
the pre-checkout query is answered from the menu in force (a price changed by a menu reload, an item sold
out, an order paid or cancelled meanwhile are refused). Without it, orders are paid at pickup.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.app import Application
from bot.config import DATA_DIR
from bot.orders.models import OrderStatus, Payment
from testkit.fakes.openai import FakeOpenAI, FakeReply
from testkit.fakes.telegram import FakeTelegram, SentInvoice, SentMessage
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from testkit.settings import with_openai
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import order_settings, press

PROVIDER_TOKEN = "284685063:TEST:payment-provider-secret-1234"


async def _latest(telegram: FakeTelegram, chat_id: int, contains: str) -> SentMessage:
    return await telegram.wait_for(
        lambda: next((m for m in reversed(telegram.sent_to(chat_id)) if contains.lower() in m.text.lower()), None)
    )


async def _checkout(telegram: FakeTelegram, app: Application, items: list[tuple[str, str | None, int]],
                    user_id: int = CUSTOMER_ID) -> SentMessage:
    """The cart filled through the service, then /cart → Checkout → ASAP → Skip → Confirm order with the buttons.

    The message returned went through every page: `summary_shown` finds the summary in its history.
    """
    for item, size, quantity in items:
        await app.services.orders.add_to_cart(user_id, item, size, quantity)
    before = len(telegram.sent_to(user_id))
    telegram.send_text(user_id, "/cart")
    [page] = await telegram.wait_for_messages(user_id, 1, after=before)
    await press(telegram, user_id, page, "Checkout")
    await telegram.wait_for(lambda: "When will you pick it up" in page.text)
    await press(telegram, user_id, page, "As soon as possible")
    await telegram.wait_for(lambda: "Anything we should know" in page.text)
    await press(telegram, user_id, page, "Skip")
    await telegram.wait_for(lambda: "Please check your order" in page.text)
    await press(telegram, user_id, page, "Confirm order")
    await telegram.wait_for(lambda: "Order #" in page.text)
    return page


def summary_shown(page: SentMessage) -> str:
    return next(text for text in page.history if "Please check your order" in text)


async def _invoice(telegram: FakeTelegram, count: int = 1, user_id: int = CUSTOMER_ID) -> SentInvoice:
    return await telegram.wait_for(lambda: telegram.invoices_to(user_id)[count - 1]
                                   if len(telegram.invoices_to(user_id)) >= count else None)


async def _staff_rows(app: Application) -> int:
    """Staff messages written to the outbox: a card is queued there in the transaction that makes it due."""
    return int(await app.db.fetchval("SELECT COUNT(*) FROM outbox WHERE chat_id = ?", (STAFF_CHAT,)))


async def test_a_paid_order_reaches_staff_only_after_successful_payment(
    telegram: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings) as app:
        placed = await _checkout(telegram, app, [("cappuccino", "large", 2), ("croissant", None, 1)])
        invoice = await _invoice(telegram)
        after_invoice = (await _staff_rows(app), list(telegram.sent_to(STAFF_CHAT)))
        telegram.send_text(STAFF_MEMBER, "/orders", chat_id=STAFF_CHAT)
        listing = await _latest(telegram, STAFF_CHAT, "open orders")

        query = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, invoice))
        after_pre_checkout = (await _staff_rows(app), len(telegram.sent_to(STAFF_CHAT)))
        [unpaid] = await app.services.orders.orders_of(CUSTOMER_ID)

        telegram.send_successful_payment(CUSTOMER_ID, query, telegram_charge_id="TG-42",
                                         provider_charge_id="PROV-42")
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        thanks = await _latest(telegram, CUSTOMER_ID, "Payment received")
        # Telegram delivers the payment again (a restart before the update was confirmed): paid once, one card.
        telegram.send_successful_payment(CUSTOMER_ID, query, telegram_charge_id="TG-42",
                                         provider_charge_id="PROV-42")
        await telegram.wait_for(lambda: len([t for t in telegram.texts_to(CUSTOMER_ID)
                                             if "Payment received" in t]) == 2)
        paid = await app.services.orders.get(unpaid.id)
        staff_cards = await _staff_rows(app)

    assert "You pay here in the chat" in summary_shown(placed)
    assert "Please pay with the invoice below" in placed.text and "Order #001" in placed.text
    assert [b["text"] for b in placed.buttons()] == ["✖ Cancel order"]
    # The invoice: the order's currency, one labelled price per line in cents, the provider token, our payload.
    assert invoice.title == "Order #001" and invoice.currency == "EUR"
    assert invoice.prices == [{"label": "2 × Cappuccino (large)", "amount": 780},
                              {"label": "1 × Butter Croissant", "amount": 260}]
    assert invoice.total_amount == 1040 and invoice.provider_token == PROVIDER_TOKEN
    assert invoice.payload == f"order:{unpaid.id}"
    # Nothing reached staff after the invoice, nor after the pre-checkout was approved.
    assert after_invoice == (0, []) and "No open orders" in listing.text
    assert query.ok and query.answer == {"ok": True, "error_message": None}
    assert after_pre_checkout == (0, 1)  # the one staff message is the /orders listing
    assert unpaid.payment is Payment.AWAITING and unpaid.status is OrderStatus.NEW
    # Then it did, once, marked paid.
    assert "NEW" in card.text and "💳 Paid in the chat." in card.text and "2 × Cappuccino (large)" in card.text
    assert [m for m in telegram.sent_to(STAFF_CHAT) if "Order #001" in m.text] == [card] and staff_cards == 1
    assert "order #001 (€10.40)" in thanks.text
    assert paid is not None and paid.payment is Payment.PAID and paid.paid_at is not None
    assert (paid.telegram_payment_charge_id, paid.provider_payment_charge_id) == ("TG-42", "PROV-42")
    # The provider token is a secret: sent to Telegram, never logged.
    assert PROVIDER_TOKEN not in caplog.text and "payment-provider-secret" not in caplog.text


async def test_a_pre_checkout_with_a_price_changed_since_the_invoice_is_refused(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    menu_path = tmp_path / "menu.yaml"
    menu_path.write_text((DATA_DIR / "menu.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN, menu_path=menu_path)
    async with running_app(settings) as app:
        await _checkout(telegram, app, [("cappuccino", "large", 2)])
        invoice = await _invoice(telegram)
        # The cafe raises the price after the invoice was sent.
        menu_path.write_text(menu_path.read_text(encoding="utf-8").replace(
            "sizes: {small: 3.30, large: 3.90}", "sizes: {small: 3.30, large: 4.10}", 1), encoding="utf-8")
        assert (await app.services.knowledge.reload()).ok

        query = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, invoice))
        told = await _latest(telegram, CUSTOMER_ID, "wasn't paid")
        [order] = await app.services.orders.orders_of(CUSTOMER_ID)
        cart = await app.services.orders.cart(CUSTOMER_ID)
        staff_rows = await _staff_rows(app)

    assert query.answer is not None and query.answer["ok"] is False
    assert "Cappuccino (large)" in query.answer["error_message"] and "€4.10" in query.answer["error_message"]
    assert "€3.90" in query.answer["error_message"]
    with pytest.raises(AssertionError):  # Telegram charges nothing after a refusal
        telegram.send_successful_payment(CUSTOMER_ID, query)
    # The invoice can never be paid as drawn: its order is cancelled, its lines are back in the cart at today's price.
    assert order.status is OrderStatus.CANCELLED and order.payment is Payment.AWAITING
    assert [(li.item_id, li.size, li.quantity, li.unit_price_cents) for li in cart.lines] == [
        ("cappuccino", "large", 2, 410)]
    assert "Order #001 wasn't paid" in told.text and "Total: €8.20" in told.text and told.button("Checkout")
    assert staff_rows == 0 and telegram.sent_to(STAFF_CHAT) == []


async def test_an_invoice_of_a_sold_out_item_or_of_an_order_paid_or_cancelled_is_refused(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings) as app:
        # Paid once: the same invoice again is refused.
        await _checkout(telegram, app, [("espresso", None, 1)])
        first = await _invoice(telegram)
        paying = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, first))
        telegram.send_successful_payment(CUSTOMER_ID, paying)
        await _latest(telegram, CUSTOMER_ID, "Payment received")
        again = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, first))

        # Cancelled by the customer before paying: refused, and staff never hear of it.
        placed = await _checkout(telegram, app, [("espresso", None, 1)])
        second = await _invoice(telegram, 2)
        await press(telegram, CUSTOMER_ID, placed, "Cancel order")
        await press(telegram, CUSTOMER_ID, placed, "Yes, cancel #002")
        await telegram.wait_for(lambda: "cancelled at your request" in placed.text)
        cancelled = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, second))

        # Sold out since the invoice.
        await _checkout(telegram, app, [("croissant", None, 2)])
        third = await _invoice(telegram, 3)
        await app.services.availability.mark("croissant", False, STAFF_MEMBER)
        sold_out = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, third))
        # The refusal is answered first (Telegram's 10 s), then the order is dropped and the cart refilled.
        await _latest(telegram, CUSTOMER_ID, "wasn't paid")

        # Another amount than the order's (a forged or mangled query), and someone else's invoice.
        await app.services.availability.mark("croissant", True, STAFF_MEMBER)
        await _checkout(telegram, app, [("espresso", None, 2)])
        fourth = await _invoice(telegram, 4)
        stranger = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(7007, fourth))
        cheaper = await telegram.wait_pre_checkout_answer(
            telegram.send_pre_checkout(CUSTOMER_ID, fourth, total_amount=1))
        await telegram.wait_for(lambda: len([t for t in telegram.texts_to(CUSTOMER_ID) if "wasn't paid" in t]) == 2)
        await _latest(telegram, STAFF_CHAT, "Order #001")
        staff_cards = [m.text.split("\n")[0] for m in telegram.sent_to(STAFF_CHAT)]

    assert paying.ok
    assert not again.ok and again.answer is not None and "already paid" in again.answer["error_message"]
    assert not cancelled.ok and cancelled.answer is not None and "was cancelled" in cancelled.answer["error_message"]
    assert not sold_out.ok and sold_out.answer is not None
    assert "Butter Croissant is sold out" in sold_out.answer["error_message"]
    assert not stranger.ok and stranger.answer is not None and "out of date" in stranger.answer["error_message"]
    assert not cheaper.ok and cheaper.answer is not None and "doesn't match" in cheaper.answer["error_message"]
    assert staff_cards == ["🆕 Order #001 · NEW"]  # only the paid order ever reached staff


async def test_with_payments_off_the_order_is_paid_at_pickup(telegram: FakeTelegram, tmp_path: Path) -> None:
    """The customer reads English, the staff group German (STAFF_LANGUAGE): each gets the line in theirs."""
    async with running_app(order_settings(tmp_path, telegram.url, staff_language="de")) as app:
        placed = await _checkout(telegram, app, [("espresso", None, 2)])
        card = await _latest(telegram, STAFF_CHAT, "Bestellung #001")
        [order] = await app.services.orders.orders_of(CUSTOMER_ID)

    assert "You pay at pickup." in summary_shown(placed)
    assert "Order #001 placed" in placed.text and "💶 Pay at pickup." in placed.text
    assert "💶 Bezahlung bei Abholung." in card.text and "2 × Espresso" in card.text
    assert order.payment is Payment.PICKUP and telegram.invoices == []


async def test_a_cancelled_paid_order_is_flagged_refund_due_and_the_customer_told(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings) as app:
        # Staff cancel a paid order.
        await _checkout(telegram, app, [("cappuccino", "large", 1)])
        query = await telegram.wait_pre_checkout_answer(
            telegram.send_pre_checkout(CUSTOMER_ID, await _invoice(telegram)))
        telegram.send_successful_payment(CUSTOMER_ID, query, provider_charge_id="PROV-777")
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        await press(telegram, STAFF_MEMBER, card, "Cancel")
        await press(telegram, STAFF_MEMBER, card, "Yes, cancel the order")
        await telegram.wait_for(lambda: "CANCELLED" in card.text)
        by_cafe = await _latest(telegram, CUSTOMER_ID, "cancelled by the cafe")

        # The customer cancels their own paid order before the cafe accepts it.
        placed = await _checkout(telegram, app, [("espresso", None, 1)])
        query = await telegram.wait_pre_checkout_answer(
            telegram.send_pre_checkout(CUSTOMER_ID, await _invoice(telegram, 2)))
        telegram.send_successful_payment(CUSTOMER_ID, query, provider_charge_id="PROV-778")
        second_card = await _latest(telegram, STAFF_CHAT, "Order #002")
        await press(telegram, CUSTOMER_ID, placed, "Cancel order")
        await press(telegram, CUSTOMER_ID, placed, "Yes, cancel #002")
        await telegram.wait_for(lambda: "CANCELLED" in second_card.text)

    assert "REFUND DUE: €3.90 was paid in the chat (PROV-777)." in card.text and not card.buttons()
    assert "You paid €3.90 in the chat: a refund will follow." in by_cafe.text
    assert "REFUND DUE: €2.40 was paid in the chat (PROV-778)." in second_card.text
    assert "cancelled by User1001 (customer)" in second_card.text
    assert "You paid €2.40 in the chat: a refund will follow." in placed.text and "nothing to pay" not in placed.text


async def test_an_order_in_plain_words_is_paid_before_it_reaches_staff(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    """The agent's place_order sends the same summary; its Confirm brings the invoice, the payment the card."""
    openai_server.script(
        FakeReply(tool_calls=[{"name": "add_to_cart", "arguments": {"item": "flat-white", "quantity": 1}}]),
        FakeReply(tool_calls=[{"name": "place_order", "arguments": {"pickup_time": "asap"}}]),
        "I've sent you the summary: press Confirm order, then pay with the invoice.",
    )
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN,
                              **with_openai(openai_server))
    async with running_app(settings) as app:
        telegram.send_text(CUSTOMER_ID, "One flat white to pick up now, please")
        summary = await _latest(telegram, CUSTOMER_ID, "Please check your order")
        await press(telegram, CUSTOMER_ID, summary, "Confirm order")
        invoice = await _invoice(telegram)
        unpaid_staff = await _staff_rows(app)
        query = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, invoice))
        telegram.send_successful_payment(CUSTOMER_ID, query)
        card = await _latest(telegram, STAFF_CHAT, "Order #001")

    assert "You pay here in the chat" in summary.history[0]
    assert invoice.prices == [{"label": "1 × Flat White", "amount": 360}] and unpaid_staff == 0
    assert "1 × Flat White" in card.text and "💳 Paid in the chat." in card.text
    tool_results = [m for body in openai_server.requests for m in body["messages"] if m.get("role") == "tool"]
    assert any("an invoice follows the confirmation" in m["content"] for m in tool_results)


async def test_payments_are_never_dropped_by_the_rate_limit(telegram: FakeTelegram, tmp_path: Path) -> None:
    """A customer over their message limit still gets the pre-checkout answered and the payment recorded."""
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN,
                              rate_limit_messages=1, rate_limit_window_seconds=600)
    async with running_app(settings) as app:
        await _checkout(telegram, app, [("espresso", None, 1)])  # /cart used the one message
        invoice = await _invoice(telegram)
        telegram.send_text(CUSTOMER_ID, "hello?")
        await _latest(telegram, CUSTOMER_ID, "faster than I can answer")
        query = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, invoice))
        telegram.send_successful_payment(CUSTOMER_ID, query)
        await _latest(telegram, STAFF_CHAT, "Order #001")
        [order] = await app.services.orders.orders_of(CUSTOMER_ID)
    assert query.ok and order.payment is Payment.PAID


async def test_a_payment_arriving_after_the_customer_cancelled_reaches_staff_as_refund_due(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    """Cancelled between Telegram's pre-checkout and its charge: the money was taken, so staff must see it."""
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings) as app:
        placed = await _checkout(telegram, app, [("espresso", None, 2)])
        query = await telegram.wait_pre_checkout_answer(
            telegram.send_pre_checkout(CUSTOMER_ID, await _invoice(telegram)))
        await press(telegram, CUSTOMER_ID, placed, "Cancel order")
        await press(telegram, CUSTOMER_ID, placed, "Yes, cancel #001")
        await telegram.wait_for(lambda: "cancelled at your request" in placed.text)
        staff_before_payment = await _staff_rows(app)
        telegram.send_successful_payment(CUSTOMER_ID, query, provider_charge_id="PROV-LATE")
        told = await _latest(telegram, CUSTOMER_ID, "received, but order #001 was cancelled")
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        [order] = await app.services.orders.orders_of(CUSTOMER_ID)

    assert query.ok and staff_before_payment == 0
    assert order.status is OrderStatus.CANCELLED and order.payment is Payment.PAID and order.refund_due
    assert "CANCELLED" in card.text and "REFUND DUE: €4.80 was paid in the chat (PROV-LATE)." in card.text
    assert "a refund of €4.80 will follow" in told.text


async def test_an_oat_milk_latte_is_invoiced_and_charged_with_its_option(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    """The invoice and the pre-checkout's re-check both price the options (base price + oat milk)."""
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    settings = order_settings(tmp_path, telegram.url, payment_provider_token=PROVIDER_TOKEN)
    async with running_app(settings) as app:
        await app.services.orders.add_to_cart(CUSTOMER_ID, "latte", "small", 1, options=[("milk", "oat")])
        base = app.services.knowledge.menu.item("latte")
        assert base is not None
        await _checkout(telegram, app, [])
        invoice = await _invoice(telegram)
        query = await telegram.wait_pre_checkout_answer(telegram.send_pre_checkout(CUSTOMER_ID, invoice))
    small = base.price_for("small")
    assert small is not None
    assert invoice.prices == [{"label": "1 × Caffè Latte (small) · Oat milk", "amount": small + 40}]
    assert query.ok, query.answer
