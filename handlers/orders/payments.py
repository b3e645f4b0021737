"""Paying in the chat: the invoice after the confirm, Telegram's pre-checkout query, and successful_payment.

Always registered, in effect with PAYMENT_PROVIDER_TOKEN set: without it no order awaits payment, so no
invoice is sent (and a query for an old one is refused). The rules are the domain's (bot/orders/payments.py);
here they meet the Bot API: `sendInvoice` with one labelled price per order line, `answerPreCheckoutQuery` within
Telegram's 10 seconds, and the payment message that makes the order reach staff.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import LabeledPrice, Message, PreCheckoutQuery

from bot.config import Settings
from bot.i18n import price
from bot.orders import OrderService, texts
from bot.orders.models import Order
from bot.orders.payments import Payments, paid, refused, unmatched
from handlers.orders import keyboards


async def send_invoice(bot: Bot, order: Order, payments: Payments, settings: Settings) -> None:
    """The order's invoice in its chat (after the confirm, and again on a repeated confirm press)."""
    token = settings.payment_provider_token
    if token is None:
        return
    invoice = payments.invoice(order)
    await bot.send_invoice(
        chat_id=order.chat_id, title=invoice.title, description=invoice.description, payload=invoice.payload,
        provider_token=token.get_secret_value(), currency=invoice.currency,
        prices=[LabeledPrice(label=line.label, amount=line.amount) for line in invoice.lines],
    )


async def on_pre_checkout(query: PreCheckoutQuery, payments: Payments, orders: OrderService) -> None:
    """Charge only what is still true now; a stale invoice is refused, its order cancelled, the cart refilled.

    An approved one holds the order from expiring while Telegram charges; an expired one is refused.
    """
    verdict = await payments.check(query.from_user.id, query.invoice_payload, query.currency, query.total_amount)
    if verdict.error is None:
        await query.answer(ok=True)
        return
    await query.answer(ok=False, error_message=verdict.error)
    if verdict.expired and verdict.order is not None:  # ran out before the job saw it: expired now, told once
        await payments.expire(verdict.order)
        return
    if verdict.stale and verdict.order is not None and query.bot is not None:
        repeat = await payments.drop_unpayable(verdict.order)
        assert repeat is not None  # a stale invoice's order: its lines always go back
        text = "\n\n".join((refused(verdict.error, verdict.order), texts.repeated(orders.menu, repeat),
                            texts.cart_page(orders.menu, repeat.cart)))
        await query.bot.send_message(verdict.order.chat_id, text, reply_markup=keyboards.cart(repeat.cart))


async def on_successful_payment(message: Message, payments: Payments) -> None:
    """Telegram took the money: the order is paid and goes to staff (once, however often this arrives)."""
    payment = message.successful_payment
    assert payment is not None and message.from_user is not None
    order, _newly = await payments.record(
        message.from_user.id, payment.invoice_payload, payment.currency, payment.total_amount,
        payment.telegram_payment_charge_id, payment.provider_payment_charge_id)
    if order is None:
        await message.answer(unmatched(price(payment.total_amount, payment.currency),
                                       payment.telegram_payment_charge_id))
        return
    await message.answer(paid(order))


def create_router() -> Router:
    router = Router(name=__name__)
    router.pre_checkout_query.register(on_pre_checkout)
    router.message.register(on_successful_payment, F.successful_payment)
    return router
