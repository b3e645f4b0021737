"""Cafe knowledge as data: the menu and the cafe's facts, loaded from YAML."""

from bot.knowledge.models import CafeInfo, Category, Closure, DayHours, Menu, MenuItem, format_price
from bot.knowledge.service import KnowledgeBase, ReloadResult

__all__ = [
    "CafeInfo", "Category", "Closure", "DayHours", "KnowledgeBase", "Menu", "MenuItem", "ReloadResult", "format_price",
]
