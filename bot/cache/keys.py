"""The cache key namespace: every prefix the bot writes under, in one place.

Keys are `<namespace>:<rest>`; the README's "Cache key namespace" table documents
them for operators (who clear them with `clear-prefix`). Features build their keys
from these prefixes so a prefix clear always reaches everything it should.
"""

from __future__ import annotations

MENU = "menu:"  # menu:* — the menu as the agent and /menu see it (knowledge module)
CAFE = "cafe:"  # cafe:* — opening hours, address, Wi-Fi and other facts (knowledge module)
PROMPT = "prompt:"  # prompt:* — the rendered system prompt for the current menu and prompt version
USER_PROFILE = "user:profile:"  # user:profile:<telegram user id> — who the customer is
ANSWER = "answer:"  # answer:* — exact-match answers of the agent
SEMANTIC = "semantic:"  # semantic:* — the semantic cache's entries and FAQ seeds
CACHE = "cache:"  # cache:events — deletes every process applies to its memory copies

NAMESPACES: tuple[str, ...] = (MENU, CAFE, PROMPT, USER_PROFILE, ANSWER, SEMANTIC, CACHE)
EVENTS = f"{CACHE}events"


def user_profile(user_id: int) -> str:
    return f"{USER_PROFILE}{user_id}"


def namespace_of(key: str) -> str:
    """The documented namespace a key belongs to (`other` for anything else), for key counts."""
    for prefix in NAMESPACES:
        if key.startswith(prefix):
            return prefix.rstrip(":")
    return "other"
