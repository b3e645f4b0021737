"""Customer profiles in the cache: `user:profile:<telegram id>`, loaded from the users table.

The profile holds what rarely changes (names, language, first seen); activity
times stay in the database. Features that personalise answers read it through
`ProfileCache.get`; the "critical" warmup writes the recently active users' ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.cache import keys
from bot.cache.service import Cache
from storage.users import User, UserRepository

PROFILE_TTL_SECONDS = 6 * 3600.0
RECENT_SECONDS = 24 * 3600.0  # "recently active": seen in the last day
RECENT_LIMIT = 500


def profile_of(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "language_code": user.language_code,
        "created_at": user.created_at,
    }


@dataclass
class ProfileCache:
    cache: Cache
    users: UserRepository

    async def get(self, user_id: int) -> dict[str, Any] | None:
        async def load() -> dict[str, Any] | None:
            user = await self.users.get(user_id)
            return profile_of(user) if user else None

        return await self.cache.get_or_load(keys.user_profile(user_id), load, PROFILE_TTL_SECONDS)

    async def warm(self) -> int:
        """Write the profiles of the users seen in the last day (the warmer of the "critical" group)."""
        users = await self.users.recently_active(RECENT_SECONDS, RECENT_LIMIT)
        return await self.cache.set_many({keys.user_profile(u.id): profile_of(u) for u in users}, PROFILE_TTL_SECONDS)
