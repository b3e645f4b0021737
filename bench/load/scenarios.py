"""Fault scenarios: what goes wrong, and when, while the customers keep talking.

Each scenario is a timeline run beside the customers. It marks the fault window
(`fault_start`/`fault_end`), so the report can show the figures before, during and
after the fault. The fault starts a third into the run (the restart: half-way) and
lasts `fault_seconds` (default: one minute, at most a third of the run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from bench.load.fakes import LoadModel, LoadTelegram
from testkit.servers import RedisServer

TELEGRAM_429_SHARE = 0.3  # of the bot's sends answered 429 while the Telegram fault lasts
TELEGRAM_RETRY_AFTER = 3  # seconds, as Telegram's flood control says
STAFF_STALL_SECONDS = 8.0  # before the restart: staff notifications pile up in the outbox
RESTART_AFTER_STALL_SECONDS = 3.0


class Harness(Protocol):
    """What a timeline may touch of the run (`bench.load.run.Harness` is one): the fakes, Redis, the bot, the clock."""

    redis: RedisServer
    model: LoadModel
    telegram: LoadTelegram
    staff_chat: int
    fault_seconds: float

    def mark(self, name: str) -> None: ...

    async def sleep_until(self, fraction: float) -> None: ...

    async def restart_bot(self) -> None: ...


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    timeline: Callable[[Harness], Coroutine[Any, Any, None]]


async def baseline(h: Harness) -> None:
    """No fault: the reference figures."""


async def redis_outage(h: Harness) -> None:
    await h.sleep_until(1 / 3)
    h.mark("fault_start")
    h.redis.stop()  # SIGKILL: connections refused from now on
    await asyncio.sleep(h.fault_seconds)
    h.redis.start()  # empty (no persistence), on the same port
    h.mark("fault_end")


async def openai_errors(h: Harness) -> None:
    await h.sleep_until(1 / 3)
    h.mark("fault_start")
    h.model.open_fault(h.fault_seconds, statuses=(429, 500), retry_after=1.0)
    await asyncio.sleep(h.fault_seconds)
    h.mark("fault_end")


async def telegram_429(h: Harness) -> None:
    await h.sleep_until(1 / 3)
    h.mark("fault_start")
    h.telegram.open_window(h.fault_seconds, TELEGRAM_429_SHARE, retry_after=TELEGRAM_RETRY_AFTER)
    await asyncio.sleep(h.fault_seconds)
    h.mark("fault_end")


async def restart(h: Harness) -> None:
    """SIGTERM half-way, with staff notifications held back by 429s so some are in flight; start again."""
    await h.sleep_until(1 / 2)
    h.telegram.open_window(STAFF_STALL_SECONDS + 30, 1.0, retry_after=5, chat_id=h.staff_chat)
    await asyncio.sleep(RESTART_AFTER_STALL_SECONDS)
    h.mark("fault_start")
    await h.restart_bot()
    h.mark("fault_end")


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("baseline", "Baseline: no faults", baseline),
    Scenario("redis", "Redis killed a third into the run, restarted a minute later", redis_outage),
    Scenario("openai", "OpenAI answering 429 and 500 for a minute", openai_errors),
    Scenario("telegram", f"Telegram answering 429 (retry_after {TELEGRAM_RETRY_AFTER} s) to "
                         f"{TELEGRAM_429_SHARE:.0%} of sends for a minute", telegram_429),
    Scenario("restart", "Bot restarted (SIGTERM, start again) half-way, staff notifications in flight", restart),
)}
