"""Orders as data: the status machine, carts, orders and what the service answers.

The transitions are the one source of truth for both the staff buttons (which
buttons an order's card shows) and the service (which presses are refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PREPARING = "preparing"
    READY = "ready"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


TRANSITIONS: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    OrderStatus.NEW: (OrderStatus.ACCEPTED, OrderStatus.CANCELLED),
    OrderStatus.ACCEPTED: (OrderStatus.PREPARING, OrderStatus.CANCELLED),
    OrderStatus.PREPARING: (OrderStatus.READY, OrderStatus.CANCELLED),
    OrderStatus.READY: (OrderStatus.COMPLETED,),
    OrderStatus.COMPLETED: (),
    OrderStatus.CANCELLED: (),
}
OPEN_STATUSES = (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PREPARING, OrderStatus.READY)


class Payment(StrEnum):
    """How an order is paid (orders.payment, migration 0011)."""

    PICKUP = "pickup"  # at the counter: payments off (PAYMENT_PROVIDER_TOKEN unset)
    AWAITING = "awaiting"  # invoice sent, not paid: the order does not exist for staff yet
    PAID = "paid"  # Telegram reported successful_payment; cancelled after that, a refund is due


# Who cancels an order left unpaid past its PAYMENT_EXPIRY_MINUTES (the status history's changed_by_name, with
# changed_by NULL): the system, not a person. `Order.expired_unpaid` recognises the cancellation by it.
EXPIRED_BY = "system (expired unpaid)"

MAX_LINE_QUANTITY = 20  # of one item in one size
MAX_CART_ITEMS = 50  # units across the whole cart
MAX_CART_LINES = 25
MAX_NOTE_CHARS = 200
CHECKOUT_TTL_SECONDS = 3600  # an abandoned checkout stops catching the customer's messages after this


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[current]


class OrderError(Exception):
    """A request the customer or staff can fix; the message is shown to them as is."""


@dataclass(frozen=True)
class ChosenOption:
    """One option of a cart line or an ordered item, as the menu had it when chosen (copied onto orders)."""

    group: str  # the option group's id ("milk")
    choice: str  # the choice's id ("oat")
    name: str  # the choice's name in the default language ("Oat milk"), as the kitchen reads it
    price_cents: int  # added to the unit price
    default: bool = False  # the group's default: the item as described, so labels leave it out


@dataclass(frozen=True)
class CartLine:
    id: int
    item_id: str
    size: str
    quantity: int
    name: str  # the current menu name ('' if the item left the menu)
    unit_price_cents: int | None  # None: the item, size or an option is gone from the menu (options included)
    available: bool
    options: tuple[ChosenOption, ...] = ()  # the complete choice, defaults included, in menu order
    options_key: str = ""  # the choice as stored ("milk=oat;shot=extra-shot"): one cart line per key

    @property
    def orderable(self) -> bool:
        return self.unit_price_cents is not None and self.available

    @property
    def line_total_cents(self) -> int:
        return (self.unit_price_cents or 0) * self.quantity


@dataclass(frozen=True)
class Cart:
    user_id: int
    lines: list[CartLine]
    currency: str

    @property
    def total_cents(self) -> int:
        return sum(line.line_total_cents for line in self.lines if line.orderable)

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def empty(self) -> bool:
        return not self.lines

    @property
    def blocked_lines(self) -> list[CartLine]:
        """Lines that stop checkout: sold out, or gone from the menu since they were added."""
        return [line for line in self.lines if not line.orderable]


@dataclass(frozen=True)
class Checkout:
    user_id: int
    chat_id: int
    token: str
    step: str  # pickup | note | confirm
    pickup: str | None
    note: str | None
    fingerprint: str | None
    source: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class OrderLine:
    item_id: str
    name: str
    size: str
    quantity: int
    unit_price_cents: int  # options included
    line_total_cents: int
    options: tuple[ChosenOption, ...] = ()


@dataclass(frozen=True)
class StatusChange:
    from_status: OrderStatus | None
    to_status: OrderStatus
    changed_by: int | None
    changed_by_name: str
    changed_at: float


@dataclass(frozen=True)
class Order:
    id: int
    business_day: str
    day_seq: int
    user_id: int
    chat_id: int
    customer_name: str
    status: OrderStatus
    pickup: str
    note: str
    currency: str
    total_cents: int
    menu_version: str
    source: str
    staff_chat_id: int | None
    staff_message_id: int | None
    created_at: float
    updated_at: float
    lines: list[OrderLine] = field(default_factory=list)
    history: list[StatusChange] = field(default_factory=list)
    payment: Payment = Payment.PICKUP
    telegram_payment_charge_id: str | None = None  # Telegram's id of the payment (a refund names it)
    provider_payment_charge_id: str | None = None  # the provider's id of the charge: what staff refund
    paid_at: float | None = None
    payment_due_at: float | None = None  # awaiting payment: expires then (calendar epoch seconds, migration 0013)

    @property
    def number(self) -> str:
        """What staff call out at the counter: the day's running number."""
        return f"#{self.day_seq:03d}"

    @property
    def awaiting_payment(self) -> bool:
        """Invoiced and not paid: kept from staff (no card, not in /orders, no moves but the customer's cancel)."""
        return self.payment is Payment.AWAITING

    @property
    def refund_due(self) -> bool:
        """Paid in the chat and then cancelled: the money goes back to the customer."""
        return self.payment is Payment.PAID and self.status is OrderStatus.CANCELLED

    @property
    def expired_unpaid(self) -> bool:
        """Cancelled by the expiry job because it was not paid in time (a payment may still have come after)."""
        return (self.status is OrderStatus.CANCELLED and self.payment is not Payment.PICKUP
                and any(h.to_status is OrderStatus.CANCELLED and h.changed_by is None
                        and h.changed_by_name == EXPIRED_BY for h in self.history))


@dataclass(frozen=True)
class Summary:
    """What the customer must confirm: the cart as it will be ordered, and the button's token."""

    user_id: int
    token: str
    lines: list[CartLine]
    total_cents: int
    currency: str
    pickup: str
    note: str
    pay_in_chat: bool = False  # PAYMENT_PROVIDER_TOKEN set: an invoice follows the confirm, else pay at pickup


@dataclass(frozen=True)
class Skipped:
    """A past order's line that could not go back into the cart, and why (already in the reader's language)."""

    item_id: str
    name: str  # as on the order, for an item no longer on the menu
    size: str
    quantity: int
    reason: str
    options: tuple[ChosenOption, ...] = ()


@dataclass(frozen=True)
class Repeat:
    """What "Repeat" put into the cart from a past order: the lines added at today's prices, and the ones left out."""

    order: Order
    added: list[CartLine]
    skipped: list[Skipped]
    cart: Cart
