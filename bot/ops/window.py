"""A sliding window of recent chat turns: p50/p95 latency and error rate over the last minutes.

Prometheus histograms answer "how fast over any range" for a scraper, but the bot itself
must say how it is doing *now* (the runbook's health check and SLO are "over 5 minutes")
without a Prometheus server. So every turn is also kept here, stamped with a monotonic
clock, and dropped once it is older than the window. Percentiles are exact (nearest rank
over the kept samples), not bucket estimates; a cap on the sample count bounds memory
under any load.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.percentiles import percentile

WINDOW_SECONDS = 300.0
MAX_SAMPLES = 100_000


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    latency_s: float
    source: str
    error: bool


@dataclass(frozen=True, slots=True)
class WindowSnapshot:
    """The turns of the last `seconds`: counts, latency percentiles (ms) and error rate."""

    seconds: float
    turns: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.turns if self.turns else None

    def share(self, source: str) -> float | None:
        """Fraction of the window's turns answered by `source` (llm, cache, semantic, offline)."""
        return self.sources.get(source, 0) / self.turns if self.turns else None

    def as_dict(self) -> dict[str, object]:
        return {
            "window_s": self.seconds,
            "turns": self.turns,
            "errors": self.errors,
            "error_rate": None if self.error_rate is None else round(self.error_rate, 4),
            "latency_ms": {
                "p50": None if self.p50_ms is None else round(self.p50_ms, 1),
                "p95": None if self.p95_ms is None else round(self.p95_ms, 1),
            },
            "sources": dict(sorted(self.sources.items())),
        }


def summarise(latencies_s: Sequence[float], sources: Sequence[str], errors: Sequence[bool],
              seconds: float) -> WindowSnapshot:
    """A snapshot from parallel lists of turns (also used on `agent_events` rows by `main.py slo`)."""
    ordered = sorted(latencies_s)
    p50, p95 = percentile(ordered, 50), percentile(ordered, 95)
    return WindowSnapshot(
        seconds=seconds, turns=len(ordered), errors=sum(1 for e in errors if e),
        p50_ms=None if p50 is None else p50 * 1000, p95_ms=None if p95 is None else p95 * 1000,
        sources=dict(Counter(sources)),
    )


class TurnWindow:
    """Turns of the last `seconds` (monotonic clock, injectable for tests)."""

    def __init__(self, seconds: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic,
                 max_samples: int = MAX_SAMPLES) -> None:
        self.seconds = seconds
        self._clock = clock
        self._samples: deque[_Sample] = deque(maxlen=max_samples)
        self._version = 0  # changes whenever a sample comes or goes
        self._cached: tuple[int, WindowSnapshot] | None = None  # one sort per change, not per reader

    def add(self, latency_s: float, source: str, error: bool) -> None:
        now = self._clock()
        self._expire(now)
        self._samples.append(_Sample(now, max(0.0, latency_s), source, error))
        self._version += 1

    def snapshot(self) -> WindowSnapshot:
        self._expire(self._clock())
        if self._cached is not None and self._cached[0] == self._version:
            return self._cached[1]
        samples = list(self._samples)
        snapshot = summarise([s.latency_s for s in samples], [s.source for s in samples],
                             [s.error for s in samples], self.seconds)
        self._cached = (self._version, snapshot)
        return snapshot

    def turns(self) -> list[tuple[float, str, bool]]:
        """The window's turns as (latency seconds, source, error), oldest first (published for the fleet's SLO)."""
        self._expire(self._clock())
        return [(s.latency_s, s.source, s.error) for s in self._samples]

    def __len__(self) -> int:
        self._expire(self._clock())
        return len(self._samples)

    def _expire(self, now: float) -> None:
        cutoff = now - self.seconds
        while self._samples and self._samples[0].at <= cutoff:
            self._samples.popleft()
            self._version += 1
