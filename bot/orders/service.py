"""OrderService: carts, checkout, placing orders and moving them through their states.

Buttons (handlers/orders/menu.py, cart.py, staff.py) and the
agent's tools (bot/orders/tools.py) both go through this one API, so the rules are
the same whichever way a customer orders: items must exist and be available,
quantities are bounded, a cart line belongs to the user who presses, the confirm
button only works for the summary it was shown under, an order moves only along
the state machine, and every notification is written to the outbox in the same
transaction as the change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.i18n import N_, Catalogues, _, use_locale
from bot.knowledge import CafeInfo, Closure, KnowledgeBase, Menu, MenuItem
from bot.orders import options as item_options
from bot.orders import texts
from bot.orders.buttons import OrderButtons
from bot.orders.models import (
    CHECKOUT_TTL_SECONDS,
    MAX_CART_ITEMS,
    MAX_CART_LINES,
    MAX_LINE_QUANTITY,
    MAX_NOTE_CHARS,
    OPEN_STATUSES,
    Cart,
    CartLine,
    Checkout,
    ChosenOption,
    Order,
    OrderError,
    OrderLine,
    OrderStatus,
    Payment,
    Repeat,
    Skipped,
    Summary,
    can_transition,
)
from bot.orders.pause import OrderingPause
from bot.orders.pickup import (
    ASAP,
    PickupRules,
    cafe_zone,
    is_open_now,
    local_now,
    pickup_moment,
    preorder_at,
    preorder_slots,
    suggested_times,
    validate_pickup,
)
from bot.outbox import NORMAL, URGENT, Outbox, OutboxRow, Outgoing
from bot.outbox.service import AfterDelivery
from storage.db import Database, Row, Transaction
from storage.orders import OrderRepository
from storage.users import UserRepository

log = logging.getLogger(__name__)

ORDER_CARD = "order_card"  # outbox kind: the staff message of one order, rendered at delivery time
ORDER_STATUS = "order_status"  # outbox kind: "your order is ready", rendered at delivery in the customer's language
ORDER_REMINDER = "order_reminder"  # outbox kind: a pre-order announced to staff again shortly before its pickup
ORDER_EXPIRED = "order_expired"  # outbox kind: "your unpaid order expired", in the customer's language at delivery
# A reminder is worth sending while the kitchen still has the order to make; reaching any other status drops it.
REMIND_STATUSES = (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PREPARING)
STAFF_CLOSURES_AHEAD_DAYS = 14  # /orders in the staff group names closures and special days this far ahead
STALE_CHECKOUT = N_("This checkout is out of date. Open /cart to check out again.")


class OrderService:
    def __init__(
        self, settings: Settings, db: Database, knowledge: KnowledgeBase, users: UserRepository, outbox: Outbox,
        buttons: OrderButtons, pause: OrderingPause, clock: Clock | None = None,
        catalogues: Catalogues | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock or SystemClock()  # the calendar "now": today's hours, pickup times, the order day
        self._db = db
        self._knowledge = knowledge
        self._users = users
        self._outbox = outbox
        self.buttons = buttons  # the staff card's and the checkout summary's, as the messenger's JSON
        self.pause = pause  # /pause from the staff group: checkout refuses (and says until when) while it holds
        self.pickup_rules = PickupRules(days_ahead=settings.preorder_days, slot_minutes=settings.pickup_slot_minutes,
                                        lead_minutes=settings.pickup_lead_minutes)
        self.repo = OrderRepository(db)
        self.pay_in_chat = settings.payments_enabled  # an invoice after the confirm; the order reaches staff once paid
        self.catalogues = catalogues or Catalogues()  # outbox deliveries speak the reader's language
        self.customer_status = CustomerStatus(self)  # the outbox's renderer of ORDER_STATUS rows
        self.staff_reminder = StaffReminder(self, settings.staff_language)  # renders ORDER_REMINDER rows

    @property
    def menu(self) -> Menu:
        return self._knowledge.menu

    @property
    def cafe(self) -> CafeInfo:
        return self._knowledge.cafe

    def pickup_choices(self) -> tuple[list[str], bool]:
        """The pickup times worth a button now, and whether "as soon as possible" can be offered."""
        now = self._clock.now()
        return suggested_times(self.cafe, now, rules=self.pickup_rules), is_open_now(self.cafe, now)

    def preorder_choices(self, wanted: int = 3) -> list[tuple[date, list[str]]]:
        """Slots at the next openings, offered when today has fewer than `wanted` pickup times left.

        With the kitchen open and times to spare the buttons stay today's; a later day is still
        one typed "tomorrow 8:15" away.
        """
        now = self._clock.now()
        if len(suggested_times(self.cafe, now, rules=self.pickup_rules)) >= wanted:
            return []
        return preorder_slots(self.cafe, now, self.pickup_rules)

    def today(self) -> date:
        """The cafe's local date now: what "today" and "tomorrow" in a pickup are relative to."""
        return local_now(self.cafe, self._clock.now()).date()

    def closures_ahead(self) -> list[Closure]:
        """Closures and special hours from today on, as far as staff plan (and at least the pre-order horizon)."""
        today = self.today()
        days = max(STAFF_CLOSURES_AHEAD_DAYS, self.pickup_rules.days_ahead)
        return self.cafe.closures_between(today, today + timedelta(days=days))

    # --- menu lookups --------------------------------------------------------------------
    def resolve(self, item_id: str, size: str | None) -> tuple[MenuItem, str, int]:
        """The item, the size as stored ('' without sizes) and its unit price; OrderError otherwise."""
        item = self.menu.item(item_id)
        if item is None:
            raise OrderError(_("That item isn't on our menu (any more). Have a look at the /menu."))
        if not item.available:
            raise OrderError(_("Sorry, {item} is sold out today.").format(item=item.name))
        wanted = (size or "").strip().lower()
        if item.sizes:
            wanted = wanted or (item.default_size or "")
            price = item.price_for(wanted)
            if price is None:
                raise OrderError(_("{item} comes in {sizes}.").format(item=item.name, sizes=", ".join(item.sizes)))
            return item, wanted, price
        if wanted not in ("", "regular"):
            raise OrderError(_("{item} comes in one size only.").format(item=item.name))
        return item, "", item.price_cents or 0

    def _line(self, row: Row) -> CartLine:
        item = self.menu.item(row["item_id"])
        price = item.price_for(row["size"] or None) if item is not None else None
        stored = row["options"] or ""
        chosen: tuple[ChosenOption, ...] = ()
        if item is not None and price is not None:
            try:  # the options as the menu in force has them: one gone (or a new required group) blocks the line
                chosen = item_options.choose(item, item_options.parse_key(stored), self.menu.currency)
            except OrderError:
                price = None
            else:
                price += item_options.extra_cents(chosen)
        return CartLine(
            id=int(row["id"]), item_id=row["item_id"], size=row["size"], quantity=int(row["quantity"]),
            name=item.name if item else "", unit_price_cents=price, available=bool(item and item.available),
            options=chosen, options_key=stored,
        )

    # --- cart ------------------------------------------------------------------------------
    async def cart(self, user_id: int, conn: Transaction | None = None) -> Cart:
        rows = await self.repo.cart_rows(user_id, conn)
        return Cart(user_id=user_id, lines=[self._line(r) for r in rows], currency=self.menu.currency)

    async def add_to_cart(self, user_id: int, item_id: str, size: str | None = None, quantity: int = 1,
                          options: Iterable[tuple[str, str]] = ()) -> tuple[CartLine, Cart]:
        """Add `quantity` of the item in `size` with `options` ((group id, choice id) pairs, defaults filled in).

        The same item with other options is another cart line.
        """
        async with self._db.transaction() as tx:
            return await self._add(tx, user_id, item_id, size, quantity, options)

    async def _add(self, tx: Transaction, user_id: int, item_id: str, size: str | None, quantity: int,
                   options: Iterable[tuple[str, str]]) -> tuple[CartLine, Cart]:
        """`add_to_cart` inside the caller's transaction. Every refusal is raised before anything is written."""
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_LINE_QUANTITY:
            raise OrderError(_("You can add between 1 and {most} at a time.").format(most=MAX_LINE_QUANTITY))
        item, stored_size, _unit = self.resolve(item_id, size)
        chosen_key = item_options.key(item_options.choose(item, options, self.menu.currency))
        current = await self.cart(user_id, tx)
        same = next((li for li in current.lines if li.item_id == item.id and li.size == stored_size
                     and li.options_key == chosen_key), None)
        already = same.quantity if same else 0
        if already + quantity > MAX_LINE_QUANTITY:
            raise OrderError(_("At most {most} × {item} per order (you have {already} in your cart).").format(
                most=MAX_LINE_QUANTITY, item=item.name, already=already))
        if current.units + quantity > MAX_CART_ITEMS:
            raise OrderError(_("An order can hold at most {most} items; for bigger orders please call the "
                               "cafe.").format(most=MAX_CART_ITEMS))
        if same is None and len(current.lines) >= MAX_CART_LINES:
            raise OrderError(_("An order can hold at most {most} different items.").format(most=MAX_CART_LINES))
        line_id = await self.repo.add_cart_quantity(tx, user_id, item.id, stored_size, quantity, chosen_key)
        cart = await self.cart(user_id, tx)
        line = next(li for li in cart.lines if li.id == line_id)
        return line, cart

    async def change_quantity(self, user_id: int, line_id: int, delta: int) -> Cart:
        """+1/−1 on the presser's own line (down to 0 removes it)."""
        async with self._db.transaction() as tx:
            current = await self.cart(user_id, tx)
            line = next((li for li in current.lines if li.id == line_id), None)
            if line is None:
                raise OrderError(_("That item is no longer in your cart."))
            new = line.quantity + delta
            if new > MAX_LINE_QUANTITY:
                raise OrderError(_("At most {most} of one item per order.").format(most=MAX_LINE_QUANTITY))
            if delta > 0 and current.units + delta > MAX_CART_ITEMS:
                raise OrderError(_("An order can hold at most {most} items.").format(most=MAX_CART_ITEMS))
            await self.repo.set_cart_quantity(tx, user_id, line_id, new)
            return await self.cart(user_id, tx)

    async def remove_line(self, user_id: int, line_id: int) -> Cart:
        async with self._db.transaction() as tx:
            if not await self.repo.set_cart_quantity(tx, user_id, line_id, 0):
                raise OrderError(_("That item is no longer in your cart."))
            return await self.cart(user_id, tx)

    async def clear_cart(self, user_id: int) -> None:
        async with self._db.transaction() as tx:
            await self.repo.clear_cart(tx, user_id)

    # --- checkout ----------------------------------------------------------------------------
    def _check_orderable(self, cart: Cart) -> None:
        if cart.empty:
            raise OrderError(_("Your cart is empty. Browse the /menu to add something."))
        blocked = cart.blocked_lines
        if blocked:
            names = ", ".join(li.name or li.item_id for li in blocked)
            raise OrderError(_("Please remove {items} from your /cart first: sold out or no longer on the "
                               "menu.").format(items=names))

    async def start_checkout(self, user_id: int, chat_id: int, source: str = "buttons") -> tuple[Checkout, Cart]:
        cart = await self.cart(user_id)
        self._check_orderable(cart)
        await self.pause.check()
        await self.repo.start_checkout(user_id, chat_id, secrets.token_urlsafe(9), source)
        checkout = await self.repo.checkout(user_id)
        assert checkout is not None
        return checkout, cart

    async def active_checkout(self, user_id: int) -> Checkout | None:
        """The customer's checkout unless abandoned for CHECKOUT_TTL_SECONDS (then it is dropped)."""
        checkout = await self.repo.checkout(user_id)
        if checkout is not None and time.time() - checkout.updated_at > CHECKOUT_TTL_SECONDS:
            await self.repo.delete_checkout(user_id)
            return None
        return checkout

    async def _current(self, user_id: int, token: str) -> Checkout:
        checkout = await self.active_checkout(user_id)
        if checkout is None or not secrets.compare_digest(checkout.token, token):
            raise OrderError(_(STALE_CHECKOUT))
        return checkout

    async def set_pickup(self, user_id: int, token: str, value: str) -> Checkout:
        await self._current(user_id, token)
        pickup = validate_pickup(value, self._knowledge.cafe, self._clock.now(), self.pickup_rules)
        if not await self.repo.update_checkout(user_id, token, pickup=pickup, step="note"):
            raise OrderError(_(STALE_CHECKOUT))
        return await self._current(user_id, token)

    async def set_note(self, user_id: int, token: str, note: str | None) -> Summary:
        checkout = await self._current(user_id, token)
        if checkout.pickup is None:
            raise OrderError(_("Please choose a pickup time first."))
        cleaned = " ".join((note or "").split())
        if len(cleaned) > MAX_NOTE_CHARS:
            raise OrderError(_("Please keep the note under {most} characters (yours has {length}).").format(
                most=MAX_NOTE_CHARS, length=len(cleaned)))
        if not await self.repo.update_checkout(user_id, token, note=cleaned):
            raise OrderError(_(STALE_CHECKOUT))
        return await self.summary(user_id, token)

    async def summary(self, user_id: int, token: str) -> Summary:
        """Freeze what the customer will confirm: the fingerprint ties the button to this exact order."""
        checkout = await self._current(user_id, token)
        cart = await self.cart(user_id)
        self._check_orderable(cart)
        pickup, note = checkout.pickup or ASAP, checkout.note or ""
        fingerprint = self._fingerprint(cart, pickup, note)
        if not await self.repo.update_checkout(user_id, token, step="confirm", fingerprint=fingerprint,
                                               pickup=pickup, note=note):
            raise OrderError(_(STALE_CHECKOUT))
        return Summary(user_id=user_id, token=token, lines=cart.lines, total_cents=cart.total_cents,
                       currency=cart.currency, pickup=pickup, note=note, pay_in_chat=self.pay_in_chat)

    async def place_order(self, user_id: int, chat_id: int, pickup: str = ASAP, note: str = "",
                          source: str = "agent") -> Summary:
        """Checkout in one step (the agent's place_order): returns the summary awaiting confirmation."""
        checkout, _cart = await self.start_checkout(user_id, chat_id, source)
        await self.set_pickup(user_id, checkout.token, pickup)
        return await self.set_note(user_id, checkout.token, note)

    async def cancel_checkout(self, user_id: int, token: str | None = None) -> None:
        if token is not None:
            await self._current(user_id, token)
        await self.repo.delete_checkout(user_id)

    def _fingerprint(self, cart: Cart, pickup: str, note: str) -> str:
        lines = [(li.item_id, li.size, li.options_key, li.quantity, li.unit_price_cents) for li in cart.lines]
        raw = json.dumps([self.menu.version, lines, pickup, note], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    async def confirm(self, user_id: int, token: str) -> tuple[Order, bool]:
        """Place the order the summary showed; (order, created). A second press returns the same order."""
        if await self.repo.checkout(user_id) is not None:  # not a repeated press of a placed order
            await self.pause.check()
        async with self._db.transaction() as tx:
            existing = await self.repo.order_id_for_token(tx, token)
            if existing is not None:
                order = await self.repo.get(existing, tx)
                if order is None or order.user_id != user_id:
                    raise OrderError(_(STALE_CHECKOUT))
                return order, False
            checkout = await self.repo.checkout(user_id, tx)
            if (checkout is None or not secrets.compare_digest(checkout.token, token) or checkout.step != "confirm"
                    or time.time() - checkout.updated_at > CHECKOUT_TTL_SECONDS):
                raise OrderError(_(STALE_CHECKOUT))
            cart = await self.cart(user_id, tx)
            self._check_orderable(cart)
            pickup, note = checkout.pickup or ASAP, checkout.note or ""
            if self._fingerprint(cart, pickup, note) != checkout.fingerprint:
                raise OrderError(_("Your cart or our menu changed since this summary. Open /cart to check out again."))
            today = local_now(self._knowledge.cafe, self._clock.now())
            moment = pickup_moment(pickup, today.date())
            if moment is not None and moment < (today.date(), today.strftime("%H:%M")):
                raise OrderError(_("The pickup time {time} has passed. Open /cart to choose another.").format(
                    time=moment[1]))
            lines = [OrderLine(item_id=li.item_id, name=li.name, size=li.size, quantity=li.quantity,
                               unit_price_cents=li.unit_price_cents or 0, line_total_cents=li.line_total_cents,
                               options=li.options)
                     for li in cart.lines]
            name = await self._customer_name(user_id)
            order_id = await self.repo.insert_order(
                tx, business_day=today.date().isoformat(), user_id=user_id,
                chat_id=checkout.chat_id, customer_name=name, pickup=pickup, note=note, currency=cart.currency,
                menu_version=self.menu.version, source=checkout.source, checkout_token=token,
                staff_chat_id=self._settings.staff_chat_id, lines=lines, changed_by_name=name,
                payment=Payment.AWAITING if self.pay_in_chat else Payment.PICKUP,
                payment_due_at=self.payment_due_at() if self.pay_in_chat else None,
            )
            await self.repo.clear_cart(tx, user_id)
            if not self.pay_in_chat:  # paying in the chat: staff hear of it once paid (bot/orders/payments.py)
                await self._notify_staff(tx, order_id, new=True)
                await self._schedule_reminder(tx, order_id, pickup)
            order = await self.repo.get(order_id, tx)
        assert order is not None
        log.info("order %s (id %s) placed by user %s via %s: %d items, %d cents, payment %s", order.number, order.id,
                 user_id, order.source, sum(li.quantity for li in order.lines), order.total_cents, order.payment.value)
        return order, True

    def payment_due_at(self) -> float:
        """When an order confirmed now expires unless paid: PAYMENT_EXPIRY_MINUTES on the calendar clock."""
        return self._clock.now().timestamp() + self._settings.payment_expiry_minutes * 60

    async def _customer_name(self, user_id: int) -> str:
        user = await self._users.get(user_id)
        if user is None:
            return f"user {user_id}"
        name = user.first_name or f"user {user_id}"
        return f"{name} (@{user.username})" if user.username else name

    async def announce_paid(self, tx: Transaction, order_id: int) -> None:
        """A paid order's first staff card (paying in the chat: the order reaches staff only now), and its reminder."""
        await self._notify_staff(tx, order_id, new=True)
        order = await self.repo.get(order_id, tx)
        if order is not None and order.status in REMIND_STATUSES:  # not one cancelled while the payment ran
            await self._schedule_reminder(tx, order_id, order.pickup)

    async def _notify_staff(self, tx: Transaction, order_id: int, *, new: bool = False) -> None:
        """Queue the order's staff card: a new order's first card goes ahead of edits of older cards.

        Telegram lets a bot send about 20 messages a minute to a group; in a rush the
        kitchen must learn about new orders first, while a card edit (the staff member
        who pressed already saw the change confirmed) can wait, and coalesces: one pending
        row per order renders the latest state when it is delivered.
        """
        staff_chat = self._settings.staff_chat_id
        if staff_chat is None:
            log.warning("STAFF_CHAT_ID is not set: order id %s is not sent to staff", order_id)
            return
        await self._outbox.add(tx, kind=ORDER_CARD, chat_id=staff_chat, payload={"order_id": order_id},
                               order_id=order_id, dedupe_key=f"card:{order_id}", priority=URGENT if new else NORMAL)

    async def _schedule_reminder(self, tx: Transaction, order_id: int, pickup: str) -> None:
        """A pre-order's second announcement to staff, PREORDER_REMIND_MINUTES before its pickup.

        Written now, with the order, so it survives restarts and is sent once by whichever process
        claims it when the calendar clock reaches it; the outbox keeps it out of the staff chat's
        queue until then. Dropped when the order is ready, picked up or cancelled before (`transition`).
        """
        staff_chat, minutes = self._settings.staff_chat_id, self._settings.preorder_remind_minutes
        at = preorder_at(pickup, self.cafe)
        if staff_chat is None or minutes == 0 or at is None:
            return
        remind_at = at.timestamp() - minutes * 60
        if remind_at <= self._clock.now().timestamp():
            return  # the pickup is that close already: the new order's card is the announcement
        await self._outbox.add(tx, kind=ORDER_REMINDER, chat_id=staff_chat, payload={"order_id": order_id},
                               order_id=order_id, dedupe_key=f"reminder:{order_id}", priority=URGENT,
                               not_before=remind_at)

    # --- staff -------------------------------------------------------------------------------
    async def get(self, order_id: int) -> Order | None:
        return await self.repo.get(order_id)

    async def transition(self, order_id: int, target: OrderStatus, by: int | None, by_name: str,
                         *, expect: Order | None = None, tell_customer: bool = True) -> Order:
        """Move the order one step; the staff card is re-rendered and the customer told, through the outbox.

        `expect`: the order as the caller checked it; the change only happens from that status.
        """
        order = expect or await self.repo.get(order_id)
        if order is None:
            raise OrderError(_("This order doesn't exist."))
        async with self._db.transaction() as tx:
            changed = await self._transition(tx, order, target, by, by_name, tell_customer=tell_customer)
        if changed is None:
            raise OrderError(_("Order {number} was just changed by someone else. Look at the card again.").format(
                number=order.number))
        return changed

    async def cancel_unpaid(self, tx: Transaction, order: Order, by_name: str, *,
                            due_by: float | None = None) -> Order | None:
        """Cancel an order still awaiting its payment, in the caller's transaction; None if it moved meanwhile.

        No staff card (staff never saw it) and no status message (the caller tells the customer). `due_by`:
        only if its payment was due by then (the expiry job), so a payment held in flight is never beaten.
        """
        if order.status is not OrderStatus.NEW or not order.awaiting_payment:
            return None
        return await self._transition(tx, order, OrderStatus.CANCELLED, None, by_name, tell_customer=False,
                                      unpaid=True, due_by=due_by)

    async def tell_expired(self, tx: Transaction, order: Order, repeat: Repeat, *, kept_cart: bool) -> None:
        """Queue the customer's one message that their unpaid order expired (rendered in their language)."""
        await self._outbox.add(tx, kind=ORDER_EXPIRED, chat_id=order.chat_id, order_id=order.id,
                               dedupe_key=f"expired:{order.id}",
                               payload={"order_id": order.id, "added": len(repeat.added),
                                        "skipped": len(repeat.skipped), "kept_cart": kept_cart})

    async def _transition(self, tx: Transaction, order: Order, target: OrderStatus, by: int | None, by_name: str,
                          *, tell_customer: bool, unpaid: bool = False, due_by: float | None = None) -> Order | None:
        """The one step of `transition` inside a transaction: None if the order is no longer as `order` shows it."""
        if not can_transition(order.status, target):
            raise OrderError(_("Order {number} is {status}; it can't be marked {target}.").format(
                number=order.number, status=texts.status_name(order.status), target=texts.status_name(target)))
        if order.awaiting_payment and target is not OrderStatus.CANCELLED:  # staff never saw it: a forged press
            raise OrderError(_("Order {number} isn't paid yet.").format(number=order.number))
        if not await self.repo.change_status(tx, order.id, order.status, target, by, by_name, unpaid=unpaid,
                                             due_by=due_by):
            return None
        changed = await self.repo.get(order.id, tx)
        assert changed is not None
        if not changed.awaiting_payment:  # an unpaid order has no staff card: staff hear of it once paid
            await self._notify_staff(tx, order.id)
        if target not in REMIND_STATUSES:
            await self._outbox.skip_pending(tx, order_id=order.id, kind=ORDER_REMINDER)
        if tell_customer:
            await self._outbox.add(tx, kind=ORDER_STATUS, chat_id=changed.chat_id,
                                   payload={"order_id": order.id, "status": target.value}, order_id=order.id)
        log.info("order %s (id %s): %s → %s by %s", order.number, order.id, order.status.value, target.value,
                 by if by is not None else by_name)
        return changed

    async def customer_order(self, user_id: int, order_id: int, conn: Transaction | None = None) -> Order:
        """The presser's own order; anyone else's (a forged button) is refused like a missing one."""
        order = await self.repo.get(order_id, conn)
        if order is None or order.user_id != user_id:
            raise OrderError(_("This isn't one of your orders. See /orders for yours."))
        return order

    async def cancel_by_customer(self, user_id: int, order_id: int, by_name: str) -> Order:
        """Customers may cancel until the cafe accepts; later only staff can (the kitchen may have started)."""
        order = await self.customer_order(user_id, order_id)
        if order.status is not OrderStatus.NEW:
            raise OrderError(texts.too_late_to_cancel(order, self.cafe.phone))
        try:
            return await self.transition(order_id, OrderStatus.CANCELLED, user_id, f"{by_name} (customer)",
                                         expect=order, tell_customer=False)
        except OrderError:  # staff pressed Accept at the same moment: say what it is now
            now = await self.customer_order(user_id, order_id)
            raise OrderError(texts.too_late_to_cancel(now, self.cafe.phone)) from None

    async def repeat_order(self, user_id: int, order_id: int, tx: Transaction | None = None) -> Repeat:
        """Put the presser's own past order back into their cart, line by line, at today's menu prices.

        Each line goes through `add_to_cart` (the menu's Add button), so the same checks apply: an item
        off the menu, sold out, in a size or with an option no longer offered (or a new required choice)
        or over the cart's limits is skipped with the reason, and the rest is added. The options chosen
        then are asked for again; the defaults are today's. Nothing is ordered: the customer checks out as usual.
        `tx`: inside the caller's transaction (an unpaid order cancelled and its lines put back, all or nothing).
        """
        if tx is None:
            async with self._db.transaction() as own:
                return await self.repeat_order(user_id, order_id, own)
        order = await self.customer_order(user_id, order_id, tx)
        added: list[CartLine] = []
        skipped: list[Skipped] = []
        for past in order.lines:
            item, name = self.menu.item(past.item_id), past.name
            if item is None:
                skipped.append(Skipped(past.item_id, name, past.size, past.quantity, _("no longer on the menu"),
                                       past.options))
                continue
            if not item.available:
                skipped.append(Skipped(past.item_id, name, past.size, past.quantity, _("sold out today"),
                                       past.options))
                continue
            try:
                line, _cart = await self._add(tx, user_id, past.item_id, past.size or None, past.quantity,
                                              item_options.pairs_of(past.options, explicit_only=True))
            except OrderError as exc:
                skipped.append(Skipped(past.item_id, name, past.size, past.quantity, str(exc), past.options))
                continue
            added.append(replace(line, quantity=past.quantity))
        log.info("order %s (id %s) repeated by %s: %d added, %d skipped", order.number, order.id, user_id,
                 len(added), len(skipped))
        return Repeat(order=order, added=added, skipped=skipped, cart=await self.cart(user_id, tx))

    async def open_orders(self) -> list[Order]:
        ids = await self.repo.list_ids(statuses=OPEN_STATUSES, unpaid=False)  # staff's list: no unpaid invoices
        return [o for o in [await self.repo.get(i) for i in ids] if o is not None]

    async def orders_of(self, user_id: int, limit: int = 5) -> list[Order]:
        ids = await self.repo.list_ids(statuses=tuple(OrderStatus), user_id=user_id, limit=limit)
        return [o for o in [await self.repo.get(i) for i in ids] if o is not None]

    # --- the staff card, rendered when the outbox delivers it -------------------------------------
    async def render(self, row: OutboxRow) -> Outgoing | None:
        order = await self.repo.get(int(row.payload["order_id"]))
        if order is None:
            return None
        edit = order.staff_message_id if order.staff_chat_id == row.chat_id else None
        with use_locale(self.catalogues, self._settings.staff_language):
            return Outgoing(
                chat_id=row.chat_id, text=texts.staff_card(order, cafe_zone(self._knowledge.cafe), self.today()),
                reply_markup=self.buttons.staff_card(order) or {"inline_keyboard": []},
                edit_message_id=edit,
            )

    async def language_of(self, user_id: int) -> str:
        """The language a customer reads: their /language choice, else Telegram's, else the default."""
        user = await self._users.get(user_id)
        return self.catalogues.resolve(user.language, user.language_code) if user else self.catalogues.default

    def after_delivery(self, row: OutboxRow, outgoing: Outgoing, message_id: int) -> AfterDelivery | None:
        if outgoing.edit_message_id == message_id:
            return None
        order_id = int(row.payload["order_id"])

        async def remember(tx: Transaction) -> None:
            await self.repo.set_staff_message(tx, order_id, outgoing.chat_id, message_id)

        return remember


class CustomerStatus:
    """Renders ORDER_STATUS rows: the status the order reached, told in the customer's language at delivery.

    The row keeps the status it announces (not the order's latest), so "accepted" and "ready" pressed in
    quick succession still arrive as two messages, each saying its own step.
    """

    def __init__(self, orders: OrderService) -> None:
        self._orders = orders

    async def render(self, row: OutboxRow) -> Outgoing | None:
        order = await self._orders.repo.get(int(row.payload["order_id"]))
        if order is None:
            return None
        with use_locale(self._orders.catalogues, await self._orders.language_of(order.user_id)):
            text = texts.customer_status(order, OrderStatus(row.payload["status"]))
        return Outgoing(chat_id=row.chat_id, text=text)

    def after_delivery(self, row: OutboxRow, outgoing: Outgoing, message_id: int) -> AfterDelivery | None:
        return None


class StaffReminder:
    """Renders ORDER_REMINDER rows: "pre-order #001, pickup today 08:15", in the staff language, at delivery.

    Rendered from the order as it is then: one the kitchen no longer has to make (ready, picked up,
    cancelled) says nothing, in case its row was not dropped with the change.
    """

    def __init__(self, orders: OrderService, language: str) -> None:
        self._orders = orders
        self._language = language  # STAFF_LANGUAGE

    async def render(self, row: OutboxRow) -> Outgoing | None:
        order = await self._orders.repo.get(int(row.payload["order_id"]))
        if order is None or order.status not in REMIND_STATUSES:
            return None
        with use_locale(self._orders.catalogues, self._language):
            return Outgoing(chat_id=row.chat_id, text=texts.staff_reminder(order, self._orders.today()))

    def after_delivery(self, row: OutboxRow, outgoing: Outgoing, message_id: int) -> AfterDelivery | None:
        return None
