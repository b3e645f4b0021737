"""Per-user message rate limiting: a sliding window in memory, or shared by the replicas in Redis.

In one process memory is enough: the limit protects the model budget from one chatty or
abusive user, and a restart forgetting the window does no harm. Behind a load balancer a
customer's messages spread over the replicas, so with Redis the window is one sorted set per
user for all of them (bot/replicas/limits.py), and this in-memory limiter is its fallback.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0  # seconds until the next message would be allowed
    first_refusal: bool = False  # the first refusal in this window (the one worth answering)


class RateLimiter(Protocol):
    """Counts one event for a key if the window allows it (refusals are not counted)."""

    max_events: int
    window_seconds: float

    async def decide(self, key: int) -> RateDecision: ...


@dataclass(frozen=True)
class RateLimits:
    """The per-user limits of every update (RateLimitMiddleware): messages of any kind, and button presses."""

    messages: RateLimiter
    buttons: RateLimiter


class SlidingWindowLimiter:
    def __init__(self, max_events: int, window_seconds: float, clock: Callable[[], float] | None = None,
                 max_tracked: int = 10_000) -> None:
        self.max_events = max_events
        self.window_seconds = window_seconds
        self._clock = clock or time.monotonic
        self.max_tracked = max_tracked  # past this many users, idle ones are forgotten
        self._events: dict[int, deque[float]] = {}
        self._refused_at: dict[int, float] = {}

    def check(self, key: int) -> RateDecision:
        """Count one event for `key` if allowed; refusals are not counted."""
        now = self._clock()
        if len(self._events) >= self.max_tracked and key not in self._events:
            self.forget_idle()
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_seconds:
            events.popleft()
        if len(events) < self.max_events:
            events.append(now)
            self._refused_at.pop(key, None)
            return RateDecision(True)
        retry_after = events[0] + self.window_seconds - now
        first = key not in self._refused_at
        self._refused_at[key] = now
        return RateDecision(False, round(max(retry_after, 0.0), 1), first)

    async def decide(self, key: int) -> RateDecision:
        return self.check(key)

    def __len__(self) -> int:
        return len(self._events)

    def forget_idle(self) -> None:
        """Drop users with no event in the window (keeps memory bounded)."""
        cutoff = self._clock() - self.window_seconds
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= cutoff]:
            self._events.pop(key, None)
            self._refused_at.pop(key, None)
