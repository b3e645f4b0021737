"""Unpaid orders expire: the periodic job that cancels them, and the customer's message about it.

Paying in the chat (bot/orders/payments.py) places an order that waits for its payment. One never paid
would otherwise keep its number, its payable invoice and a pre-order's slot forever. Confirming stamps
`payment_due_at` (PAYMENT_EXPIRY_MINUTES on the calendar clock); this job, every CHECK_SECONDS on one
replica at a time (the job leases: Redis, else a PostgreSQL advisory lock, else this process), finds the
orders past it and hands each to `Payments.drop_unpayable`, the same path that drops a stale invoice's order.
That path is idempotent by itself (a compare-and-set on the order, its cart refill and the one message in
one transaction), so two replicas running it at once during a Redis outage, or a crash half-way, still
expire each order once with one message.

The clock is the injected calendar clock, so tests move time instead of waiting; the loop's own period is
a duration (`asyncio.sleep`), like the other jobs'.
"""

from __future__ import annotations

import asyncio
import logging

from bot.clock import Clock
from bot.i18n import use_locale
from bot.orders import texts
from bot.orders.payments import Payments
from bot.orders.service import OrderService
from bot.outbox import OutboxRow, Outgoing
from bot.outbox.service import AfterDelivery
from bot.replicas.leases import JobLeases, LocalLeases, run_leased
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

JOB = "payment-expiry"  # the job's lease name
CHECK_SECONDS = 20.0  # how often unpaid orders are looked at: an order expires at most this late
FIRST_CHECK_SECONDS = 3.0  # after a start (orders that ran out while no replica ran go soon)
BATCH = 100  # orders expired per run at most; the next run takes the rest


class PaymentExpiryJob:
    """Every CHECK_SECONDS on one replica: cancel the orders whose payment did not come in time."""

    def __init__(self, payments: Payments, orders: OrderService, clock: Clock, *, leases: JobLeases | None = None,
                 interval: float = CHECK_SECONDS, first_delay: float = FIRST_CHECK_SECONDS,
                 batch: int = BATCH) -> None:
        self._payments = payments
        self._orders = orders
        self._clock = clock  # the calendar clock: what "due" is compared with
        self._leases = leases or LocalLeases()
        self.interval = interval
        self.first_delay = first_delay
        self.batch = batch
        self.expired_total = 0  # orders this process expired since start
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(
            run_leased(self._leases, JOB, self.run_once, interval=self.interval, first_delay=self.first_delay),
            name=JOB)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def run_once(self) -> int:
        """Expire what is due now; how many orders this run expired (another replica's are not counted)."""
        now = self._clock.now().timestamp()
        expired = 0
        for order_id in await self._orders.repo.due_unpaid(now, self.batch):
            order = await self._orders.get(order_id)
            if order is None:
                continue
            try:
                if await self._payments.drop_unpayable(order, expired_by=now) is not None:
                    expired += 1
            except Exception:  # one order's failure does not keep the others (it is tried again next run)
                log.exception("order %s (id %s): expiring it failed", order.number, order.id)
        self.expired_total += expired
        return expired


class ExpiryNotice:
    """Renders ORDER_EXPIRED rows: "your order expired", in the customer's language, with the way back."""

    def __init__(self, orders: OrderService) -> None:
        self._orders = orders

    async def render(self, row: OutboxRow) -> Outgoing | None:
        order = await self._orders.get(int(row.payload["order_id"]))
        if order is None:
            return None
        added, kept = int(row.payload.get("added", 0)), bool(row.payload.get("kept_cart"))
        with use_locale(self._orders.catalogues, await self._orders.language_of(order.user_id)):
            text = texts.expired(order, added=added, skipped=int(row.payload.get("skipped", 0)), kept_cart=kept)
            buttons = self._orders.buttons.after_expiry(cart_filled=kept or added > 0)
        return Outgoing(chat_id=row.chat_id, text=text, reply_markup=buttons)

    def after_delivery(self, row: OutboxRow, outgoing: Outgoing, message_id: int) -> AfterDelivery | None:
        return None
