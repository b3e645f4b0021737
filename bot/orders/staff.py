"""Who may press the staff buttons: ADMIN_IDS, or members of the staff group.

Membership is asked from Telegram (`getChatMember`) and remembered for a minute,
so a busy lunch rush does not turn every press into an API call, and someone
removed from the group loses access within that minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiogram import Bot

from bot.config import Settings

log = logging.getLogger(__name__)

MEMBER_STATUSES = {"creator", "administrator", "member"}
CACHE_SECONDS = 60.0


class StaffDirectory:
    def __init__(self, settings: Settings, bot: Callable[[], Bot | None], ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._bot = bot
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[int, tuple[bool, float]] = {}

    async def is_staff(self, user_id: int) -> bool:
        if user_id in self._settings.admin_ids:
            return True
        chat_id = self._settings.staff_chat_id
        bot = self._bot()
        if chat_id is None or bot is None:
            return False
        cached = self._cache.get(user_id)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        try:
            member = await bot.get_chat_member(chat_id, user_id, request_timeout=10)
        except Exception as exc:  # not cached: the next press asks again
            log.warning("getChatMember(%s, %s) failed: %s", chat_id, user_id, exc)
            return False
        allowed = member.status in MEMBER_STATUSES or (
            member.status == "restricted" and bool(getattr(member, "is_member", False))
        )
        self._cache[user_id] = (allowed, self._clock() + self._ttl)
        return allowed

    def forget(self, user_id: int | None = None) -> None:
        if user_id is None:
            self._cache.clear()
        else:
            self._cache.pop(user_id, None)
