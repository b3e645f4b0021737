"""Cafe knowledge as data: the menu and the cafe's facts, loaded from YAML."""

from bot.knowledge.models import CafeInfo, Category, Menu, MenuItem, format_price
from bot.knowledge.service import KnowledgeBase, ReloadResult

__all__ = ["CafeInfo", "Category", "KnowledgeBase", "Menu", "MenuItem", "ReloadResult", "format_price"]
