"""Pausing new orders from the staff group (/pause [minutes] [reason], /resume).

The pause is a row in `runtime_settings`, read at every checkout: it survives a restart and
every process sharing the database sees it at once. A timed pause stores its end as a Unix
time (a duration, measured with `time.time` like every other TTL) and simply stops being in
force then; customers are told the end in the cafe's local time (the calendar clock), and why.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.i18n import _
from bot.knowledge import KnowledgeBase
from bot.orders.models import OrderError
from bot.orders.pickup import local_now
from storage.runtime_settings import RuntimeSettingsRepository

log = logging.getLogger(__name__)

PAUSE_KEY = "ordering.pause"
MAX_PAUSE_MINUTES = 24 * 60
MAX_REASON_CHARS = 120
_UNITS = ("m", "min", "mins", "minute", "minutes")
_MINUTES = re.compile(r"^(\d{1,5})(?:m|min|mins|minutes?)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Pause:
    reason: str
    until: float | None  # Unix time the pause ends by itself; None: until /resume
    by: str


def parse_pause(args: str) -> tuple[int | None, str]:
    """'/pause 20 kitchen rush' → (20, 'kitchen rush'); '/pause rush' → (None, 'rush'); OrderError if out of range."""
    words = args.split()
    minutes: int | None = None
    first = _MINUTES.match(words[0]) if words else None
    if first is not None:
        minutes, words = int(first[1]), words[1:]
        if words and words[0].lower() in _UNITS:  # "/pause 20 min rush"
            words = words[1:]
    if minutes is not None and not 1 <= minutes <= MAX_PAUSE_MINUTES:
        raise OrderError(_("A pause lasts from 1 to {most} minutes; without minutes it lasts until /resume.").format(
            most=MAX_PAUSE_MINUTES))
    reason = " ".join(words)
    if len(reason) > MAX_REASON_CHARS:
        raise OrderError(_("Please keep the reason under {most} characters.").format(most=MAX_REASON_CHARS))
    return minutes, reason


class OrderingPause:
    """Whether new orders are paused, and the sentence a customer reads while they are."""

    def __init__(self, repo: RuntimeSettingsRepository, knowledge: KnowledgeBase, clock: Clock,
                 timer: Callable[[], float] = time.time) -> None:
        self._repo = repo
        self._knowledge = knowledge
        self._clock = clock
        self._timer = timer

    async def pause(self, minutes: int | None, reason: str, by_id: int | None, by_name: str) -> Pause:
        until = self._timer() + minutes * 60 if minutes is not None else None
        pause = Pause(reason=reason, until=until, by=by_name)
        await self._repo.set(PAUSE_KEY, json.dumps({"reason": reason, "until": until, "by": by_name}), by_id)
        log.info("ordering paused by %s for %s minutes: %s", by_name, minutes or "unlimited", reason or "-")
        return pause

    async def resume(self) -> bool:
        """End the pause; False if ordering was not paused."""
        was = await self.current()
        await self._repo.delete(PAUSE_KEY)
        if was is not None:
            log.info("ordering resumed")
        return was is not None

    async def current(self) -> Pause | None:
        raw = await self._repo.get(PAUSE_KEY)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            pause = Pause(reason=str(data.get("reason") or ""), until=data.get("until"), by=str(data.get("by") or ""))
        except (ValueError, TypeError, AttributeError):
            log.warning("unreadable ordering pause %r: ignored", raw)
            return None
        if pause.until is not None and pause.until <= self._timer():
            return None  # a timed pause ends by itself
        return pause

    def ends_at(self, pause: Pause) -> str | None:
        """The end of a timed pause as the cafe's local "HH:MM"; None for a pause until /resume."""
        if pause.until is None:
            return None
        local = local_now(self._knowledge.cafe, self._clock.now()) + timedelta(seconds=pause.until - self._timer())
        if local.second or local.microsecond:  # rounded up: ordering is open again by the minute we name
            local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
        return local.strftime("%H:%M")

    def refusal(self, pause: Pause) -> str:
        """What a customer checking out reads: when ordering resumes, and why."""
        until = self.ends_at(pause)
        if until and pause.reason:
            return _("Sorry, we've paused new orders until {time} ({reason}). Please order again then.").format(
                time=until, reason=pause.reason)
        if until:
            return _("Sorry, we've paused new orders until {time}. Please order again then.").format(time=until)
        if pause.reason:
            return _("Sorry, we've paused new orders for a moment ({reason}). Please try again a little "
                     "later.").format(reason=pause.reason)
        return _("Sorry, we've paused new orders for a moment. Please try again a little later.")

    async def check(self) -> None:
        """OrderError with the refusal while ordering is paused."""
        pause = await self.current()
        if pause is not None:
            raise OrderError(self.refusal(pause))
