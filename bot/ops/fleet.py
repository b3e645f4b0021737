"""The SLO figures of several replicas, merged into the fleet's.

Behind a load balancer each replica sees only the turns it answered, so its own p95 says little
about what customers get. Each replica therefore publishes its figures (`ReplicaFigures`: the
5-minute window's turns and its cache counters) to Redis every few seconds
(bot/replicas/slo.py), and whoever reports (`GET /api/slo` on any replica, `python main.py slo`)
merges what the live replicas published: the p95 over the union of their turns (not an average
of p95s, which means nothing), the error rate over all turns, the hit rates over all lookups.

Without Redis, or while it does not answer, the report is this replica's own and says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.ops.slo import Measurement, evaluate
from bot.ops.window import WINDOW_SECONDS

# A replica publishes at most this many turns; beyond it an even thinning, each kept turn weighing for
# the ones left out, so a busy replica still counts for its share of the fleet's p95 (then an estimate).
MAX_PUBLISHED_TURNS = 3000


@dataclass(frozen=True, slots=True)
class ReplicaFigures:
    """What one replica contributes to the fleet's SLO: its window's turns and its cache counters."""

    replica: str
    at: float  # wall-clock seconds of the snapshot (replicas' monotonic clocks do not compare)
    window_s: float = WINDOW_SECONDS
    turns: list[tuple[float, str, bool]] = field(default_factory=list)  # (latency ms, source, error)
    turn_count: int = 0  # turns in the window; more than len(turns) when thinned
    redis_configured: bool = False
    redis_hits: int = 0
    redis_misses: int = 0
    semantic_enabled: bool = False
    semantic_lookups: int = 0
    semantic_hits: int = 0

    @property
    def weight(self) -> float:
        """How many turns of the window each published turn stands for (1 unless thinned)."""
        return self.turn_count / len(self.turns) if self.turns else 1.0

    def to_json(self) -> str:
        data = {
            "replica": self.replica, "at": round(self.at, 3), "window_s": self.window_s,
            "turns": [[round(ms, 1), source, int(error)] for ms, source, error in self.turns],
            "turn_count": self.turn_count,
            "redis": [int(self.redis_configured), self.redis_hits, self.redis_misses],
            "semantic": [int(self.semantic_enabled), self.semantic_lookups, self.semantic_hits],
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ReplicaFigures:
        data = json.loads(text)
        redis, semantic = data["redis"], data["semantic"]
        return cls(
            replica=str(data["replica"]), at=float(data["at"]), window_s=float(data["window_s"]),
            turns=[(float(ms), str(source), bool(error)) for ms, source, error in data["turns"]],
            turn_count=int(data["turn_count"]), redis_configured=bool(redis[0]), redis_hits=int(redis[1]),
            redis_misses=int(redis[2]), semantic_enabled=bool(semantic[0]), semantic_lookups=int(semantic[1]),
            semantic_hits=int(semantic[2]),
        )


def replica_figures(replica: str, at: float, window_turns: Sequence[tuple[float, str, bool]],
                    window_s: float, cache_stats: Mapping[str, Any] | None,
                    semantic_stats: Mapping[str, Any] | None) -> ReplicaFigures:
    """This replica's figures from its metrics window (latency in seconds) and its caches' stats."""
    turns = [(latency_s * 1000, source, error) for latency_s, source, error in window_turns]
    kept = _thin(turns, MAX_PUBLISHED_TURNS)
    redis_configured = bool(cache_stats and cache_stats.get("redis", {}).get("configured"))
    tier = cache_stats["tiers"]["redis"] if cache_stats is not None and redis_configured else {}
    return ReplicaFigures(
        replica=replica, at=at, window_s=window_s, turns=kept, turn_count=len(turns),
        redis_configured=redis_configured, redis_hits=int(tier.get("hits", 0)),
        redis_misses=int(tier.get("misses", 0)), semantic_enabled=semantic_stats is not None,
        semantic_lookups=int((semantic_stats or {}).get("lookups", 0)),
        semantic_hits=int((semantic_stats or {}).get("hits", 0)),
    )


def _thin(turns: list[tuple[float, str, bool]], limit: int) -> list[tuple[float, str, bool]]:
    if len(turns) <= limit:
        return turns
    step = len(turns) / limit
    return [turns[int(i * step)] for i in range(limit)]


def weighted_percentile(samples: Sequence[tuple[float, float]], q: float) -> float | None:
    """Nearest rank over (value, weight) pairs: with every weight 1 exactly bot.percentiles' definition."""
    if not samples:
        return None
    ordered = sorted(samples)
    total = sum(w for _, w in ordered)
    wanted = max(q / 100 * total, min(w for _, w in ordered))
    cumulative = 0.0
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= wanted - 1e-9 * total:
            return value
    return ordered[-1][0]


def measurements(figures: Sequence[ReplicaFigures]) -> dict[str, Measurement]:
    """The four SLO measurements over the given replicas' figures (one replica: its own)."""
    where = "this replica" if len(figures) == 1 else f"{len(figures)} replicas"
    window_s = max((f.window_s for f in figures), default=WINDOW_SECONDS)
    minutes = f"{window_s / 60:.0f} minutes"
    weighted = [(ms, f.weight) for f in figures for ms, _, _ in f.turns]
    turns = sum(f.turn_count for f in figures)
    errors = sum(f.weight for f in figures for _, _, error in f.turns if error)
    weights = sum(w for _, w in weighted)
    out = {
        "chat_p95_ms": Measurement(weighted_percentile(weighted, 95), turns,
                                   f"p95 of chat turns in the last {minutes} on {where}"),
        "error_rate": Measurement(errors / weights if weights else None, turns,
                                  f"turns whose model answer failed / all chat turns in the last {minutes} on {where}"),
    }
    with_redis = [f for f in figures if f.redis_configured]
    if not with_redis:
        out["redis_hit_rate"] = Measurement(None, 0, "Redis not configured (REDIS_URL is empty)")
    else:
        hits, lookups = sum(f.redis_hits for f in with_redis), sum(f.redis_hits + f.redis_misses for f in with_redis)
        out["redis_hit_rate"] = Measurement(hits / lookups if lookups else None, lookups,
                                            f"Redis lookups that found the key, since start, on {where}")
    with_semantic = [f for f in figures if f.semantic_enabled]
    if not with_semantic:
        out["semantic_hit_rate"] = Measurement(None, 0, "semantic cache disabled")
    else:
        hits, lookups = sum(f.semantic_hits for f in with_semantic), sum(f.semantic_lookups for f in with_semantic)
        out["semantic_hit_rate"] = Measurement(
            hits / lookups if lookups else None, lookups,
            f"semantic lookups of shareable questions that found a cached answer, since start, on {where}")
    return out


def fleet_report(local: ReplicaFigures | None, fleet: Sequence[ReplicaFigures] | None, source: str, window: str,
                 why_local: str = "", now: float | None = None) -> dict[str, Any]:
    """The report of `GET /api/slo` and `main.py slo`: the fleet's targets, then one row per replica.

    `fleet` is what the live replicas published (None when Redis could not be read: then the
    report is `local`'s alone, `scope` "replica", and `fleet_note` says why).
    """
    if fleet is None:
        figures = [local] if local is not None else []
        scope, note = "replica", f"this replica only: {why_local}"
    else:
        by_name = {f.replica: f for f in fleet}
        if local is not None:
            by_name[local.replica] = local  # our own figures are the freshest
        figures = sorted(by_name.values(), key=lambda f: f.replica)
        scope, note = "fleet", f"{len(figures)} replica{'s' if len(figures) != 1 else ''} published to Redis"
    at = now if now is not None else max((f.at for f in figures), default=0.0)
    report = evaluate(measurements(figures), source, window=window, scope=scope, fleet_note=note)
    report["replicas"] = [_replica_row(f, at) for f in figures]
    return report


def _replica_row(figures: ReplicaFigures, now: float) -> dict[str, Any]:
    own = evaluate(measurements([figures]), "")
    return {
        "replica": figures.replica,
        "age_s": round(max(0.0, now - figures.at), 1),
        "turns": figures.turn_count,
        "all_met": own["all_met"],
        "targets": {row["key"]: {k: row[k] for k in ("value", "display", "samples", "met")}
                    for row in own["targets"]},
    }
