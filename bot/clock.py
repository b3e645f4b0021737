"""The calendar clock: what "now" is for opening hours, pickup times, the order day and the model's clock.

Everything that decides by the date, weekday or hour asks one injected `Clock` instead of
`datetime.now()`, so tests (and demos) can set the day and time: `CLOCK_FROZEN_AT` freezes it at
one instant (the test suite's `--clock` option sets it; see tests/conftest.py). Durations
(timeouts, TTLs, backoff) keep using `time.monotonic`/`time.time`: they measure, not decide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from bot.config import Settings


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (callers convert to the cafe's zone)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """Always the same instant: a test or demo set at a given day and hour."""

    def __init__(self, at: datetime) -> None:
        if at.utcoffset() is None:
            raise ValueError("a frozen clock needs a timezone-aware instant")
        self.at = at

    def now(self) -> datetime:
        return self.at


def clock_from_settings(settings: Settings) -> Clock:
    return FrozenClock(settings.clock_frozen_at) if settings.clock_frozen_at is not None else SystemClock()
