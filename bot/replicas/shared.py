"""The Redis connection of the cross-replica guards (turn locks, rate limits).

Separate from the cache's client (bot/cache/service.py): the cache reconciles and warms after an
outage, these guards only need "did Redis answer this call in time". A failed call raises
`Unavailable`; the caller then uses its per-process twin. The first failure of an outage is
logged once (WARNING), the recovery once (INFO); while down, Redis is not tried again for
`retry_seconds`, so a dead Redis costs no request a timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any

from redis.asyncio import Redis

from bot.cache.keys import GUARD
from bot.config import Settings

log = logging.getLogger("bot.replicas")


class Unavailable(Exception):
    """Redis did not serve this call: fall back to this process's memory."""


class SharedRedis:
    def __init__(self, url: str, *, timeout: float, key_prefix: str, retry_seconds: float = 1.0,
                 clock: Any = time.monotonic) -> None:
        self.key_prefix = key_prefix
        self._timeout = timeout
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._client: Redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                             decode_responses=True)
        self._down_until: float | None = None  # while set: in an outage, next try at this time
        self.failures = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> SharedRedis | None:
        """None without REDIS_URL (one process: nothing to share) or with one Redis cannot parse."""
        if not settings.redis_url:
            return None
        try:
            return cls(settings.redis_url, timeout=settings.redis_timeout_seconds,
                       key_prefix=settings.redis_key_prefix + GUARD, retry_seconds=settings.redis_probe_seconds)
        except ValueError as exc:
            log.warning("REDIS_URL is not usable (%s): turns and rate limits stay per process", exc)
            return None

    @property
    def client(self) -> Redis:
        return self._client

    def key(self, *parts: object) -> str:
        return self.key_prefix + ":".join(str(p) for p in parts)

    @property
    def usable(self) -> bool:
        """False during an outage until the next retry is due."""
        return self._down_until is None or self._clock() >= self._down_until

    async def call(self, what: str, call: Awaitable[Any]) -> Any:
        """Await one Redis call; `Unavailable` if Redis is down or the call failed."""
        if not self.usable:
            if hasattr(call, "close"):
                call.close()  # an un-awaited coroutine would warn
            raise Unavailable(what)
        try:
            result = await call
        except Exception as exc:
            self.failures += 1
            if self._down_until is None:
                log.warning("replica guards: Redis did not answer the %s (%s: %s); one turn at a time per "
                            "customer and the rate limits hold in this process's memory until it answers again",
                            what, type(exc).__name__, exc)
            self._down_until = self._clock() + self._retry_seconds
            raise Unavailable(what) from exc
        if self._down_until is not None:
            self._down_until = None
            log.info("replica guards: Redis answers again; turns and rate limits are shared by the replicas again")
        return result

    async def start(self) -> None:
        """Nothing to open: the client connects on its first call (a down Redis must not stop a start)."""

    async def stop(self) -> None:
        await self._client.aclose()
