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

from bot.knowledge.models import ID_CHARS, MAX_ID_CHARS, MAX_SIZE_CHARS, SIZE_CHARS
from bot.orders.models import MAX_LINE_QUANTITY, OrderStatus

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
                                            CustomerOrderCb, AvailabilityCb, RepeatCb))


def is_ordering_button(data: str | None) -> bool:
    return data is not None and data.split(":", 1)[0] in PREFIXES  # "" has no prefix either
