"""The tiered cache: Redis shared by every process, process memory when Redis fails.

Tiers, from fastest to the source of truth:
- memory: an LRU in this process. While Redis is healthy it only holds copies
  (written through on every set and Redis hit) and is never read, because another
  process may have changed the value in Redis; while Redis is down it serves reads.
- redis: shared by every process of the bot; authoritative while reachable.
- database: the loaders given to `get_or_load` read the source of truth.

Failure handling is a circuit breaker with two states. Any Redis error that means
"this Redis cannot serve us" (refused, reset, timeout, bad password, loading...)
opens it at once: one WARNING, and every request is served from memory without
touching Redis. A background probe pings Redis; after two good pings it
reconciles what this process wrote during the outage and closes the breaker (one
WARNING again), then warms the critical keys. Each value carries its write time,
so reconciliation never lets an older local value overwrite a newer one another
process wrote to Redis meanwhile, and local deletes only remove older values.

Deletes reach the other processes' memory copies too: `forget` and `clear_prefix`
post an event on the `cache:events` stream, which every process reads about once a
second and applies to its memory tier (only to copies older than the delete), so a
copy of a removed value is not served by anyone when Redis fails later. `forget`
also leaves a tombstone in Redis (JSON null with the delete's version), so a process
reconciling an older write after an outage cannot bring the value back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from bot.cache.keys import EVENTS
from bot.cache.memory import Entry, MemoryTier
from bot.cache.redis_tier import RedisTier, decode, encode, is_outage, is_timeout
from bot.cache.stats import TierStats
from bot.cache.warmup import CRITICAL, WarmerRegistry

log = logging.getLogger(__name__)

T = TypeVar("T")
Loader = Callable[[], Awaitable[Any]]
StatsProvider = Callable[[], dict[str, Any]]
ClearListener = Callable[[str], Awaitable[None]]  # called with the prefix an operator cleared

REDIS_HIT_RATE_SLO = 0.8
TOMBSTONE = "null"  # the JSON a forgotten key holds in Redis until it expires: read as a miss
TOMBSTONE_TTL_SECONDS = 24 * 3600  # for a forgotten key that had no expiry of its own
# A Redis timeout that fired this much later than the timeout was the event loop's stall, not Redis's.
STALL_MARGIN_SECONDS = 0.1
EVENTS_MAXLEN = 1000  # the events stream is capped (a copy lives local_ttl seconds anyway)
EVENTS_TTL_SECONDS = 3600
EVENTS_BATCH = 200
RESERVED_STATS = frozenset({"backend", "available", "redis", "fallback", "tiers", "slo", "warmup"})


class _Failed:
    """Marks a Redis call that did not complete (the caller falls back to memory)."""


FAILED = _Failed()


@dataclass(frozen=True, slots=True)
class StoredValue:
    """One value found by `Cache.scan`."""

    key: str
    value: Any
    written_at: float  # epoch seconds of the write


@dataclass(frozen=True, slots=True)
class ScanResult:
    values: list[StoredValue]
    truncated: bool  # more keys matched than the limit allowed to read
    backend: str  # where they were read: "redis" or "memory"


class Cache:
    def __init__(
        self,
        redis_url: str = "",
        *,
        memory_max_entries: int = 10_000,
        redis_timeout: float = 0.2,
        probe_interval: float = 1.0,
        health_interval: float = 5.0,
        recover_after: int = 2,
        local_ttl: float = 300.0,
        warm_on_start: bool = True,
        key_prefix: str = "",
        events_poll: float = 1.0,
    ) -> None:
        """`key_prefix`: the application prefix every Redis key lives under (REDIS_KEY_PREFIX);
        keys given to and returned by this class are relative to it."""
        self.warmers = WarmerRegistry()
        self.key_prefix = key_prefix
        self.stats_providers: dict[str, StatsProvider] = {}
        self._clear_listeners: list[ClearListener] = []
        self.warm_on_start = warm_on_start
        self.tiers = {"memory": TierStats(), "redis": TierStats(), "database": TierStats()}
        self._memory = MemoryTier(memory_max_entries)
        self._redis_url = redis_url.strip()
        self._redis_password = urlparse(self._redis_url).password if self._redis_url else None
        self._redis_timeout = redis_timeout
        self.loop_stalls = 0  # Redis timeouts that were the event loop's stalls (not counted as outages)
        self._probe_interval = probe_interval
        self._health_interval = health_interval
        self._recover_after = recover_after
        self._local_ttl = local_ttl
        self._redis: RedisTier | None = None
        self._redis_state = "disabled" if not self._redis_url else "connecting"  # ok | down | invalid-url
        self._redis_keys: int | None = None
        self._fallback_since: float | None = None
        self._fallback_reason: str | None = None
        self._fallback_activations = 0
        self._fallback_served: Counter[str] = Counter()
        self._journal: OrderedDict[str, int] = OrderedDict()  # key → version of a local write/delete in an outage
        self._tombstones: list[tuple[str, int]] = []  # prefixes cleared in an outage, with the time
        self._journal_dropped = 0
        self._reconciled = 0
        self._last_version = 0
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._probe: asyncio.Task[None] | None = None
        self._warmup_lock = asyncio.Lock()
        self._tripped = asyncio.Event()  # set while the breaker is open; wakes the probe
        self._last_warmup: dict[str, dict[str, Any]] = {}
        self._events_poll = events_poll
        self._events_after = "0"  # the last event applied (a new process reads them all: no copies yet)
        self._unposted: deque[dict[str, str]] = deque(maxlen=EVENTS_MAXLEN)  # events Redis missed

    # --- state ---------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """Where reads are served from now: "redis" or "memory"."""
        return "redis" if self._redis_state == "ok" else "memory"

    @property
    def available(self) -> bool:
        """Whether Redis is configured and reachable."""
        return self._redis_state == "ok"

    @property
    def _fallback_active(self) -> bool:
        return self._redis_state in ("down", "invalid-url")

    # --- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        if not self._redis_url:
            log.info("REDIS_URL not set: the cache runs in process memory only")
        else:
            try:
                self._redis = RedisTier.from_url(self._redis_url, self._redis_timeout, self.key_prefix)
            except ValueError as exc:
                self._redis_state = "invalid-url"
                self._enter_fallback(f"REDIS_URL is not a valid Redis URL ({self._safe(exc)})")
            else:
                # Through the stall check: the models start loading on worker threads as this runs. A late
                # timeout leaves the state "connecting" and the probe switches to Redis a moment later.
                if not isinstance(await self._try_redis("ping", self._redis.ping()), _Failed):
                    self._redis_state = "ok"
                    log.info("cache backend: Redis")
                self._probe = asyncio.create_task(self._probe_loop(), name="cache-redis-probe")
                self._spawn(self._events_loop(), "cache-events")

    async def after_start(self) -> None:
        """The startup warmup, in the background, once the services its warmers read are running."""
        if self.warm_on_start:
            self._spawn(self.warmup(CRITICAL), "cache-warmup-startup")

    async def stop(self) -> None:
        tasks = [t for t in (self._probe, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._probe = None
        if self._redis is not None:
            await self._redis.close()

    # --- the API ---------------------------------------------------------------------
    async def get(self, key: str) -> Any | None:
        if self._redis is not None and self._redis_state == "ok":
            redis = self._redis
            stats = self.tiers["redis"]
            t0 = time.perf_counter()
            raw = await self._try_redis("get", redis.get(key))
            if not isinstance(raw, _Failed):
                stats.observe(time.perf_counter() - t0)
                if raw is None:
                    stats.lookup(key, hit=False)
                    return None
                try:
                    version, expires, data = decode(raw)
                    value = json.loads(data)
                except ValueError:
                    stats.errors += 1
                    stats.lookup(key, hit=False)
                    log.warning("cache key %r holds a value this cache did not write; treated as a miss", key)
                    return None
                if value is None:  # a tombstone: the key was forgotten
                    stats.lookup(key, hit=False)
                    return None
                stats.lookup(key, hit=True)
                self._memory.put(key, self._entry(data, version, expires))
                return value
        return self._memory_get(key)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store a JSON-serialisable value; `ttl` in seconds (None: until evicted or cleared)."""
        await self.set_many({key: value}, ttl)

    async def set_many(self, items: Mapping[str, Any], ttl: float | None = None) -> int:
        """Store many values with one Redis round trip (what warmers use); returns how many."""
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be positive seconds or None")
        ttl_ms = max(1, int(ttl * 1000)) if ttl is not None else 0
        entries: dict[str, Entry] = {}
        for key, value in items.items():
            version = self._next_version()
            entries[key] = self._entry(_dumps(value), version, version + ttl_ms if ttl_ms else 0)
        if not entries:
            return 0
        stored = False
        if self._redis is not None and self._redis_state == "ok":
            writes = [(k, encode(e.data, e.version_ms, e.expires_ms), ttl_ms) for k, e in entries.items()]
            call = self._redis.set(*writes[0]) if len(writes) == 1 else self._redis.set_many(writes)
            stored = not isinstance(await self._try_redis("set", call), _Failed)
        for key, entry in entries.items():
            self._memory.put(key, entry)
            if not stored:
                self._journal_change(key, entry.version_ms)
        if not stored:
            self._count_fallback("set", len(entries))
        return len(entries)

    async def delete(self, key: str) -> bool:
        removed = self._memory.delete(key)
        done = False
        if self._redis is not None and self._redis_state == "ok":
            result = await self._try_redis("delete", self._redis.delete(key))
            if not isinstance(result, _Failed):
                done, removed = True, removed or bool(result)
        if not done:
            self._journal_change(key, self._next_version())
            self._count_fallback("delete")
        return removed

    async def clear_prefix(self, prefix: str) -> int:
        """Remove every key under the literal `prefix` in Redis and in memory; returns how many.

        `prefix` is relative to the application prefix, so only this bot's keys can go; what an
        operator may type is checked before (`keys.clear_prefix_refusal`)."""
        if not prefix:
            raise ValueError("prefix must not be empty")
        removed = set(self._memory.delete_prefix(prefix))
        done = False
        if self._redis is not None and self._redis_state == "ok":
            keys = await self._try_redis("clear_prefix", self._redis.delete_prefix(prefix))
            if not isinstance(keys, _Failed):
                done = True
                removed.update(keys)
        if not done and self._redis is not None:
            self._tombstones.append((prefix, self._next_version()))
            self._count_fallback("clear_prefix")
        log.info("cache: cleared %d keys under %r", len(removed), prefix)
        await self._post_event({"op": "prefix", "prefix": prefix, "version": str(self._next_version())})
        for listener in self._clear_listeners:
            await listener(prefix)
        return len(removed)

    async def forget(self, keys: Collection[str], ttl: float | None = None) -> bool:
        """Remove `keys` from Redis and from the memory of every process (a bad value, at once).

        In Redis each key becomes a tombstone for the rest of its lifetime (else `ttl`, else a
        day); the other processes drop their memory copies when they read the event, within
        about a second. True when Redis took it (or there is no Redis: this process is all);
        False in an outage: removed here, the rest is applied when Redis is back.
        """
        doomed = list(dict.fromkeys(keys))
        if not doomed:
            return True
        version = self._next_version()
        for key in doomed:
            self._memory.delete(key)
        if self._redis is None:
            return True
        reached = False
        if self._redis_state == "ok":
            ttl_ms = max(1, int((ttl or TOMBSTONE_TTL_SECONDS) * 1000))
            tombstone = encode(TOMBSTONE, version, version + ttl_ms)
            call = self._redis.forget(doomed, tombstone, version, ttl_ms)
            reached = not isinstance(await self._try_redis("forget", call), _Failed)
        if not reached:
            for key in doomed:
                self._journal_change(key, version)
            self._count_fallback("forget", len(doomed))
        await self._post_event({"op": "forget", "keys": json.dumps(doomed), "version": str(version)})
        log.info("cache: forgot %d keys%s", len(doomed), "" if reached else " (Redis unavailable: here only for now)")
        return reached

    async def scan(self, prefix: str, limit: int) -> ScanResult:
        """Up to `limit` live values under the literal `prefix`: from Redis while it serves, else
        from this process's memory (what `get` would serve). Bounded: SCAN, then MGET in batches."""
        if not prefix:
            raise ValueError("prefix must not be empty")
        if self._redis is not None and self._redis_state == "ok":
            redis = self._redis
            found = await self._try_redis("scan", redis.scan_some(prefix, limit))
            raws = FAILED if isinstance(found, _Failed) else await self._try_redis("scan", redis.get_many(found[0]))
            if not isinstance(found, _Failed) and not isinstance(raws, _Failed):
                values = []
                for key, raw in zip(found[0], raws, strict=True):
                    item = _stored(key, raw)
                    if item is not None:
                        values.append(item)
                return ScanResult(values, found[1], "redis")
        entries, truncated = self._memory.items(prefix, _now_ms(), limit)
        values = [v for v in (_stored(key, encode(e.data, e.version_ms, e.expires_ms)) for key, e in entries) if v]
        return ScanResult(values, truncated, "memory")

    def on_clear_prefix(self, listener: ClearListener) -> None:
        """Called after every clear-prefix: a feature with its own copies of keys under a prefix
        (the semantic cache's per-process index) forgets them too."""
        self._clear_listeners.append(listener)

    async def get_or_load(self, key: str, loader: Loader, ttl: float | None = None) -> Any | None:
        """The cached value, or the loader's (stored with `ttl`); concurrent misses share one load."""
        value = await self.get(key)
        if value is not None:
            return value
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        stats = self.tiers["database"]
        t0 = time.perf_counter()
        try:
            loaded = await loader()
            stats.observe(time.perf_counter() - t0)
            if loaded is None:
                stats.misses += 1
            else:
                stats.hits += 1
                loaded = json.loads(_dumps(loaded))  # the same shape a later cache hit returns
                await self.set(key, loaded, ttl)
            future.set_result(loaded)
            return loaded
        except BaseException as exc:
            if isinstance(exc, Exception):
                stats.errors += 1
                future.set_exception(exc)
                future.exception()  # retrieved here; waiters re-raise it
            else:
                future.cancel()
            raise
        finally:
            del self._loading[key]

    # --- warmup ------------------------------------------------------------------------
    async def warmup(self, group: str = CRITICAL) -> dict[str, Any]:
        """Run the warmers of `group` (one warmup at a time); the report says keys and time per warmer."""
        async with self._warmup_lock:
            report = await self.warmers.run(group)
        report["backend"] = self.backend
        self._last_warmup[group] = report
        log.info("cache warmup %s: %d keys in %.0f ms on %s%s", group, report["keys"], report["took_ms"],
                 report["backend"], f" ({report['errors']} warmers failed)" if report["errors"] else "")
        return report

    # --- statistics --------------------------------------------------------------------
    def add_stats_provider(self, name: str, provider: StatsProvider) -> None:
        """Add a block to `stats()` (the semantic cache adds "semantic")."""
        if name in RESERVED_STATS:
            raise ValueError(f"stats block {name!r} is reserved")
        self.stats_providers[name] = provider

    async def refresh_key_count(self) -> None:
        """Read Redis's key count now (stats() is synchronous and reports the last one read)."""
        if self._redis is not None and self._redis_state == "ok":
            count = await self._try_redis("stats", self._redis.dbsize())
            if not isinstance(count, _Failed):
                self._redis_keys = count

    def stats(self) -> dict[str, Any]:
        self._memory.purge_expired(_now_ms())
        tiers = {name: stats.as_dict() for name, stats in self.tiers.items()}
        tiers["memory"].update(keys=len(self._memory), max_keys=self._memory.max_entries,
                               evictions=self._memory.evictions, namespaces=self._memory.namespace_counts())
        tiers["redis"].update(state=self._redis_state, keys=self._redis_keys if self.available else None)
        tiers["database"]["loads"] = tiers["database"]["hits"] + tiers["database"]["misses"]
        since = self._fallback_since
        redis_rate = tiers["redis"]["hit_rate"]
        out: dict[str, Any] = {
            "backend": self.backend,
            "available": self.available,
            "redis": {"configured": bool(self._redis_url), "state": self._redis_state, "key_prefix": self.key_prefix,
                      "loop_stalls": self.loop_stalls},  # timeouts that were our own stalls, not outages
            "fallback": {
                "active": self._fallback_active,
                "since": _iso(since) if since else None,
                "seconds": round(time.time() - since, 1) if since else None,
                "reason": self._fallback_reason,
                "activations": self._fallback_activations,
                "served": dict(self._fallback_served),
                "pending_reconcile": len(self._journal) + len(self._tombstones),
                "journal_dropped": self._journal_dropped,
                "reconciled": self._reconciled,
            },
            "tiers": tiers,
            "slo": {
                "redis_hit_rate_target": REDIS_HIT_RATE_SLO,
                "redis_hit_rate": redis_rate,
                "met": None if redis_rate is None else redis_rate > REDIS_HIT_RATE_SLO,
            },
            "warmup": dict(self._last_warmup),
        }
        for name, provider in self.stats_providers.items():
            try:
                out[name] = provider()
            except Exception as exc:
                out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        return out

    # --- internals: memory -----------------------------------------------------------------
    def _memory_get(self, key: str) -> Any | None:
        stats = self.tiers["memory"]
        self._count_fallback("get")
        t0 = time.perf_counter()
        entry = self._memory.get(key, _now_ms())
        value = None if entry is None else json.loads(entry.data)
        stats.observe(time.perf_counter() - t0)
        if entry is None:
            stats.misses += 1
        else:
            stats.hits += 1
        return value

    def _count_fallback(self, op: str, n: int = 1) -> None:
        """Count an operation served without Redis because Redis failed (not when it is simply unset)."""
        if self._fallback_active:
            self._fallback_served[op] += n

    def _entry(self, data: str, version_ms: int, expires_ms: int) -> Entry:
        return Entry(data, version_ms, expires_ms, time.monotonic() + self._local_ttl)

    def _next_version(self) -> int:
        """Wall-clock milliseconds, strictly increasing within this process."""
        self._last_version = max(_now_ms(), self._last_version + 1)
        return self._last_version

    def _journal_change(self, key: str, version_ms: int) -> None:
        """Remember a write or delete Redis missed, to reconcile when it is back."""
        if self._redis is None:
            return
        self._journal[key] = version_ms
        self._journal.move_to_end(key)
        while len(self._journal) > self._memory.max_entries:
            self._journal.popitem(last=False)
            self._journal_dropped += 1

    # --- internals: Redis and the breaker --------------------------------------------------------
    async def _try_redis(self, op: str, call: Coroutine[Any, Any, T]) -> T | _Failed:
        """Run one Redis call; on failure count it, maybe open the breaker, and return FAILED.

        A timeout whose timer fired late is this process's own stall, not Redis's: the event loop
        was held (a model library importing or loading on a worker thread keeps the GIL for up to
        ~0.7 s at a time, measured at start, docs/BENCHMARKS.md "Fast start") and the reply, if
        any, was never read. It fails this call but does not open the breaker; a Redis that is
        really gone times out on time on the next call and opens it then. A timeout on time opens
        the breaker only if a ping right after fails too (`_answers_now`).
        """
        started = time.monotonic()
        try:
            return await call
        except Exception as exc:
            self.tiers["redis"].errors += 1
            late = time.monotonic() - started - self._redis_timeout
            if is_timeout(exc) and self._redis_timeout and late > STALL_MARGIN_SECONDS:
                self.loop_stalls += 1
                log.info("Redis %s timed out %.2f s late: the event loop was busy, not counted as an outage",
                         op, late)
            elif is_timeout(exc) and self._redis is not None and await self._answers_now():
                self.loop_stalls += 1  # one slow reply (a starved CPU, this process or Redis), not an outage
                log.info("Redis %s timed out but Redis answered a ping right after: not counted as an outage", op)
            elif is_outage(exc):
                self._trip(exc)
            else:
                log.error("Redis %s failed: %s", op, self._safe(exc))
            return FAILED

    async def _answers_now(self) -> bool:
        """A second chance before a timeout opens the breaker: one ping, bounded by the same timeout.

        On a machine whose CPU is starved a reply can miss its 200 ms once while Redis is fine; an
        outage fails the ping too (it then costs one more timeout before the fallback, once per outage).
        """
        assert self._redis is not None
        try:
            await self._redis.ping()
        except Exception:
            return False
        return True

    def _trip(self, exc: BaseException) -> None:
        """Open the breaker (once per outage: one WARNING, one activation)."""
        if self._redis_state == "down":
            return
        self._redis_state = "down"
        self._tripped.set()
        self._enter_fallback(self._safe(exc))

    def _enter_fallback(self, reason: str) -> None:
        self._fallback_since = time.time()
        self._fallback_reason = reason
        self._fallback_activations += 1
        log.warning("Redis unavailable (%s): the cache falls back to memory and the database", reason)

    async def check_redis(self) -> bool:
        """Probe Redis now; if it answers while the breaker is open, reconcile and switch back at once."""
        if self._redis is None:
            return False
        if self._redis_state == "ok":
            await self.refresh_key_count()
            return self._redis_state == "ok"
        try:
            await self._redis.ping()
        except Exception:
            return False
        return await self._recover()

    async def _probe_loop(self) -> None:
        """Forever: while healthy, read the key count (noticing a silent outage); while down, ping."""
        assert self._redis is not None
        good_pings = 0
        while True:
            try:
                if self._redis_state == "ok":
                    good_pings = 0
                    # A request saw the outage first: probe now. Not wait_for: on Python 3.11 it swallows
                    # a cancel (stop) that arrives as the trip wakes it, and stop() then waits forever.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._health_interval):
                            await self._tripped.wait()
                    await self.refresh_key_count()
                    continue
                await asyncio.sleep(self._probe_interval)
                try:
                    await self._redis.ping()
                except Exception as exc:
                    good_pings = 0
                    log.debug("Redis still unavailable: %s", self._safe(exc))
                    continue
                good_pings += 1
                if good_pings >= self._recover_after and await self._recover():
                    good_pings = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cache probe failed")

    async def _recover(self) -> bool:
        """Reconcile what Redis missed, then close the breaker; False if Redis failed again meanwhile."""
        assert self._redis is not None
        with contextlib.suppress(Exception):  # stale sockets from before the outage
            await self._redis.drop_idle_connections()
        while self._journal or self._tombstones:
            journal, tombstones = self._journal, self._tombstones
            self._journal, self._tombstones = OrderedDict(), []
            try:
                self._reconciled += await self._reconcile(journal, tombstones)
            except Exception as exc:
                for key, version in journal.items():  # keep what is left for the next attempt
                    self._journal.setdefault(key, version)
                self._tombstones[:0] = tombstones
                log.debug("reconciliation interrupted: %s", self._safe(exc))
                return False
        try:
            await self._post_unposted()
        except Exception as exc:
            log.debug("posting cache events interrupted: %s", self._safe(exc))
            return False
        # No await between the journal check above and this switch: nothing written in between is lost.
        down_for = time.time() - (self._fallback_since or time.time())
        self._redis_state = "ok"
        self._tripped.clear()
        self._fallback_since = self._fallback_reason = None
        log.warning("Redis available again after %.0f s: the cache is back on Redis", down_for)
        self._spawn(self.warmup(CRITICAL), "cache-warmup-recovery")
        return True

    async def _reconcile(self, journal: Mapping[str, int], tombstones: list[tuple[str, int]]) -> int:
        """Apply local changes to Redis, never overwriting a value written after ours."""
        assert self._redis is not None
        redis = self._redis
        applied = 0
        for prefix, version in tombstones:
            for key in await redis.scan_prefix(prefix):
                applied += await redis.delete_if_older(key, version)
        now = _now_ms()
        for key, version in journal.items():
            entry = self._memory.peek(key)
            if entry is not None and entry.version_ms >= version and (not entry.expires_ms or entry.expires_ms > now):
                ttl_ms = entry.expires_ms - now if entry.expires_ms else 0
                raw = encode(entry.data, entry.version_ms, entry.expires_ms)
                applied += await redis.set_if_newer(key, raw, entry.version_ms, ttl_ms)
            else:
                applied += await redis.delete_if_older(key, version)
        return applied

    # --- internals: deletes every process applies ---------------------------------------
    async def _post_event(self, fields: dict[str, str]) -> None:
        """Tell the other processes (Redis down: keep it for when Redis is back)."""
        if self._redis is None:
            return
        if self._redis_state == "ok":
            call = self._redis.append_event(EVENTS, fields, EVENTS_MAXLEN, EVENTS_TTL_SECONDS)
            if not isinstance(await self._try_redis("events", call), _Failed):
                return
        self._unposted.append(fields)

    async def _post_unposted(self) -> None:
        assert self._redis is not None
        while self._unposted:
            await self._redis.append_event(EVENTS, self._unposted[0], EVENTS_MAXLEN, EVENTS_TTL_SECONDS)
            self._unposted.popleft()

    async def _events_loop(self) -> None:
        """Forever, while Redis serves: apply the deletes other processes posted to our memory copies."""
        assert self._redis is not None
        while True:
            await asyncio.sleep(self._events_poll)
            try:
                await self.apply_events()
            except Exception:
                log.exception("cache: applying events failed")

    async def apply_events(self) -> int:
        """Read and apply the events posted since the last call; how many copies were dropped."""
        if self._redis is None or self._redis_state != "ok":
            return 0
        dropped = 0
        while True:
            events = await self._try_redis("events", self._redis.read_events(EVENTS, self._events_after, EVENTS_BATCH))
            if isinstance(events, _Failed):
                return dropped
            for event_id, fields in events:
                self._events_after = event_id
                dropped += self._apply_event(fields)
            if len(events) < EVENTS_BATCH:
                return dropped

    def _apply_event(self, fields: Mapping[str, str]) -> int:
        try:
            version = int(fields["version"])
            if fields.get("op") == "forget":
                return sum(self._memory.delete_if_older(key, version) for key in json.loads(fields["keys"]))
            if fields.get("op") == "prefix" and fields.get("prefix"):
                return self._memory.delete_prefix_if_older(fields["prefix"], version)
        except (KeyError, ValueError, TypeError):
            log.warning("cache: skipping a malformed event %r", dict(fields))
        return 0

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cache task %s failed", task.get_name(), exc_info=task.exception())

    def _safe(self, exc: BaseException) -> str:
        """An error as text for logs and stats, with the Redis password blanked out."""
        detail = str(exc) or (f"no reply within {self._redis_timeout * 1000:.0f} ms"
                              if isinstance(exc, TimeoutError) else "no details")
        text = f"{type(exc).__name__}: {detail}"
        if self._redis_password:
            text = text.replace(self._redis_password, "***")
        return text


def _stored(key: str, raw: str | None) -> StoredValue | None:
    """A raw Redis value as a StoredValue; None for a missing key, a tombstone or a foreign value."""
    if raw is None:
        return None
    try:
        version, _, data = decode(raw)
        value = json.loads(data)
    except ValueError:
        return None
    return None if value is None else StoredValue(key, value, version / 1000)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
