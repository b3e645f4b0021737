"""Ordering: carts, checkout, orders and their states, and the staff who move them.

The messenger is a seam: the order service draws its buttons through `OrderButtons`, the staff
directory asks `Membership`; the composition root (`bot/services.py`) hands in the Telegram ones.
"""

from __future__ import annotations

from bot.orders.buttons import OrderButtons
from bot.orders.models import Cart, CartLine, Checkout, Order, OrderError, OrderStatus, Summary
from bot.orders.service import ORDER_CARD, ORDER_EXPIRED, ORDER_REMINDER, ORDER_STATUS, OrderService
from bot.orders.staff import Membership, StaffDirectory

__all__ = [
    "ORDER_CARD", "ORDER_EXPIRED", "ORDER_REMINDER", "ORDER_STATUS", "Cart", "CartLine", "Checkout", "Membership",
    "Order", "OrderButtons", "OrderError", "OrderService", "OrderStatus", "StaffDirectory", "Summary",
]
