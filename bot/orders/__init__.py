"""Ordering: carts, checkout, orders and their states, and the staff who move them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Bot

from bot.clock import Clock
from bot.config import Settings
from bot.knowledge import KnowledgeBase
from bot.orders.models import Cart, CartLine, Checkout, Order, OrderError, OrderStatus, Summary
from bot.orders.service import ORDER_CARD, OrderService
from bot.orders.staff import StaffDirectory
from bot.outbox import Outbox
from storage.db import Database
from storage.users import UserRepository

__all__ = [
    "ORDER_CARD", "Cart", "CartLine", "Checkout", "Order", "OrderError", "OrderService", "OrderStatus",
    "StaffDirectory", "Summary", "build_orders",
]


def build_orders(
    settings: Settings, db: Database, knowledge: KnowledgeBase, users: UserRepository, bot: Callable[[], Bot | None],
    agent_tools: Any = None, clock: Clock | None = None,
) -> tuple[Outbox, StaffDirectory, OrderService]:
    """The outbox (a Component: its worker starts and stops with the app), staff directory and order service.

    With the agent's tool registry, ordering in plain words is switched on too.
    """
    outbox = Outbox(settings, db, bot)
    orders = OrderService(settings, db, knowledge, users, outbox, clock)
    if agent_tools is not None:
        from bot.orders.tools import OrderTools

        OrderTools(orders, outbox).register(agent_tools)
    return outbox, StaffDirectory(settings, bot), orders
