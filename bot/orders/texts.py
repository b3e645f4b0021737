"""What customers and staff read: menu pages, the cart, the summary, the staff card.

Everything returns Telegram HTML with user-supplied text escaped.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.knowledge import Category, Menu, MenuItem, format_price
from bot.orders.models import Cart, CartLine, Order, OrderLine, OrderStatus, Summary
from bot.orders.pickup import describe
from bot.text import escape

STATUS_ICON = {
    OrderStatus.NEW: "🆕", OrderStatus.ACCEPTED: "👍", OrderStatus.PREPARING: "☕",
    OrderStatus.READY: "✅", OrderStatus.COMPLETED: "✔️", OrderStatus.CANCELLED: "❌",
}
STATUS_BUTTON = {
    OrderStatus.ACCEPTED: "👍 Accept", OrderStatus.PREPARING: "☕ Preparing", OrderStatus.READY: "✅ Ready",
    OrderStatus.COMPLETED: "✔️ Picked up", OrderStatus.CANCELLED: "❌ Cancel",
}
CUSTOMER_STATUS = {
    OrderStatus.ACCEPTED: "👍 Your order {number} was accepted — we'll start on it shortly.",
    OrderStatus.PREPARING: "☕ We're preparing your order {number}.",
    OrderStatus.READY: "✅ Your order {number} is ready! Pick it up at the counter.",
    OrderStatus.COMPLETED: "🙏 Order {number} completed. Enjoy, and thanks for ordering!",
    OrderStatus.CANCELLED: "❌ Sorry, your order {number} was cancelled by the cafe. Please ask at the counter, "
                           "or order again with /menu.",
}

EMPTY_CART = "🛒 Your cart is empty. Browse the /menu to add something."
STALE_BUTTON = "This button is out of date. Open /cart or /menu again."


def item_price(menu: Menu, item: MenuItem) -> str:
    if item.sizes:
        return " / ".join(f"{size} {menu.price(cents)}" for size, cents in item.sizes.items())
    return menu.price(item.price_cents or 0)


def menu_home() -> str:
    return "📋 <b>Menu</b>\nPick a category:"


def category_page(menu: Menu, category: Category) -> str:
    lines = [f"📋 <b>{escape(category.name)}</b>", ""]
    for item in category.items:
        tags = f" · <i>{escape(', '.join(item.tags))}</i>" if item.tags else ""
        sold = " · <b>sold out</b>" if not item.available else ""
        lines.append(f"• {escape(item.name)} — {item_price(menu, item)}{tags}{sold}")
    lines += ["", "Tap an item to add it to your cart."]
    return "\n".join(lines)


def item_page(menu: Menu, item: MenuItem, size: str, quantity: int) -> str:
    lines = [f"<b>{escape(item.name)}</b> — {item_price(menu, item)}"]
    if item.description:
        lines.append(escape(item.description))
    if item.tags:
        lines.append(f"🌱 {escape(', '.join(item.tags))}")
    lines.append(f"⚠️ Allergens: {escape(', '.join(item.allergens)) if item.allergens else 'none listed'}")
    if not item.available:
        lines += ["", "<b>Sold out today.</b>"]
    else:
        unit = item.price_for(size) or 0
        chosen = f" ({escape(size)})" if size else ""
        lines += ["", f"{quantity} × {escape(item.name)}{chosen} = {menu.price(unit * quantity)}"]
    return "\n".join(lines)


def line_label(name: str, size: str) -> str:
    return f"{escape(name)} ({escape(size)})" if size else escape(name)


def cart_line(menu: Menu, line: CartLine) -> str:
    if line.unit_price_cents is None:
        return f"• {line.quantity} × {escape(line.item_id)} — <b>no longer on the menu</b>"
    text = f"• {line.quantity} × {line_label(line.name, line.size)} — {menu.price(line.line_total_cents)}"
    return text if line.available else f"{text} — <b>sold out, please remove</b>"


def cart_page(menu: Menu, cart: Cart) -> str:
    if cart.empty:
        return EMPTY_CART
    lines = ["🛒 <b>Your cart</b>", ""]
    lines += [cart_line(menu, line) for line in cart.lines]
    lines += ["", f"<b>Total: {menu.price(cart.total_cents)}</b>"]
    return "\n".join(lines)


def ask_pickup(menu: Menu, cart: Cart) -> str:
    return (f"{cart_page(menu, cart)}\n\n🕒 <b>When will you pick it up?</b>\n"
            "Press a button or send a time like 12:30.")


def ask_note(pickup: str) -> str:
    return (f"🕒 Pickup {describe(pickup)}.\n\n📝 Anything we should know? Send a short note "
            "(e.g. “oat milk, no sugar”) or press Skip.")


def summary_page(menu: Menu, summary: Summary) -> str:
    lines = ["🧾 <b>Please check your order</b>", ""]
    lines += [cart_line(menu, line) for line in summary.lines]
    lines += ["", f"<b>Total: {menu.price(summary.total_cents)}</b>", f"🕒 Pickup {describe(summary.pickup)}"]
    if summary.note:
        lines.append(f"📝 Note: {escape(summary.note)}")
    lines += ["", "Press <b>Confirm order</b> to send it to the cafe."]
    return "\n".join(lines)


def order_price(order: Order, cents: int) -> str:
    return format_price(cents, order.currency)


def order_line(order: Order, line: OrderLine) -> str:
    return f"{line.quantity} × {line_label(line.name, line.size)} — {order_price(order, line.line_total_cents)}"


def placed(order: Order) -> str:
    return (f"✅ <b>Order {order.number} placed</b> — {order_price(order, order.total_cents)}, "
            f"pickup {describe(order.pickup)}.\n"
            "We'll message you here when the cafe accepts it and when it's ready."
            + (" You can cancel it until then." if order.status is OrderStatus.NEW else ""))


def cancelled_by_customer(order: Order) -> str:
    return (f"❌ <b>Order {order.number} cancelled</b> at your request — nothing to pay. "
            "Order again any time with /menu.")


def too_late_to_cancel(order: Order, phone: str) -> str:
    if order.status is OrderStatus.CANCELLED:
        return f"Order {order.number} is already cancelled."
    if order.status is OrderStatus.COMPLETED:
        return f"Order {order.number} is already picked up."
    call = f" please call us on {phone}" if phone else " please ask at the counter"
    return f"The cafe has already {order.status.value} order {order.number}. To change it,{call}."


def customer_status(order: Order) -> str:
    return CUSTOMER_STATUS[order.status].format(number=order.number)


def staff_card(order: Order, zone: ZoneInfo) -> str:
    """The one message per order in the staff group, edited in place as the order moves."""
    def clock(ts: float) -> str:
        return datetime.fromtimestamp(ts, zone).strftime("%H:%M")

    head = f"{STATUS_ICON[order.status]} <b>Order {order.number}</b> · {order.status.value.upper()}"
    lines = [head, f"👤 {escape(order.customer_name)}", f"🕒 Pickup {describe(order.pickup)}"]
    if order.note:
        lines.append(f"📝 {escape(order.note)}")
    lines.append("")
    lines += [order_line(order, line) for line in order.lines]
    lines += [f"<b>Total: {order_price(order, order.total_cents)}</b>", ""]
    steps = []
    for change in order.history:
        verb = "placed" if change.from_status is None else change.to_status.value
        steps.append(f"{clock(change.changed_at)} {verb} by {escape(change.changed_by_name)}")
    lines.append(" · ".join(steps))
    return "\n".join(lines)


def open_orders(orders: list[Order]) -> str:
    if not orders:
        return "No open orders. ☕"
    lines = [f"<b>Open orders ({len(orders)})</b>", ""]
    for order in orders:
        items = ", ".join(f"{li.quantity}× {line_label(li.name, li.size)}" for li in order.lines)
        lines.append(f"{STATUS_ICON[order.status]} <b>{order.number}</b> {order.status.value} · "
                     f"{describe(order.pickup)} · {escape(order.customer_name)} · {items}")
    return "\n".join(lines)


def my_orders(orders: list[Order]) -> str:
    if not orders:
        return "You have no orders yet. Browse the /menu to place one."
    lines = ["<b>Your recent orders</b>", ""]
    for order in orders:
        lines.append(f"{STATUS_ICON[order.status]} <b>{order.number}</b> ({order.business_day}) · "
                     f"{order.status.value} · {order_price(order, order.total_cents)}")
    return "\n".join(lines)
