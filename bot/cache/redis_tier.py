"""The shared tier: Redis through `redis.asyncio`, every call bounded in time.

Values are stored as `<version_ms>:<expires_ms>:<json>`: the version (when the
value was written) lets Lua scripts refuse to overwrite a newer value with an
older one when a process reconciles what it wrote during an outage, and the
expiry lets a process copy a value into its memory tier with the same lifetime.

The client never retries and never waits longer than `timeout` for anything
(connect, send, reply): a request must not hang on Redis, the service falls
back to memory instead.

Every key lives under the application prefix (REDIS_KEY_PREFIX, e.g. `cafebot:`): callers
speak in keys relative to it (`user:profile:42`), this tier adds it on the way in and
strips it on the way out. A SCAN pattern always starts with it, so no call made through
here can read, list or delete another application's keys in a shared Redis.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Iterable
from typing import TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

T = TypeVar("T")

SCAN_BATCH = 500

# Server replies that mean "this Redis cannot serve us now" (not "this key is odd").
_OUTAGE_REPLIES = ("NOAUTH", "WRONGPASS", "NOPERM", "LOADING", "READONLY", "MISCONF", "BUSY", "MASTERDOWN", "OOM")

# Write ARGV[1] (an encoded value of version ARGV[2], PX ARGV[3] or 0) unless the
# key already holds a value of the same or a newer version.
_SET_IF_NEWER = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local version = tonumber(string.match(cur, '^(%d+):'))
  if version and version >= tonumber(ARGV[2]) then return 0 end
end
local px = tonumber(ARGV[3])
if px > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', px) else redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""

# Delete KEYS[1] unless it holds a value written at or after ARGV[1] (a tombstone's time).
_DELETE_IF_OLDER = """
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 0 end
if kind == 'string' then
  local version = tonumber(string.match(redis.call('GET', KEYS[1]), '^(%d+):'))
  if version and version >= tonumber(ARGV[1]) then return 0 end
end
redis.call('DEL', KEYS[1])
return 1
"""

# Replace KEYS[1] with the tombstone ARGV[1] (version ARGV[2]) unless it holds a value written
# at or after that version; the tombstone keeps the key's remaining lifetime, else PX ARGV[3]
# (0: none). A process reconciling an older write after an outage then cannot bring it back.
_FORGET = """
local cur = redis.call('GET', KEYS[1])
local existed = 0
if cur then
  local version = tonumber(string.match(cur, '^(%d+):'))
  if version and version >= tonumber(ARGV[2]) then return 0 end
  existed = 1
end
local px = redis.call('PTTL', KEYS[1])
if px <= 0 then px = tonumber(ARGV[3]) end
if px > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', px) else redis.call('SET', KEYS[1], ARGV[1]) end
return existed
"""

_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


def glob_escape(literal: str) -> str:
    """Escape Redis glob characters so a SCAN MATCH pattern matches `literal` as written."""
    return _GLOB_SPECIAL.sub(r"\\\1", literal)


def encode(data: str, version_ms: int, expires_ms: int) -> str:
    return f"{version_ms}:{expires_ms}:{data}"


def decode(raw: str) -> tuple[int, int, str]:
    """(version_ms, expires_ms, json text); ValueError for anything not written by us."""
    version, expires, data = raw.split(":", 2)
    return int(version), int(expires), data


def _text(value: bytes | str) -> str:
    """A reply as text: the client decodes replies (decode_responses=True), but redis-py's types say `bytes | str`."""
    return value.decode() if isinstance(value, bytes) else value


def is_outage(exc: BaseException) -> bool:
    """True when the error means Redis as a whole is unusable (trip the breaker)."""
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError, TimeoutError, OSError)):
        return True
    return isinstance(exc, ResponseError) and str(exc).split(" ", 1)[0].upper() in _OUTAGE_REPLIES


def is_timeout(exc: BaseException) -> bool:
    """No reply in time (ours or the client's socket timeout)."""
    return isinstance(exc, (RedisTimeoutError, TimeoutError))


class RedisTier:
    def __init__(self, client: Redis, timeout: float, key_prefix: str = "") -> None:
        self.client = client
        self.timeout = timeout
        self.key_prefix = key_prefix
        self._set_if_newer = client.register_script(_SET_IF_NEWER)
        self._delete_if_older = client.register_script(_DELETE_IF_OLDER)
        self._forget = client.register_script(_FORGET)

    @classmethod
    def from_url(cls, url: str, timeout: float, key_prefix: str = "") -> RedisTier:
        """Build a client for `url` (ValueError when the URL itself is malformed); connects lazily."""
        # A blocking pool: a burst beyond max_connections queues for a connection (bounded by
        # the same timeout) instead of failing at once and opening the breaker for nothing.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
            health_check_interval=0,
            decode_responses=True,
        )
        return cls(Redis.from_pool(pool), timeout, key_prefix)

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    async def _bounded(self, call: Awaitable[T]) -> T:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that arrives just
        # as the call completes, and a background loop cancelled by stop() then never ends.
        async with asyncio.timeout(self.timeout):
            return await call

    async def ping(self) -> None:
        await self._bounded(self.client.ping())

    async def get(self, key: str) -> str | None:
        raw = await self._bounded(self.client.get(self._key(key)))
        return None if raw is None else _text(raw)

    async def set(self, key: str, raw: str, ttl_ms: int) -> None:
        await self._bounded(self.client.set(self._key(key), raw, px=ttl_ms or None))

    async def set_many(self, items: Iterable[tuple[str, str, int]]) -> None:
        """Write many values in one round trip (warmers write dozens to hundreds at once)."""
        pipe = self.client.pipeline(transaction=False)
        for key, raw, ttl_ms in items:
            pipe.set(self._key(key), raw, px=ttl_ms or None)
        await self._bounded(pipe.execute())

    async def delete(self, key: str) -> bool:
        return bool(await self._bounded(self.client.delete(self._key(key))))

    async def scan_prefix(self, prefix: str) -> list[str]:
        """Every key under the literal `prefix` (relative, returned relative), by SCAN (never KEYS,
        which blocks the server); the application prefix leads the pattern."""
        full = self._key(prefix)
        pattern = glob_escape(full) + "*"
        found: set[str] = set()
        cursor = 0
        while True:
            cursor, keys = await self._bounded(self.client.scan(cursor=cursor, match=pattern, count=SCAN_BATCH))
            found.update(k[len(self.key_prefix):] for k in map(_text, keys) if k.startswith(full))
            if cursor == 0:
                return sorted(found)

    async def scan_some(self, prefix: str, limit: int) -> tuple[list[str], bool]:
        """At most `limit` keys under the literal `prefix` (SCAN, relative like `scan_prefix`), and whether
        there were more."""
        full = self._key(prefix)
        pattern = glob_escape(full) + "*"
        found: set[str] = set()
        cursor = 0
        while True:
            cursor, keys = await self._bounded(self.client.scan(cursor=cursor, match=pattern, count=SCAN_BATCH))
            found.update(k[len(self.key_prefix):] for k in map(_text, keys) if k.startswith(full))
            if len(found) > limit:
                return sorted(found)[:limit], True
            if cursor == 0:
                return sorted(found), False

    async def get_many(self, keys: list[str]) -> list[str | None]:
        """The raw values of `keys` (None where missing), MGET in batches."""
        values: list[str | None] = []
        for start in range(0, len(keys), SCAN_BATCH):
            batch = [self._key(k) for k in keys[start:start + SCAN_BATCH]]
            values.extend(None if v is None else _text(v) for v in await self._bounded(self.client.mget(batch)))
        return values

    async def forget(self, keys: list[str], tombstone: str, version_ms: int, ttl_ms: int) -> int:
        """Replace each key by `tombstone` unless a newer value is there; how many held a value."""
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                await self._forget(keys=[self._key(key)], args=[tombstone, version_ms, ttl_ms], client=pipe)  # queued
            return sum(int(r) for r in await self._bounded(pipe.execute()))

    async def append_event(self, stream: str, fields: dict[str, str], maxlen: int, ttl_seconds: int) -> None:
        """Add an event to a capped stream that expires when nobody writes to it any more."""
        entry: dict[FieldT, EncodableT] = {k: v for k, v in fields.items()}  # redis-py's (invariant) type
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xadd(self._key(stream), entry, maxlen=maxlen, approximate=True)
            pipe.expire(self._key(stream), ttl_seconds)
            await self._bounded(pipe.execute())

    async def read_events(self, stream: str, after: str, count: int) -> list[tuple[str, dict[str, str]]]:
        """Events of `stream` after the id `after` (non-blocking), oldest first."""
        reply = await self._bounded(self.client.xread({self._key(stream): after}, count=count))
        if not reply:
            return []
        if not isinstance(reply, list):  # RESP3 answers a dict; this client speaks RESP2
            raise TypeError(f"unexpected XREAD reply: {type(reply).__name__}")
        return [(message_id, fields) for message_id, fields in reply[0][1]]

    async def delete_prefix(self, prefix: str) -> list[str]:
        keys = await self.scan_prefix(prefix)
        for start in range(0, len(keys), SCAN_BATCH):
            await self._bounded(self.client.unlink(*(self._key(k) for k in keys[start:start + SCAN_BATCH])))
        return keys

    async def set_if_newer(self, key: str, raw: str, version_ms: int, ttl_ms: int) -> bool:
        return bool(await self._bounded(self._set_if_newer(keys=[self._key(key)], args=[raw, version_ms, ttl_ms])))

    async def delete_if_older(self, key: str, version_ms: int) -> bool:
        return bool(await self._bounded(self._delete_if_older(keys=[self._key(key)], args=[version_ms])))

    async def dbsize(self) -> int:
        return int(await self._bounded(self.client.dbsize()))

    async def drop_idle_connections(self) -> None:
        """Close the pooled connections nobody is using; the next requests open fresh ones.

        After an outage the pool still holds sockets opened before it: the probe's pings
        reconnect only the one connection they use, and the first request to draw an old
        one failed ("Connection lost") and tripped the breaker again seconds after recovery.
        """
        await self.client.connection_pool.disconnect(inuse_connections=False)

    async def close(self) -> None:
        await self.client.aclose()
