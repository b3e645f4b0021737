"""Telegram's per-chat send limits counted once for every replica, in Redis.

Telegram limits the bot, not a process: about 20 messages a minute to a group and one a second to
a private chat (bot/outbox/ratelimit.py). Three replicas pacing only their own sends could send the
staff group three times too much in a rush and meet 429s. Here each chat's window (and the bot's
overall one) is a sorted set in Redis, checked and filled by one Lua script on Redis's own clock,
so whichever replica sends, the sends of all of them are counted together; a 429 seen by one
replica pauses that chat for all (`pace:<chat>:pause`).

Never deaf: while Redis fails, the process's own `ChatRateLimiter` decides (each replica then paces
only its own sends, as before; bot/replicas/shared.py logs the outage once).
"""

from __future__ import annotations

import secrets

from bot.outbox.ratelimit import GLOBAL_LIMIT, GROUP_LIMIT, PRIVATE_LIMIT, ChatRateLimiter, limits_of
from bot.replicas.shared import SharedRedis, Unavailable

# KEYS[1] the chat's window, KEYS[2] the chat's pause, KEYS[3] the bot's window (sorted sets of send times).
# ARGV chat max, chat window ms, bot max, bot window ms, a unique member, 1 to count a send (0: only look).
# Returns 0 (a send may go now; counted if asked) or the milliseconds to wait.
_PACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then return paused end
local wait = 0
local windows = {{KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])}, {KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4])}}
for _, w in ipairs(windows) do
  redis.call('ZREMRANGEBYSCORE', w[1], '-inf', now - w[3])
  if redis.call('ZCARD', w[1]) >= w[2] then
    local oldest = redis.call('ZRANGE', w[1], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + w[3] - now, 1)
  end
end
if wait > 0 or ARGV[6] == '0' then return wait end
for _, w in ipairs(windows) do
  redis.call('ZADD', w[1], now, now .. ':' .. ARGV[5])
  redis.call('PEXPIRE', w[1], w[3])
end
return 0
"""
# KEYS[1] the chat's pause; ARGV ms. Lengthen it, never shorten it.
_HOLD = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""


class RedisChatPacer:
    def __init__(self, redis: SharedRedis, group: tuple[int, float] = GROUP_LIMIT,
                 private: tuple[int, float] = PRIVATE_LIMIT, overall: tuple[int, float] = GLOBAL_LIMIT) -> None:
        self.local = ChatRateLimiter(group, private, overall)  # decides while Redis fails
        self._redis = redis
        self._group, self._private, self._overall = group, private, overall
        self._pace = redis.client.register_script(_PACE)
        self._hold = redis.client.register_script(_HOLD)

    async def _ask(self, chat_id: int, count: bool) -> float:
        """Seconds to wait (0: free, and counted if `count`); raises Unavailable."""
        messages, window = limits_of(chat_id, self._group, self._private)
        keys = [self._redis.key("pace", chat_id), self._redis.key("pace", chat_id, "pause"),
                self._redis.key("pace", "all")]
        args: list[int | str] = [messages, int(window * 1000), self._overall[0], int(self._overall[1] * 1000),
                                 secrets.token_hex(6), int(count)]
        wait_ms = await self._redis.call("chat pacing", self._pace(keys=keys, args=args))
        return max(0, int(wait_ms)) / 1000

    async def peek(self, chat_id: int) -> float:
        try:
            return await self._ask(chat_id, count=False)
        except Unavailable:
            return await self.local.peek(chat_id)

    async def take(self, chat_id: int) -> float:
        try:
            return await self._ask(chat_id, count=True)
        except Unavailable:
            return await self.local.take(chat_id)

    async def hold(self, chat_id: int, seconds: float) -> None:
        await self.local.hold(chat_id, seconds)  # this process holds back either way
        try:
            await self._redis.call("chat pause", self._hold(keys=[self._redis.key("pace", chat_id, "pause")],
                                                            args=[max(1, int(seconds * 1000))]))
        except Unavailable:
            pass
