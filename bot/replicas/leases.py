"""Periodic jobs on one replica at a time: a lease per job in Redis, kept by the replica that runs it.

Each replica runs the retention purge and the webhook check on its own timer; before a run it asks
`take(job, period)`. The lease `<prefix>guard:job:<job>` holds the runner's token for 1.5 periods:
the holder renews it at each of its runs, the others find it held and skip. So the job runs once per
period, always on the same replica while it lives; when that replica stops (it releases its leases)
or dies (its lease runs out) another one takes the job at its next tick.

Never deaf: when Redis does not answer, `take` says yes. Both jobs are idempotent (a second purge
finds nothing to delete, a second getWebhookInfo changes nothing), so running them on every replica
during an outage costs a little work, whereas skipping them could leave the webhook lost.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Protocol

from bot.replicas.shared import SharedRedis, Unavailable

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


class LocalLeases:
    """One process: every run is this process's."""

    async def take(self, job: str, period: float) -> bool:
        return True


class RedisLeases:
    def __init__(self, redis: SharedRedis) -> None:
        self._redis = redis
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
            return True
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
