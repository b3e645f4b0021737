"""Each replica's SLO figures in Redis, so any replica (or `main.py slo`) can report the fleet's.

Every `period` seconds a replica writes its figures (bot/ops/fleet.py `ReplicaFigures`, JSON) to
`<prefix>guard:slo:<replica>` with a time to live of `TTL_PERIODS` periods, and adds its name to the
set `<prefix>guard:slo`. A reader takes the set's names and their keys in one round trip; a name
whose key is gone belongs to a replica that stopped publishing (killed, cut off from Redis) and is
dropped from the set: a dead replica ages out within the time to live, with no one to tell.

Never deaf: a publish that fails is skipped (the next one comes a period later); a read that fails
returns None and the caller reports its own figures, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable

from bot.ops.fleet import ReplicaFigures
from bot.replicas.shared import SharedRedis, Unavailable
from bot.tasks import cancel_and_wait

log = logging.getLogger("bot.replicas")

PUBLISH_SECONDS = 2.0
TTL_PERIODS = 5  # a replica missing this many publishes in a row is no longer part of the fleet


def replica_id(name: str) -> str:
    """REPLICA_NAME, else one made up for this process (host, pid and a random tag: unique, not stable)."""
    return name or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class SloBoard:
    def __init__(self, redis: SharedRedis, replica: str, collect: Callable[[], ReplicaFigures] | None = None, *,
                 period: float = PUBLISH_SECONDS) -> None:
        self.replica = replica
        self.period = period
        self._redis = redis
        self._collect = collect  # this replica's figures now (None: a reader only, `main.py slo`)
        self._task: asyncio.Task[None] | None = None

    @property
    def ttl_seconds(self) -> float:
        return self.period * TTL_PERIODS

    async def publish(self, figures: ReplicaFigures) -> bool:
        """Write this replica's figures; False if Redis did not take them."""
        pipe = self._redis.client.pipeline(transaction=False)
        pipe.set(self._redis.key("slo", figures.replica), figures.to_json(), px=max(1, int(self.ttl_seconds * 1000)))
        pipe.sadd(self._redis.key("slo"), figures.replica)
        try:
            await self._redis.call("SLO publish", pipe.execute())
        except Unavailable:
            return False
        return True

    async def read(self) -> list[ReplicaFigures] | None:
        """What the live replicas published, by name; None when Redis does not answer."""
        index = self._redis.key("slo")
        try:
            names = sorted(await self._redis.call("SLO replicas", self._redis.client.smembers(index)))
            values = await self._redis.call("SLO figures", self._redis.client.mget(
                [self._redis.key("slo", n) for n in names])) if names else []
        except Unavailable:
            return None
        gone = [name for name, value in zip(names, values, strict=True) if value is None]
        if gone:
            with contextlib.suppress(Unavailable):
                await self._redis.call("SLO forget", self._redis.client.srem(index, *gone))
        out = []
        for name, value in zip(names, values, strict=True):
            if value is None:
                continue
            try:
                out.append(ReplicaFigures.from_json(value))
            except (ValueError, KeyError, TypeError, IndexError):
                log.warning("SLO figures of replica %s in Redis are unreadable; left out", name)
        return out

    async def start(self) -> None:
        if self._collect is not None:
            self._task = asyncio.create_task(self._loop(self._collect), name="slo-publish")

    async def stop(self) -> None:
        """Stop publishing; the figures already in Redis age out with their time to live."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self, collect: Callable[[], ReplicaFigures]) -> None:
        while True:
            try:
                await self.publish(collect())
            except Exception:
                log.exception("SLO publish: collecting this replica's figures failed")
            await asyncio.sleep(self.period)
