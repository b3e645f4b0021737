"""Counters and latency samples of one cache tier.

Latencies live in a bounded ring (the most recent samples), so percentiles
describe how the tier behaves now, not averaged over the process's lifetime.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

LATENCY_SAMPLES = 2048


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted samples (None when there are none)."""
    if not samples:
        return None
    rank = max(0, min(len(samples) - 1, math.ceil(q / 100 * len(samples)) - 1))
    return samples[rank]


def hit_rate(hits: int, misses: int) -> float | None:
    total = hits + misses
    return round(hits / total, 4) if total else None


@dataclass
class TierStats:
    hits: int = 0
    misses: int = 0
    errors: int = 0
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def observe(self, seconds: float) -> None:
        self.latency_ms.append(seconds * 1000)

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latency_ms)
        p50, p95 = percentile(ordered, 50), percentile(ordered, 95)
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": hit_rate(self.hits, self.misses),
            "errors": self.errors,
            "latency_ms": {
                "p50": None if p50 is None else round(p50, 3),
                "p95": None if p95 is None else round(p95, 3),
                "samples": len(ordered),
            },
        }
