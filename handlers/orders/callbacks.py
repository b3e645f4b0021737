"""Callback data of every ordering button (aiogram CallbackData factories).

Fields are validated when a press is unpacked: an unknown action, an item id that
is not an id, a quantity outside 1..MAX_LINE_QUANTITY or a malformed token never
reaches a handler — such a press (forged, or from an old version of the bot) is
answered by the catch-all for these prefixes. What the fields *refer to* (the
item exists and is available, the cart line is the presser's own, the checkout
token is current, the order may move to that status) is checked by the service.
"""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from bot.i18n import _
from bot.knowledge import Menu, MenuItem
from bot.knowledge.models import (
    ID_CHARS,
    MAX_ID_CHARS,
    MAX_OPTION_CHOICES,
    MAX_SIZE_CHARS,
    MAX_SIZES_WITH_OPTIONS,
    SIZE_CHARS,
)
from bot.orders.models import MAX_LINE_QUANTITY, OrderError, OrderStatus

# The same rules the menu is checked against when it is loaded (bot/knowledge/models.py).
_REF = rf"^{ID_CHARS}$"
_SIZE = rf"^({SIZE_CHARS})?$"


class MenuCb(CallbackData, prefix="om"):
    """Browse: the category list, one category, or one item with a chosen size and quantity."""

    view: Literal["cats", "cat", "item"]
    ref: str = Field(default="", pattern=rf"^({ID_CHARS})?$", max_length=MAX_ID_CHARS)
    size: str = Field(default="", pattern=_SIZE, max_length=MAX_SIZE_CHARS)
    qty: int = Field(default=1, ge=1, le=MAX_LINE_QUANTITY)


class AddCb(CallbackData, prefix="oa"):
    item: str = Field(pattern=_REF, max_length=MAX_ID_CHARS)
    size: str = Field(default="", pattern=_SIZE, max_length=MAX_SIZE_CHARS)
    qty: int = Field(default=1, ge=1, le=MAX_LINE_QUANTITY)


MASK_DIGITS = MAX_OPTION_CHOICES // 4  # hex digits of the options' bit mask
VERSION_CHARS = 6  # of the menu version: a page from another menu (its choices numbered otherwise) is refused


class OptionsCb(CallbackData, prefix="oo"):
    """An item with options: its page in one state (size, quantity, choices), or adding that state (`add`).

    The choices are a bit mask over `MenuItem.option_choices()` and the size a position in `sizes`, so
    the longest (a 32-character id, 32 choices) is "oo:<id>:9:20:ffffffff:<6>:1", 58 bytes of Telegram's
    64. Both are numbers in one menu only: `ver` ties them to it, and a press from a page of another
    menu version is refused (the page is shown again as the menu is now).
    """

    item: str = Field(pattern=_REF, max_length=MAX_ID_CHARS)
    size: int = Field(default=0, ge=0, lt=MAX_SIZES_WITH_OPTIONS)
    qty: int = Field(default=1, ge=1, le=MAX_LINE_QUANTITY)
    sel: str = Field(default="0", pattern=rf"^[0-9a-f]{{1,{MASK_DIGITS}}}$")
    ver: str = Field(default="", pattern=rf"^[0-9a-f]{{0,{VERSION_CHARS}}}$")
    add: bool = False


def menu_tag(menu: Menu) -> str:
    """What `OptionsCb.ver` carries: the start of the menu's content hash."""
    return menu.version[:VERSION_CHARS]


def pack_choices(item: MenuItem, pairs: set[tuple[str, str]]) -> str:
    """The options page's bit mask for the chosen (group, choice) pairs."""
    mask = sum(1 << n for n, (group, choice) in enumerate(item.option_choices()) if (group.id, choice.id) in pairs)
    return f"{mask:x}"


def unpack_choices(item: MenuItem, sel: str) -> list[tuple[str, str]]:
    """The (group, choice) pairs of a bit mask; a bit past the item's choices (forged, or an edited menu) is refused."""
    mask, every = int(sel, 16), item.option_choices()
    if mask >> len(every):
        raise OrderError(_("That choice isn't on our menu (any more). Please choose again."))
    return [(group.id, choice.id) for n, (group, choice) in enumerate(every) if mask >> n & 1]


class CartCb(CallbackData, prefix="oc"):
    action: Literal["view", "inc", "dec", "rm", "clear", "checkout"]
    line: int = Field(default=0, ge=0)


class CheckoutCb(CallbackData, prefix="ok"):
    """Checkout steps; `token` must match the customer's current checkout."""

    action: Literal["time", "skip", "confirm", "cancel", "edit"]
    token: str = Field(pattern=r"^[A-Za-z0-9_-]{8,16}$")
    value: str = Field(default="", pattern=r"^(asap|\d{4}|\d{8}T\d{4})?$")  # asap, HHMM today, YYYYMMDDTHHMM


class StaffCb(CallbackData, prefix="os"):
    """Move an order to `to`; cancelling asks once more (`sure`)."""

    order: int = Field(ge=1)
    to: OrderStatus
    sure: bool = False


class StaffBackCb(CallbackData, prefix="ob"):
    order: int = Field(ge=1)


class CustomerOrderCb(CallbackData, prefix="ou"):
    """The customer's own order: ask to cancel, confirm the cancel, or keep it."""

    order: int = Field(ge=1)
    action: Literal["cancel", "sure", "keep"]


class RepeatCb(CallbackData, prefix="or"):
    """Put a past order's lines back into the cart; the service checks the order is the presser's."""

    order: int = Field(ge=1)


class AvailabilityCb(CallbackData, prefix="ov"):
    """Staff picking which of several matching items /soldout (available=False) or /back (True) meant."""

    item: str = Field(pattern=_REF, max_length=MAX_ID_CHARS)
    available: bool


PREFIXES = tuple(cls.__prefix__ for cls in (MenuCb, AddCb, CartCb, CheckoutCb, StaffCb, StaffBackCb,
                                            CustomerOrderCb, AvailabilityCb, RepeatCb, OptionsCb))


def is_ordering_button(data: str | None) -> bool:
    return data is not None and data.split(":", 1)[0] in PREFIXES  # "" has no prefix either
