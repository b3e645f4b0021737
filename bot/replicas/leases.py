"""Periodic jobs on one replica at a time: a lease per job in Redis, kept by the replica that runs it.

Each replica runs the retention purge and the webhook check on its own timer; before a run it asks
`take(job, period)`. The lease `<prefix>guard:job:<job>` holds the runner's token for 1.5 periods:
the holder renews it at each of its runs, the others find it held and skip. So the job runs once per
period, always on the same replica while it lives; when that replica stops (it releases its leases)
or dies (its lease runs out) another one takes the job at its next tick.

Without Redis (none configured, or it stops answering) on PostgreSQL, `AdvisoryLeases` decides: a
session-level advisory lock per job on one dedicated connection (storage/advisory.py), held by the
replica that took it for as long as it lives, released when it stops or its connection dies. On
SQLite (one process) every run is this process's (`LocalLeases`).

Never deaf: when neither Redis nor the advisory lock answers, `take` says yes. Both jobs are
idempotent (a second purge finds nothing to delete, a second getWebhookInfo changes nothing), so
running them on every replica during an outage costs a little work, whereas skipping them could
leave the webhook lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from bot.replicas.shared import SharedRedis, Unavailable

if TYPE_CHECKING:  # asyncpg is imported only when PostgreSQL is used
    from storage.advisory import AdvisoryLocks

log = logging.getLogger("bot.replicas")

LEASE_PERIODS = 1.5  # how long a lease outlives its holder's last run, in periods

# KEYS[1] the lease; ARGV token, lease ms. Ours or free: (re)take it.
_TAKE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
# Delete KEYS[1] only if it still holds our token ARGV[1].
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class JobLeases(Protocol):
    """May this process run `job` now? `period` is the job's interval in seconds."""

    async def take(self, job: str, period: float) -> bool: ...


async def run_leased(leases: JobLeases, job: str, run: Callable[[], Awaitable[object]], *, interval: float,
                     first_delay: float) -> None:
    """Forever: every `interval` seconds (the first after `first_delay`), `run` on whichever replica holds the
    job's lease for that period. A failed run is logged and tried again the next period: the job never dies."""
    delay = first_delay
    while True:
        await asyncio.sleep(delay)
        delay = interval
        try:
            if not await leases.take(job, interval):
                log.debug("%s: another replica runs it this period", job)
                continue
            await run()
        except Exception:
            log.exception("%s failed; next try in %.0f s", job, interval)


class LocalLeases:
    """One process: every run is this process's."""

    async def take(self, job: str, period: float) -> bool:
        return True


class AdvisoryLeases:
    """PostgreSQL without Redis: the replica holding a job's advisory lock runs it, the others skip."""

    def __init__(self, locks: AdvisoryLocks) -> None:
        self._locks = locks
        self._failing = False
        self.skipped = 0  # runs left to another replica

    async def take(self, job: str, period: float) -> bool:
        try:
            ours = await self._locks.try_lock(job)
        except Exception as exc:  # the database did not answer: run (idempotent) rather than skip
            if not self._failing:
                log.warning("job leases: the PostgreSQL advisory lock for %s failed (%s: %s); this replica runs "
                            "its jobs until it answers again", job, type(exc).__name__, exc)
            self._failing = True
            return True
        if self._failing:
            self._failing = False
            log.info("job leases: the PostgreSQL advisory locks answer again")
        if not ours:
            self.skipped += 1
        return ours

    async def give_back(self, job: str) -> None:
        """Redis decides again: let the lock go, so it never outvotes Redis's holder in a later outage."""
        with contextlib.suppress(Exception):
            await self._locks.unlock(job)

    async def start(self) -> None:
        """Nothing to open: the connection is made at the first run that needs it."""

    async def stop(self) -> None:
        """Hand the jobs over at once: closing the connection releases its locks."""
        with contextlib.suppress(Exception):
            await self._locks.close()


class RedisLeases:
    def __init__(self, redis: SharedRedis, fallback: AdvisoryLeases | None = None) -> None:
        self._redis = redis
        self._fallback = fallback  # PostgreSQL: decides while Redis does not answer (None: every replica runs)
        self._token = secrets.token_hex(12)  # this process
        self._take = redis.client.register_script(_TAKE)
        self._release = redis.client.register_script(_RELEASE)
        self._held: set[str] = set()
        self.skipped = 0  # runs left to another replica

    async def take(self, job: str, period: float) -> bool:
        key = self._redis.key("job", job)
        ms = max(1, int(period * LEASE_PERIODS * 1000))
        try:
            ours = bool(await self._redis.call(f"{job} lease", self._take(keys=[key], args=[self._token, ms])))
        except Unavailable:
            return await self._fallback.take(job, period) if self._fallback is not None else True
        if self._fallback is not None:
            await self._fallback.give_back(job)
        if ours:
            self._held.add(job)
        else:
            self._held.discard(job)
            self.skipped += 1
        return ours

    async def start(self) -> None:
        """Nothing to open: leases are taken at each run."""

    async def stop(self) -> None:
        """Hand the jobs over at once rather than when the leases run out."""
        for job in sorted(self._held):
            with contextlib.suppress(Unavailable):
                await self._redis.call(f"{job} release", self._release(keys=[self._redis.key("job", job)],
                                                                       args=[self._token]))
        self._held.clear()
