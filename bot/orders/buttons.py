"""The buttons the ordering domain puts on the messages it sends through the outbox: a seam.

The staff card (re-rendered by the outbox at every status change) and the checkout summary
the agent sends carry inline buttons. What a button is on Telegram (its callback data, the
layout) belongs next to the ordering handlers (handlers/orders/keyboards.py, which implements
this protocol); the domain only asks for them, as the messenger's JSON that the outbox payload
stores as is.
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.orders.models import Order


class OrderButtons(Protocol):
    def staff_card(self, order: Order) -> dict[str, Any] | None:
        """The buttons of the order's current status on the staff card; None once it is closed."""
        ...

    def summary(self, token: str) -> dict[str, Any] | None:
        """Confirm, change or cancel, under a checkout summary (`token`: the checkout's)."""
        ...

    def after_expiry(self, cart_filled: bool) -> dict[str, Any] | None:
        """Under "your unpaid order expired": back to the cart (and checkout) when it holds items, else the menu."""
        ...
