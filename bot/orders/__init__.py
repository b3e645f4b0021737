"""Ordering: carts, checkout, orders and their states, and the staff who move them."""

from __future__ import annotations

from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.knowledge import KnowledgeBase
from bot.orders.buttons import OrderButtons
from bot.orders.models import Cart, CartLine, Checkout, Order, OrderError, OrderStatus, Summary
from bot.orders.service import ORDER_CARD, OrderService
from bot.orders.staff import Membership, StaffDirectory
from bot.outbox import Outbox, Sender
from storage.db import Database
from storage.users import UserRepository

__all__ = [
    "ORDER_CARD", "Cart", "CartLine", "Checkout", "Membership", "Order", "OrderButtons", "OrderError", "OrderService",
    "OrderStatus", "StaffDirectory", "Summary", "build_orders",
]


def build_orders(
    settings: Settings, db: Database, knowledge: KnowledgeBase, users: UserRepository, sender: Sender,
    members: Membership, buttons: OrderButtons, agent_tools: Any = None, clock: Clock | None = None,
) -> tuple[Outbox, StaffDirectory, OrderService]:
    """The outbox (a Component: its worker starts and stops with the app), staff directory and order service.

    The messenger comes in through the seams: `sender` makes the outbox's calls, `members` answers
    who is in the staff group, `buttons` draws the buttons on the messages the domain sends (for
    Telegram: bot.telegram.gateway.BotGateway and handlers.orders.keyboards.OutboxButtons).
    With the agent's tool registry, ordering in plain words is switched on too.
    """
    outbox = Outbox(settings, db, sender)
    orders = OrderService(settings, db, knowledge, users, outbox, buttons, clock)
    if agent_tools is not None:
        from bot.orders.tools import OrderTools

        OrderTools(orders, outbox).register(agent_tools)
    return outbox, StaffDirectory(settings, members), orders
