"""Daily model-token budgets: one for each customer and one for the whole cafe.

Why: every model turn costs money, and without a ceiling one customer (or a script
posing as many) can run up the bill. USER_DAILY_TOKEN_BUDGET bounds each user,
DAILY_TOKEN_BUDGET the cafe; 0 = unlimited. A day is the cafe's day: it starts at
midnight in the cafe's time zone (`timezone` in cafe.yaml), so budgets reset when the
cafe's day turns, not UTC's.

What was spent is read from `agent_events`, which already records tokens_in and
tokens_out of every turn with its user: durable (a restart does not reset a budget) and
seen by every process using the database. The sums are memoised: read once per user (and
once for everyone), counted on in memory after each turn, and re-read every
REFRESH_SECONDS so that what other processes spent is seen too. A budget is soft by one
turn: the turn that crosses it completes, the next one is kept from the model.

Over budget, the agent takes the path it takes when the model is unavailable (the caches,
then the offline answerer) with error_class "budget". Every refusal counts in
`bot_budget_refusals_total{scope}`; the log says so once per user (and once for the global
budget) per day; `GET /api/agent/chat` shows the figures and lists a spent global budget
among its reasons.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.metrics import Metrics
from storage.agent_events import AgentEventRepository

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0  # how stale a memoised sum may get (other processes' spending shows up within this)
MAX_TRACKED_USERS = 50_000  # memoised per-user sums kept per day; beyond it they are re-read from the database

Scope = Literal["user", "global"]
_GLOBAL = None  # the memo key of everyone's spending


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    """Why a turn must not reach the model: which budget, what was spent and the limit."""

    scope: Scope
    spent: int
    limit: int


@dataclass(slots=True)
class _Spent:
    tokens: int
    read_at: float  # when the database was last asked (clock seconds)


def zone_of(name: str) -> dt.tzinfo:
    """The cafe's time zone (UTC if this machine does not know the name)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


class TokenBudget:
    def __init__(
        self, events: AgentEventRepository, user_limit: int, global_limit: int, zone: Callable[[], dt.tzinfo],
        *, clock: Callable[[], float] = time.time, metrics: Metrics | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.user_limit = user_limit
        self.global_limit = global_limit
        self._events = events
        self._zone = zone
        self._clock = clock  # wall-clock epoch seconds, like agent_events.created_at
        self._metrics = metrics
        self._refresh_seconds = refresh_seconds
        self._day: float | None = None  # start of the cafe day the memo below belongs to
        self._spent: dict[int | None, _Spent] = {}
        self._logged: set[int | None] = set()  # who was logged as over budget today (None: the global budget)
        self._over_users: set[int] = set()

    @property
    def enabled(self) -> bool:
        return self.user_limit > 0 or self.global_limit > 0

    def day_start(self, now: float) -> float:
        """Epoch seconds of the cafe's last midnight at `now`."""
        zone = self._zone()
        local = dt.datetime.fromtimestamp(now, zone)
        return dt.datetime.combine(local.date(), dt.time(), tzinfo=zone).timestamp()

    # --- the two calls the agent makes --------------------------------------------------
    async def refusal(self, user_id: int) -> BudgetRefusal | None:
        """Why this user's turn must not reach the model, or None. No query while the memo is fresh."""
        if not self.enabled:
            return None
        now = self._roll()
        spent = await self._spent_since_midnight(_GLOBAL, now)
        if self.global_limit and spent >= self.global_limit:
            return self._refuse("global", user_id, spent, self.global_limit)
        if self.user_limit:
            mine = await self._spent_since_midnight(user_id, now)
            if mine >= self.user_limit:
                return self._refuse("user", user_id, mine, self.user_limit)
        return None

    def spend(self, user_id: int, tokens: int) -> None:
        """Count a finished turn's tokens (its agent_events row makes them durable)."""
        if not self.enabled or tokens <= 0:
            return
        self._roll()
        for key in (user_id, _GLOBAL):
            entry = self._spent.get(key)
            if entry is not None:  # not memoised yet: the next read finds the turn in agent_events
                entry.tokens += tokens
        self._publish()

    # --- for the health check ------------------------------------------------------------
    async def refresh(self) -> None:
        """Make sure today's global figure is known (after a restart, before any turn)."""
        if self.enabled:
            await self._spent_since_midnight(_GLOBAL, self._roll())

    @property
    def global_spent(self) -> bool:
        """Is the cafe's daily budget used up (as far as this process knows)?"""
        entry = self._spent.get(_GLOBAL)
        return bool(self.global_limit and entry is not None and entry.tokens >= self.global_limit)

    def status(self) -> dict[str, Any]:
        now = self._roll()
        entry = self._spent.get(_GLOBAL)
        zone = self._zone()
        return {
            "enabled": self.enabled,
            "day": dt.datetime.fromtimestamp(now, zone).date().isoformat(),
            "timezone": str(zone),
            "daily_tokens": self.global_limit or None,  # None: unlimited
            "user_daily_tokens": self.user_limit or None,
            "spent_today": entry.tokens if entry is not None else None,
            "global_spent": self.global_spent,
            "users_over_today": len(self._over_users),
        }

    # --- inside ---------------------------------------------------------------------------
    def _roll(self) -> float:
        """Now; at the cafe's midnight the memo, the refusals and the logged set start afresh."""
        now = self._clock()
        day = self.day_start(now)
        if day != self._day:
            self._day = day
            self._spent.clear()
            self._logged.clear()
            self._over_users.clear()
        return now

    async def _spent_since_midnight(self, user_id: int | None, now: float) -> int:
        entry = self._spent.get(user_id)
        if entry is None or now - entry.read_at >= self._refresh_seconds:
            assert self._day is not None
            tokens = await self._events.tokens_since(self._day, user_id)
            if user_id is not None and len(self._spent) > MAX_TRACKED_USERS:
                self._spent = {k: v for k, v in self._spent.items() if k is _GLOBAL}
            entry = self._spent[user_id] = _Spent(tokens, now)
            if user_id is _GLOBAL:
                self._publish()
        return entry.tokens

    def _publish(self) -> None:
        entry = self._spent.get(_GLOBAL)
        if self._metrics is not None and entry is not None:
            self._metrics.budget_tokens_today.set(entry.tokens)

    def _refuse(self, scope: Scope, user_id: int, spent: int, limit: int) -> BudgetRefusal:
        if self._metrics is not None:
            self._metrics.budget_refusals.labels(scope).inc()
        if scope == "user":
            self._over_users.add(user_id)
        key = user_id if scope == "user" else _GLOBAL
        if key not in self._logged:  # once per user (or for everyone) per day, not once per message
            self._logged.add(key)
            whose = f"user {user_id}" if scope == "user" else "the cafe"
            log.warning("token budget: %s spent %d of %d tokens today (%s); answering from caches and data "
                        "until midnight", whose, spent, limit, self._zone())
        return BudgetRefusal(scope, spent, limit)
