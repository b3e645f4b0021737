"""The tiered cache (memory, Redis, database) and its warmers.

Public surface: `Cache` (the service), `build_cache` (wiring from settings),
`keys` (the key namespace), `ProfileCache`, and the warmup group names.
"""

from __future__ import annotations

from bot.cache import keys
from bot.cache.profiles import ProfileCache
from bot.cache.service import Cache
from bot.cache.warmup import CRITICAL, MENU
from bot.config import Settings
from storage.users import UserRepository

__all__ = ["CRITICAL", "MENU", "Cache", "ProfileCache", "build_cache", "keys"]


def build_cache(settings: Settings, users: UserRepository) -> Cache:
    """The cache from settings, with the warmers it owns (recently active users' profiles)."""
    cache = Cache(
        settings.redis_url,
        memory_max_entries=settings.cache_memory_max_entries,
        redis_timeout=settings.redis_timeout_seconds,
        probe_interval=settings.redis_probe_seconds,
        local_ttl=settings.cache_local_ttl_seconds,
    )
    cache.warmers.register("user-profiles", {CRITICAL}, ProfileCache(cache, users).warm)
    return cache
