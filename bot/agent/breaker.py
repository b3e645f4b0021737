"""A circuit breaker for the model server.

After `failure_threshold` consecutive failures the breaker opens: calls are refused at
once (the agent answers from caches and the offline answerer instead of making every
customer wait for a timeout). After `reset_seconds` one probe call is let through
(half-open); its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    state: BreakerState
    consecutive_failures: int
    retry_in_s: float  # until the next probe (0 when closed)
    trips: int  # how often it opened since start


class CircuitBreaker:
    def __init__(
        self, failure_threshold: int = 5, reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False
        self._trips = 0

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        probing = self._probe_in_flight
        self._probe_in_flight = False
        if probing or (self._opened_at is None and self._failures >= self.failure_threshold):
            self._opened_at = self._clock()
            self._trips += 1

    def release(self) -> None:
        """A call that ended neither in success nor failure (e.g. cancelled) frees the probe slot."""
        self._probe_in_flight = False

    def snapshot(self) -> BreakerSnapshot:
        state = self.state
        retry_in = 0.0
        if self._opened_at is not None:
            retry_in = max(0.0, self.reset_seconds - (self._clock() - self._opened_at))
        return BreakerSnapshot(state, self._failures, round(retry_in, 1), self._trips)
