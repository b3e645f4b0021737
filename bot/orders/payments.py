"""Paying in the chat: an order's Telegram invoice, the pre-checkout re-check, and the payment recorded.

Off unless PAYMENT_PROVIDER_TOKEN is set. Then confirming a summary places the order as *awaiting
payment* (`Payment.AWAITING`): it has its number, but no staff card, no place in the staff's /orders
and no moves but the customer's cancel. The handlers (handlers/orders/payments.py) send the invoice
this module draws; Telegram asks before it charges (`pre_checkout_query`), and `check` answers from the
database and the menu *now*, not from the invoice: an order already paid or cancelled, a price that
changed since the invoice (a menu reload, an edit), an item sold out or gone, a pickup time that has
passed are refused with a sentence the customer reads in Telegram's payment form. A stale invoice can
never be paid as drawn, so its order is cancelled and its lines go back into the cart at today's
prices (`drop_unpayable`). Only Telegram's `successful_payment` marks the order paid (`record`, once,
however often Telegram repeats the update) and queues its first staff card, in the same transaction.

Amounts travel in the currency's minor units, which are the menu's cents: the menu's currency must
have two decimals (EUR, USD, GBP, CHF, ...), as its prices do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from bot.clock import Clock
from bot.i18n import _, price
from bot.orders import options as item_options
from bot.orders.models import Order, OrderError, OrderStatus, Payment, Repeat
from bot.orders.pickup import describe, local_now, pickup_moment
from bot.orders.service import OrderService
from bot.text import escape
from storage.db import Database

log = logging.getLogger(__name__)

PAYLOAD_PREFIX = "order:"  # invoice_payload: "order:<id>" (Telegram allows 1-128 bytes, never shown to the user)
TITLE_MAX = 32  # sendInvoice limits
DESCRIPTION_MAX = 255
CHECKED_BY = "payment check"  # who cancels an invoice that can no longer be paid (the status history says so)


@dataclass(frozen=True)
class InvoiceLine:
    label: str
    amount: int  # minor units (cents)


@dataclass(frozen=True)
class Invoice:
    """What sendInvoice carries: one labelled price per order line, in the order's currency."""

    title: str
    description: str
    payload: str
    currency: str
    lines: list[InvoiceLine]


@dataclass(frozen=True)
class Verdict:
    """The answer to a pre-checkout query: `error` None means charge it."""

    error: str | None
    order: Order | None = None
    stale: bool = False  # the invoice can never be paid as drawn: cancel the order, its lines back into the cart


def payload_of(order: Order) -> str:
    return f"{PAYLOAD_PREFIX}{order.id}"


def order_id_of(payload: str) -> int | None:
    if not payload.startswith(PAYLOAD_PREFIX):
        return None
    rest = payload[len(PAYLOAD_PREFIX):]
    return int(rest) if rest.isdigit() and int(rest) > 0 else None


class Payments:
    def __init__(self, orders: OrderService, db: Database, clock: Clock) -> None:
        self._orders = orders
        self._db = db
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self._orders.pay_in_chat

    def invoice(self, order: Order) -> Invoice:
        """The order's invoice, in the language of the current context (the customer's)."""
        if order.currency.upper() == "XTR" or len(order.currency) != 3:
            raise OrderError(_("Paying in the chat isn't possible in {currency}.").format(currency=order.currency))
        title = _("Order {number}").format(number=order.number)[:TITLE_MAX]
        description = _("{cafe}: pickup {when}. The cafe gets your order once it is paid.").format(
            cafe=self._orders.cafe.name, when=describe(order.pickup, self._orders.today()))
        lines = [InvoiceLine(f"{li.quantity} × {li.name}" + (f" ({li.size})" if li.size else "")
                             + "".join(f" · {o.name}" for o in item_options.shown(li.options)), li.line_total_cents)
                 for li in order.lines]
        return Invoice(title=title, description=description[:DESCRIPTION_MAX], payload=payload_of(order),
                       currency=order.currency.upper(), lines=lines)

    async def check(self, user_id: int, payload: str, currency: str, total_amount: int) -> Verdict:
        """Telegram's pre-checkout query: may this invoice be charged now? Checked against today's menu."""
        order_id = order_id_of(payload)
        order = await self._orders.get(order_id) if order_id is not None else None
        if order is None or order.user_id != user_id:
            return Verdict(_("This invoice is out of date. Open /cart to order again."))
        if not self.enabled and order.awaiting_payment:  # PAYMENT_PROVIDER_TOKEN removed since the invoice
            return Verdict(_("Paying in the chat is switched off. Please order again and pay at pickup."), order,
                           stale=True)
        if order.payment is Payment.PAID:
            return Verdict(_("Order {number} is already paid.").format(number=order.number), order)
        if order.status is OrderStatus.CANCELLED:
            return Verdict(_("Order {number} was cancelled, so it can't be paid. Order again with /menu.").format(
                number=order.number), order)
        if not order.awaiting_payment or order.status is not OrderStatus.NEW:
            return Verdict(_("This invoice is out of date. Open /cart to order again."), order)
        if currency.upper() != order.currency.upper() or total_amount != order.total_cents:
            return Verdict(_("The amount of this invoice doesn't match order {number}.").format(number=order.number),
                           order, stale=True)
        reason = self._changed(order)
        if reason is not None:
            return Verdict(reason, order, stale=True)
        return Verdict(None, order)

    def _changed(self, order: Order) -> str | None:
        """What makes the order impossible to charge as invoiced now: a price, availability, its pickup time."""
        menu = self._orders.menu
        for line in order.lines:
            item = menu.item(line.item_id)
            label = line.name + (f" ({line.size})" if line.size else "")
            now_cents = item.price_for(line.size or None) if item is not None else None
            if item is None or now_cents is None:
                return _("{item} is no longer on the menu.").format(item=label)
            if not item.available:
                return _("Sorry, {item} is sold out now.").format(item=label)
            try:  # the options as chosen, priced by today's menu (one no longer offered refuses the invoice)
                now_cents += item_options.extra_cents(item_options.choose(
                    item, item_options.pairs_of(line.options), order.currency))
            except OrderError as exc:
                return str(exc)
            if now_cents != line.unit_price_cents:
                return _("The price of {item} changed since this invoice: now {now} (was {was}).").format(
                    item=label, now=price(now_cents, order.currency), was=price(line.unit_price_cents, order.currency))
        now = local_now(self._orders.cafe, self._clock.now())
        moment = pickup_moment(order.pickup, _placed_on(order))
        if moment is not None and moment < (now.date(), now.strftime("%H:%M")):
            return _("The pickup time {time} has passed.").format(time=moment[1])
        return None

    async def drop_unpayable(self, order: Order) -> Repeat:
        """A stale invoice's order: cancelled (no staff ever saw it), its lines back in the cart at today's prices."""
        try:
            await self._orders.transition(order.id, OrderStatus.CANCELLED, None, CHECKED_BY, expect=order,
                                          tell_customer=False)
            log.info("order %s (id %s): invoice refused at pre-checkout, order cancelled", order.number, order.id)
        except OrderError:  # cancelled or paid meanwhile: the cart is still refilled, nothing else changes
            log.info("order %s (id %s): invoice refused at pre-checkout; the order changed meanwhile, left as is",
                     order.number, order.id)
        return await self._orders.repeat_order(order.user_id, order.id)

    async def record(self, user_id: int, payload: str, currency: str, total_amount: int, telegram_charge_id: str,
                     provider_charge_id: str) -> tuple[Order | None, bool]:
        """Telegram's successful_payment: (the order, newly paid). Paid once, and only now does staff hear of it.

        Telegram may deliver the update twice (a restart before it was confirmed): the second finds the
        order paid and changes nothing. A payment Telegram took for an order that is unknown, or was
        cancelled in the seconds between the pre-checkout and the charge, is still recorded and logged:
        the money was taken, so staff must see it (the card then says a refund is due).
        """
        order_id = order_id_of(payload)
        order = await self._orders.get(order_id) if order_id is not None else None
        if order is None or order.user_id != user_id:
            log.error("payment %s (provider %s) of %s %s by user %s matches no order of theirs (payload %r)",
                      telegram_charge_id, provider_charge_id, total_amount, currency, user_id, payload)
            return None, False
        if currency.upper() != order.currency.upper() or total_amount != order.total_cents:
            log.error("order %s (id %s) paid %s %s, but it totals %s %s", order.number, order.id, total_amount,
                      currency, order.total_cents, order.currency)
        async with self._db.transaction() as tx:
            newly = await self._orders.repo.mark_paid(tx, order.id, telegram_charge_id, provider_charge_id)
            if newly:
                await self._orders.announce_paid(tx, order.id)
            paid = await self._orders.repo.get(order.id, tx)
        assert paid is not None
        log.info("order %s (id %s) %s: %d %s, telegram charge %s, provider charge %s", paid.number, paid.id,
                 "paid" if newly else "payment repeated by Telegram", total_amount, currency, telegram_charge_id,
                 provider_charge_id)
        return paid, newly


def _placed_on(order: Order) -> date:
    """The cafe day the order was placed: what a bare pickup time ("12:30") is on."""
    return date.fromisoformat(order.business_day)


# --- what the customer reads ------------------------------------------------------------------------------

def paid(order: Order) -> str:
    """After successful_payment: the money arrived, and where the order is now."""
    amount = price(order.total_cents, order.currency)
    if order.status is OrderStatus.CANCELLED:
        return _("💳 Payment of {total} received, but order {number} was cancelled meanwhile: "
                 "a refund of {total} will follow.").format(total=amount, number=order.number)
    return _("💳 <b>Payment received</b> for order {number} ({total}). The cafe has your order now: "
             "we'll message you when it's accepted and when it's ready.").format(number=order.number, total=amount)


def unmatched(amount: str, charge_id: str) -> str:
    return _("💳 We received your payment of {total} but couldn't match it to an order. Please show this message "
             "at the counter: {charge}").format(total=amount, charge=escape(charge_id))


def refused(reason: str, order: Order) -> str:
    """The chat message after a stale invoice was refused: why, and that the items are back in the cart."""
    return _("⚠️ Order {number} wasn't paid: {reason} It is cancelled; its items are back in your cart at "
             "today's prices.").format(number=order.number, reason=escape(reason))
