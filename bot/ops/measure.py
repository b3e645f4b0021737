"""Where the SLO numbers come from: the running process, or what it left behind.

Live: the chat window of `Metrics` (p95, error rate over 5 minutes) and the hit counters
the cache and the semantic cache keep. Stored (the bot is not running): the
`agent_events` rows of the last window of activity, and the Redis server's own
keyspace counters.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from bot.metrics import is_error
from bot.ops.slo import Measurement
from bot.ops.window import WindowSnapshot, summarise
from storage.db import Database

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


def window_measurements(snapshot: WindowSnapshot, basis: str) -> dict[str, Measurement]:
    return {
        "chat_p95_ms": Measurement(snapshot.p95_ms, snapshot.turns, f"p95 of {basis}"),
        "error_rate": Measurement(snapshot.error_rate, snapshot.turns,
                                  f"turns whose model answer failed / all {basis}"),
    }


def live_measurements(services: Services) -> dict[str, Measurement]:
    snapshot = services.metrics.chat_window()
    out = window_measurements(snapshot, f"chat turns in the last {snapshot.seconds / 60:.0f} minutes")
    out["redis_hit_rate"] = redis_tier_measurement(services.cache)
    out["semantic_hit_rate"] = semantic_measurement(services.semantic)
    return out


def redis_tier_measurement(cache: Any) -> Measurement:
    if cache is None:
        return Measurement(None, 0, "no cache service")
    stats = cache.stats()
    if not stats.get("redis", {}).get("configured"):
        return Measurement(None, 0, "Redis not configured (REDIS_URL is empty)")
    tier = stats["tiers"]["redis"]
    lookups = tier["hits"] + tier["misses"]
    return Measurement(tier["hit_rate"], lookups, "Redis lookups that found the key, since start")


def semantic_measurement(semantic: Any) -> Measurement:
    if semantic is None:
        return Measurement(None, 0, "semantic cache disabled")
    stats = semantic.stats.as_dict()
    return Measurement(stats["hit_rate"], stats["lookups"],
                       "semantic lookups of shareable questions that found a cached answer, since start")


async def stored_measurements(db: Database, window_seconds: float, redis_url: str) -> tuple[dict[str, Measurement],
                                                                                             str]:
    """Measurements from `agent_events` (the last `window_seconds` of activity) and Redis INFO."""
    has_events = await db.table_exists("agent_events")
    newest = await db.fetchval("SELECT MAX(created_at) FROM agent_events") if has_events else None
    rows = [] if newest is None else await db.fetchall(
        "SELECT latency_ms, source, error_class FROM agent_events WHERE created_at > ? ORDER BY id",
        (newest - window_seconds,),
    )
    snapshot = summarise([r["latency_ms"] / 1000 for r in rows], [r["source"] for r in rows],
                         [is_error(r["error_class"]) for r in rows], window_seconds)
    minutes = f"{window_seconds / 60:g} minutes"
    window = "no agent events recorded" if newest is None else f"the {minutes} up to the newest agent event"
    out = window_measurements(snapshot, f"agent_events in {window}")
    exact = snapshot.sources.get("cache", 0)
    semantic = snapshot.sources.get("semantic", 0)
    reached = snapshot.turns - exact
    out["semantic_hit_rate"] = Measurement(
        semantic / reached if reached else None, reached,
        "agent_events answered by the semantic cache / turns not answered by the exact cache",
    )
    out["redis_hit_rate"] = await redis_info_measurement(redis_url)
    return out, window


async def redis_info_measurement(redis_url: str) -> Measurement:
    """The Redis server's own keyspace hit rate (INFO stats), which outlives the bot process."""
    if not redis_url:
        return Measurement(None, 0, "Redis not configured (REDIS_URL is empty)")
    import redis.asyncio as redis

    client = redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        info = await client.info("stats")
    except Exception as exc:
        return Measurement(None, 0, f"Redis unreachable ({type(exc).__name__})")
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
    total = hits + misses
    return Measurement(hits / total if total else None, total,
                       "Redis server keyspace_hits / (hits + misses) since the Redis server started")
