"""What customers and staff read: menu pages, the cart, the summary, the staff card.

Everything returns Telegram HTML with user-supplied text escaped, in the language of the current
context (bot.i18n): the customer's for their pages and status messages, the staff language for the card.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.i18n import N_, _, clock, current_locale, day, ngettext, price, short_day, short_weekday
from bot.knowledge import Category, Closure, Menu, MenuItem
from bot.knowledge.labels import tag_labels
from bot.orders.models import Cart, CartLine, ChosenOption, Order, OrderLine, OrderStatus, Payment, Repeat, Summary
from bot.orders.options import choice_label, shown
from bot.orders.pickup import describe
from bot.text import escape

STATUS_ICON = {
    OrderStatus.NEW: "🆕", OrderStatus.ACCEPTED: "👍", OrderStatus.PREPARING: "☕",
    OrderStatus.READY: "✅", OrderStatus.COMPLETED: "✔️", OrderStatus.CANCELLED: "❌",
}
STATUS_NAME = {  # how a status reads in a sentence ("Order #007: accepted")
    OrderStatus.NEW: N_("new"), OrderStatus.ACCEPTED: N_("accepted"), OrderStatus.PREPARING: N_("preparing"),
    OrderStatus.READY: N_("ready"), OrderStatus.COMPLETED: N_("completed"), OrderStatus.CANCELLED: N_("cancelled"),
}
STATUS_BUTTON = {
    OrderStatus.ACCEPTED: N_("👍 Accept"), OrderStatus.PREPARING: N_("☕ Preparing"), OrderStatus.READY: N_("✅ Ready"),
    OrderStatus.COMPLETED: N_("✔️ Picked up"), OrderStatus.CANCELLED: N_("❌ Cancel"),
}
CUSTOMER_STATUS = {
    OrderStatus.ACCEPTED: N_("👍 Your order {number} was accepted — we'll start on it shortly."),
    OrderStatus.PREPARING: N_("☕ We're preparing your order {number}."),
    OrderStatus.READY: N_("✅ Your order {number} is ready! Pick it up at the counter."),
    OrderStatus.COMPLETED: N_("🙏 Order {number} completed. Enjoy, and thanks for ordering!"),
    OrderStatus.CANCELLED: N_("❌ Sorry, your order {number} was cancelled by the cafe. Please ask at the counter, "
                              "or order again with /menu."),
}

EMPTY_CART = N_("🛒 Your cart is empty. Browse the /menu to add something.")
STALE_BUTTON = N_("This button is out of date. Open /cart or /menu again.")


def status_name(status: OrderStatus) -> str:
    return _(STATUS_NAME[status])


def status_button(status: OrderStatus) -> str:
    return _(STATUS_BUTTON[status])


def item_price(menu: Menu, item: MenuItem) -> str:
    if item.sizes:
        return " / ".join(f"{size} {price(cents, menu.currency)}" for size, cents in item.sizes.items())
    return price(item.price_cents or 0, menu.currency)


def menu_home() -> str:
    return _("📋 <b>Menu</b>\nPick a category:")


def category_page(menu: Menu, category: Category) -> str:
    lang = current_locale()
    lines = [f"📋 <b>{escape(category.name_in(lang))}</b>", ""]
    for item in category.items:
        tags = f" · <i>{escape(tag_labels(item.tags))}</i>" if item.tags else ""
        sold = " · <b>{}</b>".format(_("sold out")) if not item.available else ""
        lines.append(f"• {escape(item.name_in(lang))} — {item_price(menu, item)}{tags}{sold}")
    lines += ["", _("Tap an item to add it to your cart.")]
    return "\n".join(lines)


def item_page(menu: Menu, item: MenuItem, size: str, quantity: int,
              chosen: tuple[ChosenOption, ...] = ()) -> str:
    """An item with its price, allergens and, for an item with options, each group and what is chosen so far."""
    lang = current_locale()
    lines = [f"<b>{escape(item.name_in(lang))}</b> — {item_price(menu, item)}"]
    if item.description_in(lang):
        lines.append(escape(item.description_in(lang)))
    if item.tags:
        lines.append(f"🌱 {escape(tag_labels(item.tags))}")
    allergens = escape(", ".join(item.allergens)) if item.allergens else _("none listed")
    lines.append(_("⚠️ Allergens: {allergens}").format(allergens=allergens))
    if not item.available:
        lines += ["", "<b>{}</b>".format(_("Sold out today."))]
        return "\n".join(lines)
    if item.options:
        lines.append("")
    for group in item.options:
        picked = [choice_label(c, menu.currency) for c in group.choices if (group.id, c.id) in
                  {(o.group, o.choice) for o in chosen}]
        need = _("required") if group.is_required else _("optional")
        if group.max_choices > 1:
            need += ", " + _("up to {most}").format(most=group.max_choices)
        what = escape(", ".join(picked)) if picked else ("<b>{}</b>".format(_("please choose"))
                                                         if group.is_required else "—")
        lines.append(f"{escape(group.name_in(lang))} ({need}): {what}")
    unit = (item.price_for(size) or 0) + sum(o.price_cents for o in chosen)
    label = line_label(item.name_in(lang), size) + options_suffix(menu.currency, chosen, item)
    lines += ["", f"{quantity} × {label} = {price(unit * quantity, menu.currency)}"]
    return "\n".join(lines)


def line_label(name: str, size: str) -> str:
    return f"{escape(name)} ({escape(size)})" if size else escape(name)


def options_suffix(currency: str, options: tuple[ChosenOption, ...], item: MenuItem | None = None) -> str:
    """" · Oat milk +€0.40 · Extra shot +€0.60" after a line's name (defaults left out), escaped.

    With the menu's `item`, names are the reader's language; without (order lines, the staff card), the
    names copied onto the order.
    """
    parts = []
    for option in shown(options):
        group = item.option_group(option.group) if item is not None else None
        choice = group.choice(option.choice) if group is not None else None
        name = choice.name_in(current_locale()) if choice is not None else option.name
        parts.append(escape(name) + (f" +{price(option.price_cents, currency)}" if option.price_cents else ""))
    return "".join(f" · {part}" for part in parts)


def cart_line(menu: Menu, line: CartLine) -> str:
    if line.unit_price_cents is None:
        return f"• {line.quantity} × {escape(line.item_id)} — <b>{_('no longer on the menu')}</b>"
    item = menu.item(line.item_id)
    name = item.name_in(current_locale()) if item is not None else line.name
    label = line_label(name, line.size) + options_suffix(menu.currency, line.options, item)
    text = f"• {line.quantity} × {label} — {price(line.line_total_cents, menu.currency)}"
    return text if line.available else f"{text} — <b>{_('sold out, please remove')}</b>"


def total(amount: str) -> str:
    return "<b>{}</b>".format(_("Total: {amount}").format(amount=amount))


def cart_page(menu: Menu, cart: Cart) -> str:
    if cart.empty:
        return _(EMPTY_CART)
    lines = [_("🛒 <b>Your cart</b>"), ""]
    lines += [cart_line(menu, line) for line in cart.lines]
    lines += ["", total(price(cart.total_cents, menu.currency))]
    return "\n".join(lines)


def ask_pickup(menu: Menu, cart: Cart, later: list[tuple[date, list[str]]] | None = None) -> str:
    text = cart_page(menu, cart) + "\n\n" + _("🕒 <b>When will you pick it up?</b>\n"
                                                "Press a button or send a time like 12:30.")
    if later:
        days = ", ".join(short_day(d) for d, _times in later)
        text += "\n" + _("📅 Or order ahead for {days}: press a slot or send a day and a time, "
                         "like “tomorrow 8:15”.").format(days=days)
    return text


def slot_label(day_: date, time: str) -> str:
    """A later day's slot button: "Tue 08:15" (en), "Di. 08:15" (de)."""
    return f"{short_weekday(day_)} {time}"


def pickup_line(pickup: str, today: date | None = None) -> str:
    return _("🕒 Pickup {when}").format(when=describe(pickup, today))


def ask_note(pickup: str, today: date | None = None) -> str:
    return pickup_line(pickup, today) + ".\n\n" + _("📝 Anything we should know? Send a short note "
                                             "(e.g. “oat milk, no sugar”) or press Skip.")


def summary_page(menu: Menu, summary: Summary, today: date | None = None) -> str:
    lines = [_("🧾 <b>Please check your order</b>"), ""]
    lines += [cart_line(menu, line) for line in summary.lines]
    lines += ["", total(price(summary.total_cents, menu.currency)), pickup_line(summary.pickup, today)]
    if summary.note:
        lines.append(_("📝 Note: {note}").format(note=escape(summary.note)))
    if summary.pay_in_chat:
        lines.append(_("💳 You pay here in the chat: an invoice follows your confirmation."))
    else:
        lines.append(_("💶 You pay at pickup."))
    lines += ["", _("Press <b>Confirm order</b> to send it to the cafe.")]
    return "\n".join(lines)


def order_price(order: Order, cents: int) -> str:
    return price(cents, order.currency)


def order_label(order: Order, line: OrderLine) -> str:
    """An ordered item as the kitchen reads it: name, size and the options chosen (with their prices)."""
    return line_label(line.name, line.size) + options_suffix(order.currency, line.options)


def order_line(order: Order, line: OrderLine) -> str:
    return f"{line.quantity} × {order_label(order, line)} — {order_price(order, line.line_total_cents)}"


def placed(order: Order, today: date | None = None) -> str:
    if order.awaiting_payment:
        text = _("🧾 <b>Order {number}</b> — {total}, pickup {when}.\n"
                 "Please pay with the invoice below: the cafe gets your order once it's paid.").format(
            number=order.number, total=order_price(order, order.total_cents), when=describe(order.pickup, today))
        return text + (" " + _("You can cancel it until then.") if order.status is OrderStatus.NEW else "")
    text = _("✅ <b>Order {number} placed</b> — {total}, pickup {when}.\n"
             "We'll message you here when the cafe accepts it and when it's ready.").format(
        number=order.number, total=order_price(order, order.total_cents), when=describe(order.pickup, today))
    text += (" " + _("You can cancel it until then.") if order.status is OrderStatus.NEW else "")
    text += "\n" + payment_line(order)
    # what was ordered, options and their prices included, as the kitchen has it
    return text + "\n\n" + "\n".join(f"• {order_line(order, line)}" for line in order.lines)


def payment_line(order: Order) -> str:
    """How the order is paid, on the staff card and the customer's "placed" page."""
    if order.refund_due:
        charge = f" ({escape(order.provider_payment_charge_id)})" if order.provider_payment_charge_id else ""
        return _("💸 <b>REFUND DUE</b>: {total} was paid in the chat{charge}.").format(
            total=order_price(order, order.total_cents), charge=charge)
    if order.payment is Payment.PAID:
        return _("💳 Paid in the chat.")
    if order.awaiting_payment:
        return _("⏳ Awaiting payment.")
    return _("💶 Pay at pickup.")


def expired(order: Order, *, added: int, skipped: int, kept_cart: bool) -> str:
    """The customer's one message when their unpaid order expired (PAYMENT_EXPIRY_MINUTES): what became of it."""
    head = _("⌛ <b>Order {number} has expired</b>: it wasn't paid in time, so it is cancelled and the cafe never "
             "got it. Its invoice can't be paid any more.").format(number=order.number)
    if kept_cart:
        tail = _("Your cart already holds newer items, so it was left as it is: check out from /cart when you're "
                 "ready.")
    elif added:
        tail = _("Its items are back in your cart at today's prices: check out again whenever you like.")
        if skipped:
            tail += " " + _("Some are no longer available and were left out.")
    else:
        tail = _("Its items are no longer available, so nothing went back into your cart. Have a look at the /menu.")
    return head + "\n" + tail


def cancelled_by_customer(order: Order) -> str:
    if order.refund_due:
        return _("❌ <b>Order {number} cancelled</b> at your request. You paid {total} in the chat: a refund will "
                 "follow.").format(number=order.number, total=order_price(order, order.total_cents))
    return _("❌ <b>Order {number} cancelled</b> at your request — nothing to pay. "
             "Order again any time with /menu.").format(number=order.number)


def too_late_to_cancel(order: Order, phone: str) -> str:
    if order.status is OrderStatus.CANCELLED:
        return _("Order {number} is already cancelled.").format(number=order.number)
    if order.status is OrderStatus.COMPLETED:
        return _("Order {number} is already picked up.").format(number=order.number)
    if phone:
        return _("The cafe has already {status} order {number}. To change it, please call us on {phone}.").format(
            status=status_name(order.status), number=order.number, phone=phone)
    return _("The cafe has already {status} order {number}. To change it, please ask at the counter.").format(
        status=status_name(order.status), number=order.number)


def customer_status(order: Order, status: OrderStatus | None = None) -> str:
    """What the customer is told when the order reaches `status` (default: its current one)."""
    text = _(CUSTOMER_STATUS[status or order.status]).format(number=order.number)
    if (status or order.status) is OrderStatus.CANCELLED and order.payment is Payment.PAID:
        text += " " + _("You paid {total} in the chat: a refund will follow.").format(
            total=order_price(order, order.total_cents))
    return text


def staff_card(order: Order, zone: ZoneInfo, today: date | None = None) -> str:
    """The one message per order in the staff group, edited in place as the order moves."""
    def at(ts: float) -> str:
        return clock(datetime.fromtimestamp(ts, zone))

    head = _("{icon} <b>Order {number}</b> · {status}").format(
        icon=STATUS_ICON[order.status], number=order.number, status=status_name(order.status).upper())
    lines = [head, f"👤 {escape(order.customer_name)}", pickup_line(order.pickup, today), payment_line(order)]
    if order.note:
        lines.append(f"📝 {escape(order.note)}")
    lines.append("")
    lines += [order_line(order, line) for line in order.lines]
    lines += [total(order_price(order, order.total_cents)), ""]
    steps = []
    for change in order.history:
        verb = _("placed") if change.from_status is None else status_name(change.to_status)
        steps.append(_("{time} {what} by {who}").format(time=at(change.changed_at), what=verb,
                                                      who=escape(change.changed_by_name)))
    if order.paid_at is not None:
        steps.insert(1, _("{time} paid in the chat").format(time=at(order.paid_at)))
    lines.append(" · ".join(steps))
    return "\n".join(lines)


def open_orders(orders: list[Order], today: date | None = None, coming: list[Closure] | None = None) -> str:
    """The staff group's /orders: the open orders, then the closures and special days `coming` up."""
    if not orders:
        text = _("No open orders. ☕")
    else:
        lines = [_("<b>Open orders ({count})</b>").format(count=len(orders)), ""]
        for order in orders:
            items = ", ".join(f"{li.quantity}× {order_label(order, li)}" for li in order.lines)
            lines.append(f"{STATUS_ICON[order.status]} <b>{order.number}</b> {status_name(order.status)} · "
                         f"{describe(order.pickup, today)} · {escape(order.customer_name)} · {items}")
        text = "\n".join(lines)
    return text + ("\n\n" + special_days(coming) if coming else "")


def special_days(closures: list[Closure]) -> str:
    """Closures and special hours ahead, each with its reason: what staff plan pre-orders and rotas around."""
    lines = [_("<b>Special days ahead</b>")]
    for closure in closures:
        days = short_day(closure.date)
        if closure.last != closure.date:
            days = f"{days} – {short_day(closure.last)}"
        if closure.hours == "closed":
            line = _("{days}: closed, no pickups ({reason})")
        else:
            line = _("{days}: open {hours} ({reason})")
        lines.append("📅 " + line.format(days=days, hours=closure.hours.replace("-", "–"),
                                         reason=escape(closure.reason_in(current_locale()))))
    return "\n".join(lines)


def staff_reminder(order: Order, today: date | None = None) -> str:
    """A pre-order announced to staff again shortly before its pickup: number, day and time first, then what."""
    lines = [_("⏰ <b>Reminder: pre-order {number}</b>, pickup {when}").format(
        number=order.number, when=describe(order.pickup, today)), f"👤 {escape(order.customer_name)}"]
    lines += [order_line(order, line) for line in order.lines]
    if order.note:
        lines.append(f"📝 {escape(order.note)}")
    lines.append(_("Status now: {status}").format(status=status_name(order.status)))
    return "\n".join(lines)


def business_day(iso: str) -> str:
    """The order's day ("2026-11-30") as the reader writes dates."""
    try:
        return day(date.fromisoformat(iso))
    except ValueError:
        return iso


def added(quantity: int, label: str, units: int, amount: str) -> str:
    """After "Add to cart": what was added and the cart so far."""
    return ngettext("✅ Added {added}.\n🛒 Your cart: {units} item, {total}.",
                    "✅ Added {added}.\n🛒 Your cart: {units} items, {total}.", units).format(
        added=f"{quantity} × {label}", units=units, total=amount)


def my_orders(orders: list[Order]) -> str:
    if not orders:
        return _("You have no orders yet. Browse the /menu to place one.")
    lines = [_("<b>Your recent orders</b>"), ""]
    for order in orders:
        state = (_("awaiting payment") if order.awaiting_payment and order.status is OrderStatus.NEW
                 else _("expired unpaid") if order.expired_unpaid and not order.refund_due
                 else status_name(order.status))
        lines.append(f"{STATUS_ICON[order.status]} <b>{order.number}</b> ({business_day(order.business_day)}) · "
                     f"{state} · {order_price(order, order.total_cents)}")
    return "\n".join(lines)


def repeated(menu: Menu, repeat: Repeat) -> str:
    """Above the cart after "Repeat": what went in from the past order, and what was left out and why."""
    lang = current_locale()

    def label(item_id: str, name: str, size: str, options: tuple[ChosenOption, ...]) -> str:
        item = menu.item(item_id)
        return (line_label(item.name_in(lang) if item is not None else name, size)
                + options_suffix(menu.currency, options, item))

    number = repeat.order.number
    lines: list[str] = []
    if repeat.added:
        units = sum(li.quantity for li in repeat.added)
        items = ", ".join(f"{li.quantity} × {label(li.item_id, li.name, li.size, li.options)}" for li in repeat.added)
        lines.append(ngettext("🔁 From order {number}, added {units} item at today's prices: {items}.",
                              "🔁 From order {number}, added {units} items at today's prices: {items}.",
                              units).format(number=number, units=units, items=items))
    else:
        lines.append(_("🔁 Nothing from order {number} could be added.").format(number=number))
    if repeat.skipped:
        skipped = "; ".join(f"{s.quantity} × {label(s.item_id, s.name, s.size, s.options)} ({escape(s.reason)})"
                            for s in repeat.skipped)
        lines.append(_("Skipped: {items}.").format(items=skipped))
    return "\n".join(lines)


def paused(until: str | None, reason: str) -> str:
    """The staff group's confirmation of /pause."""
    why = f" ({escape(reason)})" if reason else ""
    if until:
        head = _("⏸ New orders are paused until {time}{why}.").format(time=until, why=why)
    else:
        head = _("⏸ New orders are paused{why} until /resume.").format(why=why)
    return head + "\n" + _("Customers checking out are told so; orders already placed are not affected.")


def marked(item: MenuItem, available: bool, forgotten: int) -> str:
    """The staff group's confirmation of /soldout or /back."""
    name = escape(item.name_in(current_locale()))
    if available:
        head = _("✅ {item} is back: /menu and the assistant offer it again.").format(item=name)
    else:
        head = _("🚫 {item} is sold out: /menu and the assistant say so, and it can't be ordered. "
                 "/back {ref} when it's back.").format(item=name, ref=item.id)
    if forgotten:
        head += "\n" + ngettext("Forgot {count} cached answer that named it.",
                                 "Forgot {count} cached answers that named it.", forgotten).format(count=forgotten)
    return head


def pick_item(ref: str, available: bool) -> str:
    if available:
        return _("“{ref}” matches several items. Which one is back?").format(ref=escape(ref))
    return _("“{ref}” matches several items. Which one is sold out?").format(ref=escape(ref))


def no_such_item(ref: str) -> str:
    return _("Nothing on the menu matches “{ref}”. Try its name as on the /menu.").format(ref=escape(ref))


def sold_out_list(items: list[MenuItem], command: str) -> str:
    lang = current_locale()
    usage = _("Usage: /{command} flat white (a name, id or alias).").format(command=command)
    if not items:
        return usage + "\n" + _("Nothing is sold out.")
    names = ", ".join(escape(i.name_in(lang)) for i in items)
    return usage + "\n" + _("Sold out now: {items}").format(items=names)
