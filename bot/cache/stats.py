"""Counters and latency samples of one cache tier.

Latencies live in a bounded ring (the most recent samples), so percentiles
describe how the tier behaves now, not averaged over the process's lifetime.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from bot.cache.keys import namespace_of
from bot.percentiles import latency_summary

LATENCY_SAMPLES = 2048


def hit_rate(hits: int, misses: int) -> float | None:
    total = hits + misses
    return round(hits / total, 4) if total else None


@dataclass
class TierStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    # (namespace, hit) -> lookups: the exact answer cache misses on every new question by
    # nature, while profile and menu reads should nearly always hit; one rate hides which is which
    by_namespace: Counter[tuple[str, bool]] = field(default_factory=Counter)

    def observe(self, seconds: float) -> None:
        self.latency_ms.append(seconds * 1000)

    def lookup(self, key: str, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        self.by_namespace[(namespace_of(key), hit)] += 1

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": hit_rate(self.hits, self.misses),
            "errors": self.errors,
            "latency_ms": latency_summary(self.latency_ms, digits=3),
        }
        if self.by_namespace:
            names = sorted({name for name, _ in self.by_namespace})
            out["namespaces"] = {
                name: {"hits": self.by_namespace[(name, True)], "misses": self.by_namespace[(name, False)],
                       "hit_rate": hit_rate(self.by_namespace[(name, True)], self.by_namespace[(name, False)])}
                for name in names
            }
        return out
