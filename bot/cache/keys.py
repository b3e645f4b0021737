"""The cache key namespace: every prefix the bot writes under, in one place.

Keys are `<namespace>:<rest>`; the "Cache key namespace" table of docs/CACHING.md documents
them for operators (who clear them with `clear-prefix`). Features build their keys
from these prefixes so a prefix clear always reaches everything it should.

In Redis every key is stored under the application prefix (REDIS_KEY_PREFIX, default
`cafebot:`), added by the Redis tier: `user:profile:42` is `cafebot:user:profile:42` there.
Everything here, and every prefix an operator types, is relative to it.
"""

from __future__ import annotations

# (menu:, cafe: and prompt: are retired: every process holds the menu, facts and prompt in memory and nothing
# read the copies; a clear-prefix of them is refused as outside the bot's keys.)
USER_PROFILE = "user:profile:"  # user:profile:<telegram user id> — who the customer is
ANSWER = "answer:"  # answer:* — exact-match answers of the agent
SEMANTIC = "semantic:"  # semantic:* — the semantic cache's entries and FAQ seeds
CACHE = "cache:"  # cache:events — deletes every process applies to its memory copies
GUARD = "guard:"  # guard:turn:*, guard:rate:* — what replicas agree on per customer (bot/replicas), not cached values

NAMESPACES: tuple[str, ...] = (USER_PROFILE, ANSWER, SEMANTIC, CACHE, GUARD)
EVENTS = f"{CACHE}events"


def user_profile(user_id: int) -> str:
    return f"{USER_PROFILE}{user_id}"


def namespace_of(key: str) -> str:
    """The documented namespace a key belongs to (`other` for anything else), for key counts."""
    for prefix in NAMESPACES:
        if key.startswith(prefix):
            return prefix.rstrip(":")
    return "other"


def clear_prefix_refusal(prefix: str, app_prefix: str) -> str | None:
    """Why an operator's clear-prefix is refused, or None when it may run.

    A prefix is relative to the application prefix, so it cannot reach another application's
    keys whatever it says; these refusals turn the two likely mistakes into a clear answer
    instead of "removed 0": a key pasted from redis-cli with the application prefix in front,
    and a prefix that no key of this bot can start with (another application's, or a typo).
    """
    if app_prefix and prefix.startswith(app_prefix):
        relative = prefix[len(app_prefix):] or "user:profile:"
        return (f"prefixes are relative to REDIS_KEY_PREFIX ({app_prefix!r}): use {relative!r}, "
                f"not {prefix!r}; other applications' keys can never be cleared from here")
    if not any(ns.startswith(prefix) or prefix.startswith(ns) for ns in NAMESPACES):
        return (f"{prefix!r} is outside this bot's keys: use one of {', '.join(NAMESPACES)} or a prefix of one "
                f"(relative to REDIS_KEY_PREFIX {app_prefix!r}); other applications' keys are never touched")
    return None
