"""The agent's spend limits, which an admin can change without a restart.

The runbook's answer to an OpenAI quota or rate-limit incident is "reduce tokens/history
length temporarily": `/limits history=4 tokens=300` stores overrides in the
runtime_settings table, and the agent reads them at the start of every turn, so the next
request already uses them and they survive a restart until an admin resets them. The read is
remembered for READ_TTL_SECONDS (one SQL statement less on every turn of a rush); the process
that stores a change forgets it at once, the other processes sharing the database see it within
that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Settings
from storage.runtime_settings import RuntimeSettingsRepository

HISTORY_KEY = "agent.history_max_messages"
TOKENS_KEY = "agent.max_tokens"
HISTORY_RANGE = (0, 200)
TOKENS_RANGE = (16, 16000)
# History is bounded by tokens as well as by messages: at most this many times the reply's
# token budget, so lowering `tokens` also shrinks what every request sends.
HISTORY_TOKENS_PER_REPLY_TOKEN = 4
READ_TTL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class AgentLimits:
    history_max_messages: int
    max_tokens: int
    overridden: frozenset[str] = frozenset()

    @property
    def history_token_budget(self) -> int:
        return self.max_tokens * HISTORY_TOKENS_PER_REPLY_TOKEN


class LimitsError(ValueError):
    """An admin's /limits arguments were not understood; the message says why."""


class LimitsService:
    def __init__(self, settings: Settings, repo: RuntimeSettingsRepository, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._repo = repo
        self._clock = clock
        self._read: tuple[float, AgentLimits] | None = None  # (when, what) of the last read

    async def current(self) -> AgentLimits:
        now = self._clock()
        if self._read is not None and now - self._read[0] < READ_TTL_SECONDS:
            return self._read[1]
        limits = await self._load()
        self._read = (now, limits)
        return limits

    async def _load(self) -> AgentLimits:
        stored = await self._repo.get_all()
        history = _int_or(stored.get(HISTORY_KEY), self._settings.history_max_messages)
        tokens = _int_or(stored.get(TOKENS_KEY), self._settings.openai_max_tokens)
        overridden = frozenset(k for k in ("history", "tokens")
                               if stored.get(HISTORY_KEY if k == "history" else TOKENS_KEY) is not None)
        return AgentLimits(history, tokens, overridden)

    async def apply(self, args: str, admin_id: int | None) -> AgentLimits:
        """Parse `history=N tokens=M` (or `reset`) and store it; the new limits are returned."""
        words = args.split()
        if words == ["reset"]:
            await self._repo.delete(HISTORY_KEY)
            await self._repo.delete(TOKENS_KEY)
            self._read = None
            return await self.current()
        if not words:
            raise LimitsError("give history=N and/or tokens=N, or reset")
        changes: dict[str, int] = {}
        for word in words:
            name, sep, value = word.partition("=")
            name = name.strip().lower()
            if not sep or name not in ("history", "tokens"):
                raise LimitsError(f"unknown setting {word!r}: use history=N and/or tokens=N")
            low, high = HISTORY_RANGE if name == "history" else TOKENS_RANGE
            try:
                number = int(value)
            except ValueError:
                raise LimitsError(f"{name} must be a whole number") from None
            if not low <= number <= high:
                raise LimitsError(f"{name} must be between {low} and {high}")
            changes[name] = number
        for name, number in changes.items():
            await self._repo.set(HISTORY_KEY if name == "history" else TOKENS_KEY, str(number), updated_by=admin_id)
        self._read = None
        return await self.current()


def _int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
