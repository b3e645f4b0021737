"""Where the SLO numbers come from: the running process, or what it left behind.

Live: the chat window of `Metrics` (p95, error rate over 5 minutes) and the hit counters
the cache and the semantic cache keep, this replica's merged with what the other replicas
published to Redis (bot/ops/fleet.py). Stored (the bot is not running): the
`agent_events` rows of the last window of activity, and the Redis server's own
keyspace counters.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from bot.metrics import is_error
from bot.ops.fleet import ReplicaFigures, fleet_report, replica_figures
from bot.ops.slo import WINDOW_NOTE, Measurement
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


def local_figures(services: Services, now: float | None = None) -> ReplicaFigures:
    """This process's SLO figures: its 5-minute window of turns and its caches' counters since start."""
    window = services.metrics.window
    return replica_figures(
        services.replica, time.time() if now is None else now, window.turns(), window.seconds,
        services.cache.stats() if services.cache is not None else None,
        services.semantic.stats.as_dict() if services.semantic is not None else None,
    )


async def live_report(services: Services) -> dict[str, Any]:
    """`GET /api/slo`: the fleet's figures from Redis (this replica's fresh ones among them), else its own."""
    local = local_figures(services)
    board = services.slo_board
    if board is None:
        return fleet_report(local, None, "live", WINDOW_NOTE, "Redis not configured (REDIS_URL is empty)")
    fleet = await board.read() if await board.publish(local) else None
    if fleet is None:
        return fleet_report(local, None, "live", WINDOW_NOTE,
                            "Redis unavailable, the other replicas' figures are not included")
    return fleet_report(local, fleet, "live", WINDOW_NOTE)


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
