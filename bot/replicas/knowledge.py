"""`/reload_menu` and `/soldout` reach every replica: a version key in Redis, and a periodic check.

The replica that reloads the files or changes an override saves it in the database (the knowledge
base's snapshot and `menu.availability`) and increments `<prefix>guard:knowledge` (`announce`).
Every replica reads that key every `poll_seconds` (one GET) and, when it moved, takes the snapshot
from the database (`KnowledgeBase.refresh`), so all of them answer from the same menu within about
a second. A version key rather than pub/sub: a replica that was busy, restarting or cut off from
Redis when the change was announced still sees the key moved when it next reads it.

Never deaf, never stale for long: whatever Redis does, each replica also refreshes from the
database every `fallback_seconds` (an announcement lost while Redis was down is caught there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from bot.replicas.shared import SharedRedis, Unavailable
from bot.tasks import cancel_and_wait

log = logging.getLogger("bot.replicas")

POLL_SECONDS = 1.0
FALLBACK_SECONDS = 30.0


class Refreshable(Protocol):
    """bot.knowledge.KnowledgeBase: takes the snapshot another process saved."""

    async def refresh(self) -> bool: ...


class KnowledgeSync:
    def __init__(self, knowledge: Refreshable, redis: SharedRedis | None, *, poll_seconds: float = POLL_SECONDS,
                 fallback_seconds: float = FALLBACK_SECONDS) -> None:
        self._knowledge = knowledge
        self._redis = redis
        self._poll = poll_seconds
        self._fallback = fallback_seconds
        self._seen: str | None = None  # the key's value this process last acted on
        self._next_check = 0.0  # loop time of the next database check without an announcement
        self._task: asyncio.Task[None] | None = None

    @property
    def key(self) -> str | None:
        return self._redis.key("knowledge") if self._redis is not None else None

    async def announce(self) -> None:
        """This process saved a knowledge change: tell the others (Redis down: their periodic check)."""
        if self._redis is None or self.key is None:
            return
        with contextlib.suppress(Unavailable):
            self._seen = str(await self._redis.call("knowledge announce", self._redis.client.incr(self.key)))

    async def start(self) -> None:
        self._seen = await self._read()
        self._next_check = asyncio.get_running_loop().time() + self._fallback
        self._task = asyncio.create_task(self._loop(), name="knowledge-sync")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def check(self) -> bool:
        """Refresh if another process announced a change or the periodic check is due; True if refreshed."""
        now = asyncio.get_running_loop().time()
        version = await self._read()
        announced = version is not None and version != self._seen
        if not announced and now < self._next_check:
            return False
        if version is not None:
            self._seen = version
        self._next_check = now + self._fallback
        return await self._knowledge.refresh()

    async def _read(self) -> str | None:
        if self._redis is None or self.key is None:
            return None
        try:
            value = await self._redis.call("knowledge version", self._redis.client.get(self.key))
        except Unavailable:
            return None
        return str(value or "0")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.check()
            except Exception:
                log.exception("knowledge sync: checking for another process's change failed")
