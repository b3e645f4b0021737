"""Customer profiles in the cache: `user:profile:<telegram id>`, loaded from the users table.

The profile holds what rarely changes (names, Telegram's language, the language chosen with
/language, first seen) and when the
database last heard the customer was active. Every update passes through `seen()`:
one cache read, and a database write only on first sight, when the name or language
changed, or once every SEEN_WRITE_SECONDS — not one write per message, which under
load would queue every customer's update behind SQLite's single writer. `seen()` returns the
profile, so the language of the update is known without another query (LocaleMiddleware). The
"critical" warmup writes the recently active users' profiles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bot.cache import keys
from bot.cache.service import Cache
from storage.users import User, UserRepository

PROFILE_TTL_SECONDS = 6 * 3600.0
SEEN_WRITE_SECONDS = 300.0  # users.last_seen_at is accurate to this (it feeds the "recently active" warmup)
RECENT_SECONDS = 24 * 3600.0  # "recently active": seen in the last day
RECENT_LIMIT = 500


def profile_of(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "language_code": user.language_code,
        "language": user.language,
        "created_at": user.created_at,
    }


@dataclass
class ProfileCache:
    cache: Cache
    users: UserRepository

    async def seen(self, user_id: int, username: str | None, first_name: str | None,
                   language_code: str | None) -> dict[str, Any]:
        """The customer is active now: write through to the database only when that adds something.

        Returns the profile (with `language`, the customer's /language choice or None).
        """
        key = keys.user_profile(user_id)
        cached = await self.cache.get(key)
        at = time.time()
        if (isinstance(cached, dict) and "language" in cached and cached.get("username") == username
                and cached.get("first_name") == first_name and cached.get("language_code") == language_code
                and at - float(cached.get("seen_written_at") or 0) < SEEN_WRITE_SECONDS):
            return cached
        await self.users.touch(user_id, username, first_name, language_code)
        if isinstance(cached, dict) and "language" in cached and cached.get("created_at") is not None:
            created_at, language = cached["created_at"], cached["language"]
        else:  # first sight, or a profile cached before /language existed: the database knows
            user = await self.users.get(user_id)
            created_at = user.created_at if user else at
            language = user.language if user else None
        profile = {"id": user_id, "username": username, "first_name": first_name, "language_code": language_code,
                   "language": language, "created_at": created_at, "seen_written_at": at}
        await self.cache.set(key, profile, PROFILE_TTL_SECONDS)
        return profile

    async def set_language(self, user_id: int, language: str | None) -> None:
        """/language: the choice goes to the database, then to the cached profile (the next update reads it)."""
        await self.users.set_language(user_id, language)
        key = keys.user_profile(user_id)
        cached = await self.cache.get(key)
        if isinstance(cached, dict):
            await self.cache.set(key, {**cached, "language": language}, PROFILE_TTL_SECONDS)

    async def warm(self) -> int:
        """Write the profiles of the users seen in the last day (the warmer of the "critical" group)."""
        users = await self.users.recently_active(RECENT_SECONDS, RECENT_LIMIT)
        return await self.cache.set_many({keys.user_profile(u.id): profile_of(u) for u in users}, PROFILE_TTL_SECONDS)
