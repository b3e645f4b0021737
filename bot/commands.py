"""Every slash command the bot knows, by audience.

`/help` and `setMyCommands` are both built from these lists, so a command added
here shows up in the menu and the help text at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandInfo:
    name: str
    description: str


CUSTOMER_COMMANDS: list[CommandInfo] = [
    CommandInfo("start", "Welcome and what I can do"),
    CommandInfo("help", "List the commands"),
    CommandInfo("reset", "Start a new conversation"),
    CommandInfo("menu", "Browse the menu and order"),
    CommandInfo("cart", "Your cart and checkout"),
    CommandInfo("orders", "Your recent orders and their status"),
]

ADMIN_COMMANDS: list[CommandInfo] = [
    CommandInfo("reload_menu", "Reload menu.yaml and cafe.yaml"),
    CommandInfo("cache", "Cache statistics: backend, hit rates, latency, fallbacks"),
    CommandInfo("warmup", "Warm the critical cache keys (menu, cafe, prompt, profiles, FAQ)"),
    CommandInfo("warmup_menu", "Warm the menu keys"),
    CommandInfo("cache_clear", "Remove cache keys under a prefix: /cache_clear user:profile:"),
    CommandInfo("cache_find", "Find cached answers by words: /cache_find lentil"),
    CommandInfo("cache_forget", "Forget a cached answer everywhere: /cache_forget e-3fa9c01b2e, or all lentil"),
    CommandInfo("limits", "Show or lower the agent's history/token limits"),
]

STAFF_COMMANDS: list[CommandInfo] = [
    CommandInfo("orders", "Open orders (in the staff group)"),
]


def help_text(is_admin: bool) -> str:
    lines = ["<b>Commands</b>"]
    lines += [f"/{c.name} — {c.description}" for c in CUSTOMER_COMMANDS]
    if is_admin and (ADMIN_COMMANDS or STAFF_COMMANDS):
        lines += ["", "<b>Admin</b>"]
        lines += [f"/{c.name} — {c.description}" for c in ADMIN_COMMANDS + STAFF_COMMANDS]
    lines += ["", "Or just write to me (or send a voice note) and ask about the menu, hours or anything else."]
    return "\n".join(lines)
