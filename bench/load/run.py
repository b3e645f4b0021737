"""One scenario, end to end: fakes, Redis and the bot up; customers, staff and the fault run; figures out.

Everything listens on 127.0.0.1 only, and every loop is bounded by a count and a clock:
customers stop at the end of the run (an answer they still wait for has `answer_timeout`
seconds), the drain after it waits at most `DRAIN_SECONDS` for the outbox, and the bot gets
`STOP_TIMEOUT_SECONDS` to exit on SIGTERM before it is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.load.bot_process import BotProcess
from bench.load.customers import Customer, Recorder, StaffMember
from bench.load.fakes import LoadModel, LoadTelegram
from bench.load.scenarios import Scenario
from bench.load.workload import Workload
from bot.knowledge.loader import load_menu
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER, always_open_cafe
from testkit.servers import RedisServer, free_port
from testkit.settings import ADMIN_ID, ADMIN_TOKEN, TEST_TOKEN
from testkit.voice import fixture_bytes, speech_fixtures

FIRST_CUSTOMER_ID = 700_001
RAMP_SECONDS = 10.0  # customers arrive spread over this
SAMPLE_SECONDS = 1.0  # RSS and CPU of the bot
SCRAPE_SECONDS = 5.0  # /api/cache and /metrics
DRAIN_SECONDS = 240.0  # after the run: until the outbox is empty and every placed order has its staff card
METRIC_NAMES = re.compile(r"^(bot_chat_turns_total|bot_cache_hits_total|bot_cache_misses_total|"
                          r"bot_semantic_cache_\w+|bot_openai_\w+_total|bot_outbox_\w+|bot_cache_redis_\w+)")


@dataclass
class Options:
    customers: int = 50
    minutes: float = 3.0
    seed: int = 7
    answer_timeout: float = 30.0
    fault_seconds: float | None = None  # default: 60 s, at most a third of the run
    first_actions: tuple[str, ...] = ()  # customer n starts with first_actions[n % len] (then the mix)


@dataclass
class Sample:
    at: float  # seconds since the run started
    pid: int
    rss_mb: float
    cpu_s: float | None


@dataclass
class RunData:
    """What one scenario produced, before it is turned into figures (see report.py)."""

    scenario: Scenario
    options: Options
    started_wall: float = 0.0
    duration_s: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)  # seconds since start
    samples: list[Sample] = field(default_factory=list)
    loop_lag_ms: list[float] = field(default_factory=list)
    recorder: Recorder = field(default_factory=Recorder)
    lives: list[dict[str, Any]] = field(default_factory=list)
    db: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    telegram: dict[str, Any] = field(default_factory=dict)
    staff_cards: dict[str, float] = field(default_factory=dict)  # order number -> card arrived (monotonic)
    drain_s: float = 0.0
    customer_notices: int = 0
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)


class Harness:
    def __init__(self, scenario: Scenario, options: Options, workdir: Path) -> None:
        self.scenario = scenario
        self.options = options
        self.workdir = workdir
        self.rng = random.Random(options.seed)
        self.telegram = LoadTelegram(random.Random(options.seed + 1))
        self.model = LoadModel(random.Random(options.seed + 2))
        self.openai = FakeOpenAI()
        self.openai.responder = self.model
        self.redis = RedisServer(workdir)
        self.bot: BotProcess | None = None
        self.staff_chat = STAFF_CHAT
        self.data = RunData(scenario, options)
        self._t0 = 0.0
        self._end = 0.0
        duration = options.minutes * 60
        self.fault_seconds = options.fault_seconds or min(60.0, duration / 3)

    # --- helpers the scenario timelines use ------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self._t0

    def mark(self, name: str) -> None:
        self.data.marks[name] = round(self.now(), 2)

    async def sleep_until(self, fraction: float) -> None:
        await asyncio.sleep(max(0.0, self._t0 + fraction * (self._end - self._t0) - time.monotonic()))

    async def restart_bot(self) -> None:
        assert self.bot is not None
        await self.scrape()  # the figures of the life that ends now
        await self.bot.stop()
        self.mark("bot_stopped")
        self.bot.start()
        async with aiohttp.ClientSession() as http:
            await self.bot.wait_ready(http)
        self.mark("bot_ready")

    # --- the run ------------------------------------------------------------------------------
    async def run(self) -> RunData:
        async with contextlib.AsyncExitStack() as stack:
            await self.telegram.start()
            stack.push_async_callback(self.telegram.stop)
            await self.openai.start()
            stack.push_async_callback(self.openai.stop)
            self.redis.start()
            stack.callback(self.redis.stop)
            self.telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
            self.bot = BotProcess(self.workdir, self._bot_env(), free_port())
            stack.callback(self.bot.kill)
            self.http = await stack.enter_async_context(aiohttp.ClientSession())
            self.bot.start()
            await self.bot.wait_ready(self.http)
            await self._simulate()
            await self._drain()
            await self._final_scrape()
            await self.bot.stop()
            self._read_database()
            self._collect()
        return self.data

    def _bot_env(self) -> dict[str, str]:
        return {
            "TELEGRAM_BOT_TOKEN": TEST_TOKEN, "TELEGRAM_API_URL": self.telegram.url,
            "OPENAI_BASE_URL": self.openai.url, "OPENAI_API_KEY": self.openai.api_key,
            "REDIS_URL": self.redis.url, "DATABASE_PATH": str(self.workdir / "bot.db"),
            "ADMIN_API_TOKEN": ADMIN_TOKEN, "ADMIN_IDS": str(ADMIN_ID), "STAFF_CHAT_ID": str(STAFF_CHAT),
            "CAFE_PATH": str(always_open_cafe(self.workdir)), "LOG_LEVEL": "INFO",
            "SEMANTIC_CACHE_ENABLED": "true",  # the test helpers turn it off by default
        }

    async def _simulate(self) -> None:
        options = self.options
        menu, _ = load_menu(ROOT / "data" / "menu.yaml")
        item_names = [item.name for item in menu.items()]
        voices = [f.read() for f in speech_fixtures()]
        bad_voices = {"silent_voice": fixture_bytes("silent.ogg"), "corrupt_voice": fixture_bytes("corrupt.ogg")}
        self._t0 = time.monotonic()
        self._end = self._t0 + options.minutes * 60
        self.data.started_wall = time.time()
        recorder = self.data.recorder
        max_actions = int(options.minutes * 60 / 2) + 1
        customers = [
            Customer(FIRST_CUSTOMER_ID + n, self.telegram, Workload(random.Random(options.seed * 1000 + n),
                                                                     item_names),
                     recorder, voices, bad_voices, options.answer_timeout,
                     [options.first_actions[n % len(options.first_actions)]] if options.first_actions else None)
            for n in range(options.customers)
        ]
        staff = StaffMember(STAFF_MEMBER, STAFF_CHAT, self.telegram, recorder)

        async def arrive(customer: Customer) -> None:
            await asyncio.sleep(self.rng.uniform(0, min(RAMP_SECONDS, options.minutes * 60 / 4)))
            await customer.run(self._end, max_actions)

        background = [asyncio.create_task(self._sample()), asyncio.create_task(self._loop_lag()),
                      asyncio.create_task(staff.run(self._end + options.answer_timeout + DRAIN_SECONDS))]
        timeline = asyncio.create_task(self.scenario.timeline(self))
        try:
            await asyncio.gather(*(arrive(c) for c in customers))
            await timeline
        finally:
            timeline.cancel()
            self.data.duration_s = round(self.now(), 2)
            self._background = background
        self.staff = staff

    async def _drain(self) -> None:
        """Until the outbox is empty and every order the customers were told about has its staff card (bounded).

        The staff group takes about 20 messages a minute (Telegram's limit, kept by the outbox),
        so a burst of orders leaves a backlog that is delivered after the customers stop.
        """
        started = time.monotonic()
        deadline = started + DRAIN_SECONDS
        while time.monotonic() < deadline:
            if (set(self.data.recorder.placed) <= set(self._staff_card_numbers()) and not self.telegram.windows_open()
                    and await self._outbox_pending() == 0):
                break
            await asyncio.sleep(1.0)
        self.data.drain_s = round(time.monotonic() - started, 1)
        await asyncio.sleep(2.0)  # status notices triggered by the last staff presses
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _staff_card_numbers(self) -> dict[str, float]:
        """Order number → when its staff card arrived (monotonic)."""
        numbers: dict[str, float] = {}
        for event in self.telegram.chat(STAFF_CHAT).events:
            if event.kind == "message" and (found := re.search(r"Order (#\d+)", event.text)):
                numbers.setdefault(found.group(1), event.at)
        return numbers

    async def _outbox_pending(self) -> float | None:
        assert self.bot is not None
        text = await self.bot.get_text(self.http, "/metrics") or ""
        found = re.search(r"^bot_outbox_pending (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else None

    # --- sampling -----------------------------------------------------------------------------
    async def _sample(self) -> None:
        last_scrape = 0.0
        while True:
            bot = self.bot
            if bot is not None and bot.proc is not None:
                rss = bot.rss_mb()
                if rss is not None:
                    self.data.samples.append(Sample(round(self.now(), 2), bot.proc.pid, round(rss, 1),
                                                    bot.cpu_seconds()))
                if time.monotonic() - last_scrape >= SCRAPE_SECONDS:
                    last_scrape = time.monotonic()
                    await self.scrape()
                    self.telegram.trim()
                    self.openai.requests.clear()  # every body holds the 8 KB prompt: keep the harness small
            await asyncio.sleep(SAMPLE_SECONDS)

    async def scrape(self) -> dict[str, Any]:
        """The bot's own figures (cumulative for this process life), kept as the life's latest."""
        assert self.bot is not None
        if self.bot.proc is None:
            return {}
        cache = await self.bot.get_json(self.http, "/api/cache")
        metrics = await self.bot.get_text(self.http, "/metrics")
        slo = await self.bot.get_json(self.http, "/api/slo")
        scrape = self.bot.life.scrapes
        if cache is not None:
            scrape["cache"] = cache
        if metrics is not None:
            scrape["metrics"] = [line for line in metrics.splitlines() if METRIC_NAMES.match(line)]
        if slo is not None:
            scrape["slo"] = slo
        return scrape

    async def _final_scrape(self) -> None:
        await self.scrape()

    async def _loop_lag(self) -> None:
        """How late this process's event loop wakes up: if high, the harness (not the bot) adds latency."""
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.1)
            self.data.loop_lag_ms.append(round((time.monotonic() - t - 0.1) * 1000, 2))

    # --- afterwards ----------------------------------------------------------------------------
    def _read_database(self) -> None:
        path = self.workdir / "bot.db"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            self.data.db["agent_events"] = [dict(r) for r in db.execute(
                "SELECT user_id, kind, latency_ms, source, error_class, tool_calls, created_at FROM agent_events "
                "ORDER BY id")] if "agent_events" in tables else []
            if "orders" in tables:
                self.data.db["orders"] = [dict(r) for r in db.execute(
                    "SELECT id, business_day, day_seq, user_id, status, source FROM orders ORDER BY id")]
            if "outbox" in tables:
                self.data.db["outbox"] = {r[0]: r[1] for r in db.execute(
                    "SELECT status, COUNT(*) FROM outbox GROUP BY status")}
        finally:
            db.close()

    def _collect(self) -> None:
        assert self.bot is not None
        data = self.data
        data.lives = [{"pid": life.pid, "ready_after_s": life.ready_after_s, "stopped_after_s": life.stopped_after_s,
                       "exit_code": life.exit_code, "scrapes": life.scrapes} for life in self.bot.lives]
        data.model = {"completions": self.model.completions, "failures": self.model.failures,
                      "failures_by_status": self.model.by_status, "tool_rounds": self.model.tool_rounds,
                      "max_inflight": self.openai.max_inflight}
        staff_events = self.telegram.chat(STAFF_CHAT).events
        data.telegram = {"injected_429": sum(w.injected for w in self.telegram.windows),
                         "staff_messages": sum(1 for e in staff_events if e.kind == "message"),
                         "staff_edits": sum(1 for e in staff_events if e.kind == "edit")}
        data.staff_cards = self._staff_card_numbers()
        data.customer_notices = sum(
            1 for chat_id, log in self.telegram.chats.items() if chat_id != STAFF_CHAT
            for e in log.events if e.kind == "message" and "was accepted" in e.text)
        with contextlib.suppress(OSError):
            data.load_average = tuple(float(x) for x in Path("/proc/loadavg").read_text().split()[:3])  # type: ignore[assignment]
