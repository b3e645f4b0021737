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

An order not paid within PAYMENT_EXPIRY_MINUTES expires (bot/orders/expiry.py runs the check): the same
`drop_unpayable` cancels it, puts its lines back into an empty cart and queues the customer's one message.
Its invoice is refused from its due moment on, even before the job has run; an approved pre-checkout holds
the order for PAY_HOLD_SECONDS so that no expiry beats the charge Telegram is making. A payment that still
arrives for an expired order is recorded all the same: the order stays cancelled and staff see REFUND DUE.

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
from bot.orders.models import EXPIRED_BY, Order, OrderError, OrderStatus, Payment, Repeat
from bot.orders.pickup import describe, local_now, pickup_moment
from bot.orders.service import OrderService
from bot.text import escape
from storage.db import Database

log = logging.getLogger(__name__)

PAYLOAD_PREFIX = "order:"  # invoice_payload: "order:<id>" (Telegram allows 1-128 bytes, never shown to the user)
TITLE_MAX = 32  # sendInvoice limits
DESCRIPTION_MAX = 255
CHECKED_BY = "payment check"  # who cancels an invoice that can no longer be paid (the status history says so)
# An approved pre-checkout keeps the order from expiring this long: Telegram charges after our answer (seconds).
PAY_HOLD_SECONDS = 300


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
    expired: bool = False  # its payment was due and never came: expire it (`expire`; the job would anyway)


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
        now = self._clock.now().timestamp()
        refused = _as_it_stands(order, now)
        if refused is not None:
            return refused
        if currency.upper() != order.currency.upper() or total_amount != order.total_cents:
            return Verdict(_("The amount of this invoice doesn't match order {number}.").format(number=order.number),
                           order, stale=True)
        reason = self._changed(order)
        if reason is not None:
            return Verdict(reason, order, stale=True)
        if not await self._orders.repo.hold_payment(order.id, now, now + PAY_HOLD_SECONDS):
            # paid, cancelled or expired in the moment since it was read: say which
            again = await self._orders.get(order.id)
            assert again is not None
            return _as_it_stands(again, now) or Verdict(expired_text(again), again, expired=True)
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

    async def drop_unpayable(self, order: Order, *, expired_by: float | None = None) -> Repeat | None:
        """An order whose invoice can no longer be paid: cancelled (no staff ever saw it), its lines back in the cart.

        Two callers, one path. A stale invoice refused at pre-checkout: the customer is paying right now, so the
        lines go back into the cart at today's prices whatever happened meanwhile (the handler tells them). The
        expiry (`expired_by`: the calendar instant its payment had to be in by): only an order still unpaid and
        due by then is cancelled, its lines go back only into an empty cart (confirming emptied it, so anything
        there now is newer and is left alone), and the customer's one message is queued, all in one
        transaction: each order expires once however many replicas try, and a crash leaves it either untouched
        or expired, refilled and announced. Returns None when an expiry found the order no longer due.
        """
        async with self._db.transaction() as tx:
            by = EXPIRED_BY if expired_by is not None else CHECKED_BY
            cancelled = await self._orders.cancel_unpaid(tx, order, by, due_by=expired_by)
            if expired_by is None:
                log.info("order %s (id %s): invoice refused at pre-checkout, %s", order.number, order.id,
                         "order cancelled" if cancelled else "the order changed meanwhile, left as is")
                return await self._orders.repeat_order(order.user_id, order.id, tx)
            if cancelled is None:  # paid, cancelled, held for a charge in flight, or expired by another replica
                return None
            cart = await self._orders.cart(order.user_id, tx)
            kept = not cart.empty
            repeat = (Repeat(order=cancelled, added=[], skipped=[], cart=cart) if kept
                      else await self._orders.repeat_order(order.user_id, order.id, tx))
            await self._orders.tell_expired(tx, cancelled, repeat, kept_cart=kept)
        log.info("order %s (id %s) expired unpaid: cancelled, %s", order.number, order.id,
                 "the cart already held newer items" if kept
                 else f"{len(repeat.added)} lines back in the cart, {len(repeat.skipped)} left out")
        return repeat

    async def expire(self, order: Order) -> Repeat | None:
        """The order's payment time ran out (the expiry job, or its invoice presented late): expire it now."""
        return await self.drop_unpayable(order, expired_by=self._clock.now().timestamp())

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


def _as_it_stands(order: Order, now: float) -> Verdict | None:
    """The refusal an order's state alone decides (paid, cancelled, expired, moved on); None: it may be paid."""
    if order.payment is Payment.PAID:
        return Verdict(_("Order {number} is already paid.").format(number=order.number), order)
    if order.expired_unpaid:
        return Verdict(expired_text(order), order)
    if order.status is OrderStatus.CANCELLED:
        return Verdict(_("Order {number} was cancelled, so it can't be paid. Order again with /menu.").format(
            number=order.number), order)
    if not order.awaiting_payment or order.status is not OrderStatus.NEW:
        return Verdict(_("This invoice is out of date. Open /cart to order again."), order)
    if order.payment_due_at is not None and order.payment_due_at <= now:
        return Verdict(expired_text(order), order, expired=True)
    return None


def _placed_on(order: Order) -> date:
    """The cafe day the order was placed: what a bare pickup time ("12:30") is on."""
    return date.fromisoformat(order.business_day)


# --- what the customer reads ------------------------------------------------------------------------------

def paid(order: Order) -> str:
    """After successful_payment: the money arrived, and where the order is now."""
    amount = price(order.total_cents, order.currency)
    if order.expired_unpaid:
        return _("💳 Payment of {total} received, but order {number} had already expired unpaid and is cancelled: "
                 "a refund of {total} will follow.").format(total=amount, number=order.number)
    if order.status is OrderStatus.CANCELLED:
        return _("💳 Payment of {total} received, but order {number} was cancelled meanwhile: "
                 "a refund of {total} will follow.").format(total=amount, number=order.number)
    return _("💳 <b>Payment received</b> for order {number} ({total}). The cafe has your order now: "
             "we'll message you when it's accepted and when it's ready.").format(number=order.number, total=amount)


def expired_text(order: Order) -> str:
    """Why an expired order's invoice is refused (in Telegram's payment form)."""
    return _("Order {number} has expired: it wasn't paid in time. Please check out again from your /cart.").format(
        number=order.number)


def unmatched(amount: str, charge_id: str) -> str:
    return _("💳 We received your payment of {total} but couldn't match it to an order. Please show this message "
             "at the counter: {charge}").format(total=amount, charge=escape(charge_id))


def refused(reason: str, order: Order) -> str:
    """The chat message after a stale invoice was refused: why, and that the items are back in the cart."""
    return _("⚠️ Order {number} wasn't paid: {reason} It is cancelled; its items are back in your cart at "
             "today's prices.").format(number=order.number, reason=escape(reason))
