"""Who may press the staff buttons: ADMIN_IDS, or members of the staff group.

Membership is asked from the messenger through `Membership` (for Telegram: `getChatMember`,
bot/telegram/gateway.py) and remembered for a minute, so a busy lunch rush does not turn
every press into an API call, and someone removed from the group loses access within that
minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from bot.config import Settings

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0


class Membership(Protocol):
    """Asks the messenger whether a user is in a chat (for Telegram: bot.telegram.gateway.BotGateway)."""

    async def is_member(self, chat_id: int, user_id: int) -> bool | None:
        """True or False; None while there is no link to ask over. A failed call raises."""
        ...


class StaffDirectory:
    def __init__(self, settings: Settings, members: Membership, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._members = members
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[int, tuple[bool, float]] = {}

    async def is_staff(self, user_id: int) -> bool:
        if user_id in self._settings.admin_ids:
            return True
        chat_id = self._settings.staff_chat_id
        if chat_id is None:
            return False
        cached = self._cache.get(user_id)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        try:
            allowed = await self._members.is_member(chat_id, user_id)
        except Exception as exc:  # not cached: the next press asks again
            log.warning("membership of %s in chat %s: the check failed: %s", user_id, chat_id, exc)
            return False
        if allowed is None:  # no link to ask over (yet)
            return False
        self._cache[user_id] = (allowed, self._clock() + self._ttl)
        return allowed

    def forget(self, user_id: int | None = None) -> None:
        if user_id is None:
            self._cache.clear()
        else:
            self._cache.pop(user_id, None)
