"""Nearest-rank percentiles: the one definition behind every latency figure of the bot and its benchmarks.

Nearest rank (the smallest sample with at least q % of the samples at or below it) is
exact and always a value that was really observed, so "p95 1,251 ms" in /api/cache,
/api/slo, a benchmark report and the README is the latency of an actual answer and
means the same thing everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def latency_summary(samples: Iterable[float], digits: int = 3) -> dict[str, Any]:
    """{"p50", "p95", "samples"} of unsorted samples, as the stats endpoints show them."""
    ordered = sorted(samples)
    return {
        "p50": rounded(percentile(ordered, 50), digits),
        "p95": rounded(percentile(ordered, 95), digits),
        "samples": len(ordered),
    }
