"""The tiered cache (memory, Redis, database) and its warmers.

Public surface: `Cache` (the service), `build_cache` (wiring from settings),
`keys` (the key namespace), `ProfileCache` (reader and warmer of `user:profile:*`),
`CachedAnswers` (admins find and forget cached answers) and the warmup group names.
(The menu and cafe facts are not copied into the cache: every process holds them
validated in memory and nothing read the copies; the `menu` warmup group belongs to the
semantic cache, see bot/semantic/__init__.py.)
"""

from __future__ import annotations

from bot.cache import keys
from bot.cache.answers import CachedAnswers
from bot.cache.profiles import ProfileCache
from bot.cache.service import Cache
from bot.cache.warmup import CRITICAL, MENU
from bot.config import Settings
from bot.knowledge import KnowledgeBase
from storage.users import UserRepository

__all__ = ["CRITICAL", "MENU", "Cache", "CachedAnswers", "ProfileCache", "build_cache", "keys"]


def build_cache(settings: Settings, users: UserRepository, knowledge: KnowledgeBase) -> tuple[Cache, ProfileCache]:
    """The cache from settings and the profile reader (the composition root registers its warmer)."""
    cache = Cache(
        settings.redis_url,
        memory_max_entries=settings.cache_memory_max_entries,
        redis_timeout=settings.redis_timeout_seconds,
        probe_interval=settings.redis_probe_seconds,
        local_ttl=settings.cache_local_ttl_seconds,
        key_prefix=settings.redis_key_prefix,
    )
    return cache, ProfileCache(cache, users)
