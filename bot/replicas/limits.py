"""A per-user sliding window in Redis, one for all replicas, with the in-memory window as fallback.

One Lua script per event, so the count and the decision are atomic whichever replica asks:
a sorted set per user and window (scores are Redis's own clock, so replicas' clocks need not
agree) trimmed to the window, one member added if there is room, and a marker key that makes
only the first refusal of a burst "first" (the one the customer is told about). While Redis
fails, the process's own `SlidingWindowLimiter` decides (bot/replicas/shared.py logs it once).
"""

from __future__ import annotations

import secrets

from bot.ratelimit import RateDecision, SlidingWindowLimiter
from bot.replicas.shared import SharedRedis, Unavailable

# KEYS[1] the window (sorted set), KEYS[2] the refusal marker; ARGV window ms, max events, a unique member.
# Returns {allowed, retry after ms, first refusal}.
_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  redis.call('DEL', KEYS[2])
  return {1, 0, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local retry = tonumber(oldest[2]) + window - now
local first = redis.call('SET', KEYS[2], '1', 'NX', 'PX', window)
if first then return {0, retry, 1} end
return {0, retry, 0}
"""


class RedisWindowLimiter:
    def __init__(self, redis: SharedRedis, name: str, local: SlidingWindowLimiter) -> None:
        self.max_events = local.max_events
        self.window_seconds = local.window_seconds
        self.local = local  # decides while Redis fails
        self._redis = redis
        self._name = name
        self._script = redis.client.register_script(_WINDOW)

    async def decide(self, key: int) -> RateDecision:
        window, refused = self._redis.key("rate", self._name, key), self._redis.key("rate", self._name, key, "refused")
        args: list[int | str] = [max(1, int(self.window_seconds * 1000)), self.max_events, secrets.token_hex(6)]
        try:
            allowed, retry_ms, first = await self._redis.call(
                f"rate limit {self._name}", self._script(keys=[window, refused], args=args))
        except Unavailable:
            return self.local.check(key)
        if allowed:
            return RateDecision(True)
        return RateDecision(False, round(max(int(retry_ms), 0) / 1000, 1), bool(first))
