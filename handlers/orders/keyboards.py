"""Inline keyboards for browsing, the cart, checkout and the staff card.

`OutboxButtons` hands the staff card's and the checkout summary's to the ordering domain
(bot.orders.OrderButtons), for the messages it sends through the outbox.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _, current_locale, price
from bot.knowledge import Category, Menu, MenuItem, OptionGroup
from bot.orders.models import MAX_LINE_QUANTITY, TRANSITIONS, Cart, Order, OrderStatus
from bot.orders.options import choice_label, shown
from bot.orders.texts import slot_label, status_button
from handlers.orders.callbacks import (
    AddCb,
    AvailabilityCb,
    CartCb,
    CheckoutCb,
    CustomerOrderCb,
    MenuCb,
    OptionsCb,
    RepeatCb,
    StaffBackCb,
    StaffCb,
    menu_tag,
    pack_choices,
)

Pairs = set[tuple[str, str]]


def menu_home(menu: Menu) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for category in menu.categories:
        kb.button(text=category.name_in(current_locale()), callback_data=MenuCb(view="cat", ref=category.id))
    kb.button(text=_("🛒 Cart"), callback_data=CartCb(action="view"))
    kb.adjust(2)
    return kb.as_markup()


def category(menu: Menu, cat: Category) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for item in cat.items:
        amount, name = price(item.min_price_cents, menu.currency), item.name_in(current_locale())
        if not item.available:
            label = f"{name} · {_('sold out')}"
        elif item.sizes:
            label = f"{name} · " + _("from {price}").format(price=amount)
        else:
            label = f"{name} · {amount}"
        kb.button(text=label, callback_data=MenuCb(view="item", ref=item.id, size=item.default_size or ""))
    kb.button(text=_("« Categories"), callback_data=MenuCb(view="cats"))
    kb.button(text=_("🛒 Cart"), callback_data=CartCb(action="view"))
    kb.adjust(*([1] * len(cat.items)), 2)
    return kb.as_markup()


def item(menu: Menu, it: MenuItem, size: str, quantity: int, picked: Pairs | None = None) -> InlineKeyboardMarkup:
    """Sizes, quantity and Add; an item with options gets its options page (`picked`: chosen so far)."""
    if it.options:
        return item_options(menu, it, size, quantity, picked)
    kb = InlineKeyboardBuilder()
    rows: list[int] = []
    if it.available:
        if it.sizes:
            for name, cents in it.sizes.items():
                mark = "• " if name == size else ""
                kb.button(text=f"{mark}{name} {price(cents, menu.currency)}",
                          callback_data=MenuCb(view="item", ref=it.id, size=name, qty=quantity))
            rows.append(len(it.sizes))
        kb.button(text="−", callback_data=MenuCb(view="item", ref=it.id, size=size, qty=max(1, quantity - 1)))
        kb.button(text=str(quantity), callback_data=MenuCb(view="item", ref=it.id, size=size, qty=quantity))
        kb.button(text="+", callback_data=MenuCb(view="item", ref=it.id, size=size,
                                                 qty=min(MAX_LINE_QUANTITY, quantity + 1)))
        rows.append(3)
        kb.button(text=_("🛒 Add {quantity} to cart").format(quantity=quantity),
                  callback_data=AddCb(item=it.id, size=size, qty=quantity))
        rows.append(1)
    return _with_item_footer(kb, it, rows)


def _with_item_footer(kb: InlineKeyboardBuilder, it: MenuItem, rows: list[int]) -> InlineKeyboardMarkup:
    """An item page's last row (back to its category, the cart), every row laid out as `rows` says."""
    kb.button(text=_("« Back"), callback_data=MenuCb(view="cat", ref=it.category_id))
    kb.button(text=_("🛒 Cart"), callback_data=CartCb(action="view"))
    kb.adjust(*rows, 2)
    return kb.as_markup()


def _toggled(group: OptionGroup, choice_id: str, picked: Pairs) -> Pairs:
    """The choices after pressing one: one-of groups swap, others toggle; a required one-of stays chosen."""
    pair = (group.id, choice_id)
    if pair in picked:
        return picked if group.max_choices == 1 and group.is_required else picked - {pair}
    if group.max_choices == 1:
        return {p for p in picked if p[0] != group.id} | {pair}
    return picked | {pair}  # over the group's max: the press is refused with the reason


def item_options(menu: Menu, it: MenuItem, size: str, quantity: int,
                 picked: Pairs | None = None) -> InlineKeyboardMarkup:
    """An item with options: sizes, quantity, each group's choices (• chosen), Add; every button carries its state."""
    if picked is None:
        picked = {(g.id, d) for g in it.options for d in g.default}
    sizes = list(it.sizes)
    size_at = sizes.index(size) if size in sizes else 0
    ver = menu_tag(menu)

    def state(*, size_index: int = size_at, qty: int = quantity, chosen: Pairs = picked,
              add: bool = False) -> OptionsCb:
        return OptionsCb(item=it.id, size=size_index, qty=qty, sel=pack_choices(it, chosen), ver=ver, add=add)

    kb = InlineKeyboardBuilder()
    rows: list[int] = []
    if it.available:
        if sizes:
            for n, (name, cents) in enumerate(it.sizes.items()):
                mark = "• " if n == size_at else ""
                kb.button(text=f"{mark}{name} {price(cents, menu.currency)}", callback_data=state(size_index=n))
            rows.append(len(sizes))
        kb.button(text="−", callback_data=state(qty=max(1, quantity - 1)))
        kb.button(text=str(quantity), callback_data=state())
        kb.button(text="+", callback_data=state(qty=min(MAX_LINE_QUANTITY, quantity + 1)))
        rows.append(3)
        for group in it.options:
            for choice in group.choices:
                mark = "• " if (group.id, choice.id) in picked else ""
                kb.button(text=mark + choice_label(choice, menu.currency),
                          callback_data=state(chosen=_toggled(group, choice.id, picked)))
            rows += [2] * (len(group.choices) // 2) + [1] * (len(group.choices) % 2)
        kb.button(text=_("🛒 Add {quantity} to cart").format(quantity=quantity), callback_data=state(add=True))
        rows.append(1)
    return _with_item_footer(kb, it, rows)


def after_add() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("📋 Add more"), callback_data=MenuCb(view="cats"))
    kb.button(text=_("🛒 View cart"), callback_data=CartCb(action="view"))
    kb.button(text=_("✅ Checkout"), callback_data=CartCb(action="checkout"))
    kb.adjust(2, 1)
    return kb.as_markup()


def after_expiry(cart_filled: bool) -> InlineKeyboardMarkup:
    """Under "your unpaid order expired": check out again, or start from the menu if the cart is empty."""
    kb = InlineKeyboardBuilder()
    if cart_filled:
        kb.button(text=_("🛒 View cart"), callback_data=CartCb(action="view"))
        kb.button(text=_("✅ Checkout"), callback_data=CartCb(action="checkout"))
    else:
        kb.button(text=_("📋 Menu"), callback_data=MenuCb(view="cats"))
    kb.adjust(2)
    return kb.as_markup()


def cart(c: Cart) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    rows: list[int] = []
    for line in c.lines:
        label = f"{line.name or line.item_id}{f' ({line.size})' if line.size else ''}"
        label += "".join(f" + {o.name}" for o in shown(line.options))
        kb.button(text="−", callback_data=CartCb(action="dec", line=line.id))
        kb.button(text=f"{line.quantity} × {label}"[:40], callback_data=CartCb(action="view"))
        kb.button(text="+", callback_data=CartCb(action="inc", line=line.id))
        kb.button(text="🗑", callback_data=CartCb(action="rm", line=line.id))
        rows.append(4)
    if not c.empty:
        kb.button(text=_("🧹 Clear"), callback_data=CartCb(action="clear"))
        kb.button(text=_("📋 Add more"), callback_data=MenuCb(view="cats"))
        rows.append(2)
        kb.button(text=_("✅ Checkout"), callback_data=CartCb(action="checkout"))
        rows.append(1)
    else:
        kb.button(text=_("📋 Menu"), callback_data=MenuCb(view="cats"))
        rows.append(1)
    kb.adjust(*rows)
    return kb.as_markup()


def pickup(token: str, times: list[str], open_now: bool,
           later: list[tuple[date, list[str]]] | None = None) -> InlineKeyboardMarkup:
    """ASAP (when open), today's times in one row, then one row of slots per later day, then Cancel."""
    kb = InlineKeyboardBuilder()
    if open_now:
        kb.button(text=_("⚡ As soon as possible"), callback_data=CheckoutCb(action="time", token=token, value="asap"))
    for t in times:
        kb.button(text=t, callback_data=CheckoutCb(action="time", token=token, value=t.replace(":", "")))
    later = later or []
    for day, slots in later:
        for t in slots:
            value = f"{day:%Y%m%d}T{t.replace(':', '')}"
            kb.button(text=slot_label(day, t), callback_data=CheckoutCb(action="time", token=token, value=value))
    kb.button(text=_("✖ Cancel checkout"), callback_data=CheckoutCb(action="cancel", token=token))
    kb.adjust(*([1] if open_now else []), *([len(times)] if times else []), *(len(s) for _d, s in later), 1)
    return kb.as_markup()


def note(token: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("Skip"), callback_data=CheckoutCb(action="skip", token=token))
    kb.button(text=_("✖ Cancel checkout"), callback_data=CheckoutCb(action="cancel", token=token))
    kb.adjust(2)
    return kb.as_markup()


def summary(token: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✅ Confirm order"), callback_data=CheckoutCb(action="confirm", token=token))
    kb.button(text=_("✏️ Change"), callback_data=CheckoutCb(action="edit", token=token))
    kb.button(text=_("✖ Cancel"), callback_data=CheckoutCb(action="cancel", token=token))
    kb.adjust(1, 2)
    return kb.as_markup()


def staff(order: Order) -> InlineKeyboardMarkup | None:
    """The buttons of the order's current status (none once completed or cancelled)."""
    targets = TRANSITIONS[order.status]
    if not targets:
        return None
    kb = InlineKeyboardBuilder()
    for target in targets:
        kb.button(text=status_button(target), callback_data=StaffCb(order=order.id, to=target))
    kb.adjust(len(targets))
    return kb.as_markup()


def staff_confirm_cancel(order: Order) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("❌ Yes, cancel the order"), callback_data=StaffCb(order=order.id, to=OrderStatus.CANCELLED,
                                                                    sure=True))
    kb.button(text=_("« Back"), callback_data=StaffBackCb(order=order.id))
    kb.adjust(2)
    return kb.as_markup()


def customer_order(order: Order) -> InlineKeyboardMarkup | None:
    """Under "Order #007 placed": the customer may cancel until the cafe accepts the order."""
    if order.status is not OrderStatus.NEW:
        return None
    kb = InlineKeyboardBuilder()
    kb.button(text=_("✖ Cancel order"), callback_data=CustomerOrderCb(order=order.id, action="cancel"))
    return kb.as_markup()


def my_orders(orders: list[Order], most: int = 3) -> InlineKeyboardMarkup | None:
    """Under the customer's /orders: repeat one of the newest `most` orders (the list is newest first)."""
    repeatable = [o for o in orders if o.lines][:most]
    if not repeatable:
        return None
    kb = InlineKeyboardBuilder()
    for order in repeatable:
        kb.button(text=_("🔁 Repeat {number}").format(number=order.number), callback_data=RepeatCb(order=order.id))
    kb.adjust(1)
    return kb.as_markup()


def customer_confirm_cancel(order: Order) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("❌ Yes, cancel {number}").format(number=order.number),
              callback_data=CustomerOrderCb(order=order.id, action="sure"))
    kb.button(text=_("« Keep it"), callback_data=CustomerOrderCb(order=order.id, action="keep"))
    kb.adjust(2)
    return kb.as_markup()


def pick_item(items: list[MenuItem], available: bool) -> InlineKeyboardMarkup:
    """/soldout or /back named several items: one button each."""
    kb = InlineKeyboardBuilder()
    for it in items:
        kb.button(text=it.name_in(current_locale()), callback_data=AvailabilityCb(item=it.id, available=available))
    kb.adjust(1)
    return kb.as_markup()


def as_dict(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    """For outbox payloads: the markup as the Bot API's JSON."""
    return markup.model_dump(mode="json", exclude_none=True) if markup is not None else None


class OutboxButtons:
    """bot.orders.OrderButtons on Telegram: the keyboards above, as JSON for outbox payloads."""

    def staff_card(self, order: Order) -> dict[str, Any] | None:
        return as_dict(staff(order))

    def summary(self, token: str) -> dict[str, Any] | None:
        return as_dict(summary(token))

    def after_expiry(self, cart_filled: bool) -> dict[str, Any] | None:
        return as_dict(after_expiry(cart_filled))
