"""Every slash command the bot knows, by audience.

`/help` and `setMyCommands` are both built from these lists, so a command added
here shows up in the menu and the help text at once. Descriptions are msgids: `/help`
translates them for the reader, `setMyCommands` is sent once per language.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import N_, _


@dataclass(frozen=True, slots=True)
class CommandInfo:
    name: str
    description: str


CUSTOMER_COMMANDS: list[CommandInfo] = [
    CommandInfo("start", N_("Welcome and what I can do")),
    CommandInfo("help", N_("List the commands")),
    CommandInfo("reset", N_("Start a new conversation")),
    CommandInfo("menu", N_("Browse the menu and order")),
    CommandInfo("cart", N_("Your cart and checkout")),
    CommandInfo("orders", N_("Your recent orders and their status")),
    CommandInfo("language", N_("Choose the language: English or Deutsch")),
]

ADMIN_COMMANDS: list[CommandInfo] = [
    CommandInfo("reload_menu", N_("Reload menu.yaml and cafe.yaml")),
    CommandInfo("cache", N_("Cache statistics: backend, hit rates, latency, fallbacks")),
    CommandInfo("warmup", N_("Warm the critical cache keys (menu, cafe, prompt, profiles, FAQ)")),
    CommandInfo("warmup_menu", N_("Warm the menu keys")),
    CommandInfo("cache_clear", N_("Remove cache keys under a prefix: /cache_clear user:profile:")),
    CommandInfo("cache_find", N_("Find cached answers by words: /cache_find lentil")),
    CommandInfo("cache_forget", N_("Forget a cached answer everywhere: /cache_forget e-3fa9c01b2e, or all lentil")),
    CommandInfo("limits", N_("Show or lower the agent's history/token limits")),
]

STAFF_COMMANDS: list[CommandInfo] = [
    CommandInfo("orders", N_("Open orders (in the staff group)")),
    CommandInfo("pause", N_("Pause new orders: /pause 20 kitchen rush (in the staff group)")),
    CommandInfo("resume", N_("Take orders again (in the staff group)")),
    CommandInfo("soldout", N_("Mark an item sold out: /soldout flat white (in the staff group)")),
    CommandInfo("back", N_("Offer a sold-out item again: /back flat white (in the staff group)")),
]


def help_text(is_admin: bool) -> str:
    lines = [_("<b>Commands</b>")]
    lines += [f"/{c.name} — {_(c.description)}" for c in CUSTOMER_COMMANDS]
    if is_admin and (ADMIN_COMMANDS or STAFF_COMMANDS):
        lines += ["", _("<b>Admin</b>")]
        lines += [f"/{c.name} — {_(c.description)}" for c in ADMIN_COMMANDS + STAFF_COMMANDS]
    lines += ["", _("Or just write to me (or send a voice note) and ask about the menu, hours or anything else.")]
    return "\n".join(lines)
