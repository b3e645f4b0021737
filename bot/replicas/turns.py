"""One turn at a time per customer across replicas: a short Redis lock per customer.

bot/conversation.py serialises a customer's turns inside one process (an asyncio lock). Behind a
load balancer a customer's next message may reach another replica, so the turn also takes
`turn:<user id>` in Redis: SET NX PX with a random token, renewed while the turn runs (a long model
answer outlives the first lease), released by a compare-and-delete script, so a replica only ever
deletes its own lock. A replica that dies mid-turn leaves a lock that expires within `ttl_seconds`.

Never deaf: when Redis fails (before or during the wait, or while renewing) the turn goes on under
the process's own lock only, and a wait is bounded by `max_wait_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from bot.replicas.shared import SharedRedis, Unavailable
from bot.tasks import cancel_and_wait

log = logging.getLogger("bot.replicas")

OnWait = Callable[[], Awaitable[None]]  # called once when the turn must wait for another replica

# Delete KEYS[1] only if it still holds our token ARGV[1].
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Extend KEYS[1] to PX ARGV[2] only if it still holds our token ARGV[1].
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class TurnLocks(Protocol):
    """The cross-process part of a customer's turn (the in-process part is Conversation's own lock)."""

    def hold(self, user_id: int, on_wait: OnWait) -> AbstractAsyncContextManager[None]: ...


class LocalTurns:
    """One process: Conversation's in-memory lock is the whole guarantee."""

    @contextlib.asynccontextmanager
    async def hold(self, user_id: int, on_wait: OnWait) -> AsyncIterator[None]:
        yield


class RedisTurnLocks:
    def __init__(self, redis: SharedRedis, *, ttl_seconds: float = 10.0, poll_seconds: float = 0.05,
                 max_wait_seconds: float = 120.0) -> None:
        self._redis = redis
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._poll = poll_seconds
        self._max_wait = max_wait_seconds
        self._release = redis.client.register_script(_RELEASE)
        self._renew = redis.client.register_script(_RENEW)

    @contextlib.asynccontextmanager
    async def hold(self, user_id: int, on_wait: OnWait) -> AsyncIterator[None]:
        key = self._redis.key("turn", user_id)
        token = secrets.token_hex(12)
        held = await self._acquire(key, token, on_wait)
        renewer = asyncio.create_task(self._keep(key, token), name=f"turn-lock-{user_id}") if held else None
        try:
            yield
        finally:
            await cancel_and_wait(renewer)
            if held:
                with contextlib.suppress(Unavailable):
                    await self._redis.call("turn release", self._release(keys=[key], args=[token]))

    async def _acquire(self, key: str, token: str, on_wait: OnWait) -> bool:
        """True once the lock is ours; False to go on without it (Redis down, or waited too long)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        told = False
        while True:
            try:
                if await self._redis.call("turn lock", self._redis.client.set(key, token, nx=True, px=self._ttl_ms)):
                    return True
            except Unavailable:
                return False
            if not told:
                told = True
                await on_wait()
            if loop.time() >= deadline:
                log.warning("turn lock %s still held by another replica after %.0f s: answering anyway",
                            key, self._max_wait)
                return False
            await asyncio.sleep(self._poll)

    async def _keep(self, key: str, token: str) -> None:
        """Renew the lease every third of it while the turn runs; stop if Redis fails or the lock was lost."""
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            try:
                renewed = await self._redis.call("turn renew", self._renew(keys=[key], args=[token, self._ttl_ms]))
            except Unavailable:
                return
            if not renewed:
                log.warning("turn lock %s expired before its turn ended (the loop stalled?)", key)
                return
