"""Ordering: carts, checkout, orders and their states, and the staff who move them."""

from __future__ import annotations

from bot.orders.models import Cart, CartLine, Checkout, Order, OrderError, OrderStatus, Summary
from bot.orders.service import ORDER_CARD, OrderService
from bot.orders.staff import StaffDirectory

__all__ = [
    "ORDER_CARD", "Cart", "CartLine", "Checkout", "Order", "OrderError", "OrderService", "OrderStatus",
    "StaffDirectory", "Summary",
]
