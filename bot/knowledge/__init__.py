"""Cafe knowledge as data: the menu and the cafe's facts, loaded from YAML."""

from bot.knowledge.models import (
    CafeInfo,
    Category,
    Closure,
    DayHours,
    Menu,
    MenuItem,
    OptionChoice,
    OptionGroup,
    format_price,
)
from bot.knowledge.service import KnowledgeBase, ReloadResult

__all__ = [
    "CafeInfo", "Category", "Closure", "DayHours", "KnowledgeBase", "Menu", "MenuItem", "OptionChoice", "OptionGroup",
    "ReloadResult", "format_price",
]
