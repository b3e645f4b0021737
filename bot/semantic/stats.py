"""The semantic cache's counters: what GET /api/cache, GET /api/agent/chat and /cache show."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from bot.cache.stats import LATENCY_SAMPLES, hit_rate
from bot.percentiles import latency_summary


@dataclass
class SemanticStats:
    lookups: int = 0  # questions that were eligible and searched
    hits: int = 0
    misses: int = 0
    bypassed: Counter[str] = field(default_factory=Counter)  # not looked up: follow-up, personal, ...
    rejections: Counter[str] = field(default_factory=Counter)  # best candidate refused: entities, ...
    stores: int = 0
    store_skipped: Counter[str] = field(default_factory=Counter)
    evictions: int = 0
    expired: int = 0
    dropped_stale: int = 0
    forgotten: int = 0  # entries an admin removed (here or in another process)
    errors: int = 0
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def observe(self, seconds: float) -> None:
        self.latency_ms.append(seconds * 1000)

    def as_dict(self) -> dict[str, Any]:
        latency = latency_summary(self.latency_ms, digits=2)
        guards = self.bypassed + self.rejections
        return {
            "lookups": self.lookups,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": hit_rate(self.hits, self.lookups - self.hits),
            "latency_p50_ms": latency["p50"],
            "latency_p95_ms": latency["p95"],
            # one line for /cache: which rule kept how many questions from the shared cache
            "guards": ", ".join(f"{k} {v}" for k, v in sorted(guards.items())) or "none",
            "latency_ms": latency,
            "bypassed": dict(sorted(self.bypassed.items())),
            "rejections": dict(sorted(self.rejections.items())),
            "stores": self.stores,
            "store_skipped": dict(sorted(self.store_skipped.items())),
            "evictions": self.evictions,
            "expired": self.expired,
            "dropped_stale": self.dropped_stale,
            "forgotten": self.forgotten,
            "errors": self.errors,
        }
