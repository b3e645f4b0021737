"""Replicas sharing one Redis: the periodic jobs on one replica at a time, a menu change announced to all.

Each "replica" has its own `SharedRedis` connection, as two processes would. The retention jobs
run against one real database, the webhook check against the fake Bot API; the knowledge sync is
driven with a counting stand-in for the knowledge base (tests/test_replicas_e2e.py shows the real
one on two applications). And `/metrics` names the replica.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiogram import Dispatcher
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.ops.retention import RetentionJob
from bot.replicas import AdvisoryLeases, KnowledgeSync, LocalLeases, RedisLeases, SharedRedis
from bot.telegram.health import TelegramHealth
from bot.telegram.session import create_bot
from bot.telegram.supervisor import TelegramSupervisor
from storage.advisory import JOBS_NAMESPACE, AdvisoryLocks
from storage.db import Database
from storage.postgres import redact
from testkit.database import DEFAULT_POSTGRES_URL, TEST_DATABASE_URL, postgres_reachable, postgres_schema
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer, free_port
from testkit.settings import make_settings
from tests.helpers import poll_until


def _async(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()
    return check


def shared(url: str, prefix: str) -> SharedRedis:
    return SharedRedis(url, timeout=0.2, key_prefix=prefix, retry_seconds=0.2)


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    return f"test-replica-jobs:{request.node.name}:{time.time_ns()}:"


async def test_two_retention_jobs_sharing_the_lease_purge_once_per_period_and_hand_over_on_stop(
    tmp_path: Path, redis_server: RedisServer, prefix: str
) -> None:
    settings = make_settings(tmp_path)
    redis = [shared(redis_server.url, prefix) for _ in range(2)]
    leases = [RedisLeases(r) for r in redis]
    async with Database(settings.database_target) as db:
        jobs = [RetentionJob(db, settings, first_delay=0, interval=0.3, leases=lease) for lease in leases]
        for job in jobs:
            await job.start()
        # Poll with a deadline (no fixed sleep: a busy machine ticks late): four purges between the two.
        await poll_until(_async(lambda: sum(job.runs for job in jobs) >= 4 and
                                sum(lease.skipped for lease in leases) >= 3), timeout=20)
        runs = sorted(job.runs for job in jobs)
        assert runs[0] == 0 and runs[1] >= 4  # one replica purges each period, the other never
        runner = 0 if jobs[0].runs else 1
        other = 1 - runner
        await jobs[runner].stop()
        await leases[runner].stop()  # releases the lease: the other replica takes the job at its next tick
        await poll_until(_async(lambda: jobs[other].runs >= 1), timeout=20)
        await jobs[other].stop()
    for r in redis:
        await r.stop()


async def test_without_redis_every_replica_runs_its_jobs(redis_server: RedisServer, prefix: str) -> None:
    assert await LocalLeases().take("retention", 60) is True  # one process on SQLite: unchanged
    dead = shared(f"redis://127.0.0.1:{free_port()}/0", prefix)  # nobody listens there
    assert await RedisLeases(dead).take("retention", 60) is True  # never skip a run because Redis is gone
    await dead.stop()
    # The holder renews its own lease; another replica is refused until the lease runs out.
    a, b = shared(redis_server.url, prefix), shared(redis_server.url, prefix)
    first, second = RedisLeases(a), RedisLeases(b)
    assert await first.take("webhook-check", 0.2) and await first.take("webhook-check", 0.2)
    assert not await second.take("webhook-check", 0.2)
    await asyncio.sleep(0.35)  # 1.5 periods without a renewal: the holder is presumed dead
    assert await second.take("webhook-check", 0.2)
    for r in (a, b):
        await r.stop()


class Knowledge:
    """Counts the refreshes a sync asks for."""

    def __init__(self) -> None:
        self.refreshes = 0

    async def refresh(self) -> bool:
        self.refreshes += 1
        return True


async def test_an_announced_change_is_taken_by_the_other_replica_and_redis_down_falls_back_to_the_check(
    redis_server: RedisServer, prefix: str
) -> None:
    kb_a, kb_b = Knowledge(), Knowledge()
    ra, rb = shared(redis_server.url, prefix), shared(redis_server.url, prefix)
    a = KnowledgeSync(kb_a, ra, poll_seconds=0.05, fallback_seconds=60)
    b = KnowledgeSync(kb_b, rb, poll_seconds=0.05, fallback_seconds=60)
    for sync in (a, b):
        await sync.start()
    await asyncio.sleep(0.2)
    assert kb_a.refreshes == kb_b.refreshes == 0  # nothing announced, no periodic check due
    await a.announce()  # replica a reloaded the menu
    await asyncio.sleep(0.3)
    assert kb_b.refreshes == 1 and kb_a.refreshes == 0  # b took it once; a had it already
    for sync in (a, b):
        await sync.stop()

    # Redis down: the announcement is lost, the periodic database check catches up.
    redis_server.stop()
    c = KnowledgeSync(kb_b, rb, poll_seconds=0.05, fallback_seconds=0.3)
    await c.start()
    await a.announce()  # no error: Redis is gone, the others check the database anyway
    await asyncio.sleep(0.2)
    assert kb_b.refreshes == 1
    await asyncio.sleep(0.4)
    assert kb_b.refreshes >= 2
    await c.stop()
    for r in (ra, rb):
        await r.stop()


class Leases:
    """Grants or refuses every lease, and records what was asked."""

    def __init__(self, grant: bool) -> None:
        self.grant = grant
        self.asked: list[tuple[str, float]] = []

    async def take(self, job: str, period: float) -> bool:
        self.asked.append((job, period))
        return self.grant


@pytest.mark.parametrize("grant", [False, True])
async def test_the_webhook_check_runs_only_on_the_replica_holding_its_lease(tmp_path: Path, grant: bool) -> None:
    async with FakeTelegram() as telegram:
        settings = make_settings(tmp_path, telegram.url, bot_mode="webhook", webhook_base_url="https://bot.example",
                                 webhook_secret="hook-secret_1", webhook_check_seconds=60.0)
        health = TelegramHealth(settings)
        bot = create_bot(settings, health=health)
        leases = Leases(grant)
        rounds = 0

        async def sleep(seconds: float) -> None:  # three check rounds, then stop
            nonlocal rounds
            rounds += 1
            supervisor._stopping = rounds >= 3
            await asyncio.sleep(0)

        supervisor = TelegramSupervisor(bot, Dispatcher(), settings, health, sleep=sleep, leases=leases,
                                        webhook_url="https://bot.example/telegram/webhook")
        try:
            await asyncio.wait_for(supervisor._keep_webhook(), 10)
        finally:
            await bot.session.close()
    assert len(telegram.calls("setWebhook")) == 1  # every replica sets it on start
    assert leases.asked == [("webhook-check", 60.0)] * 3
    assert len(telegram.calls("getWebhookInfo")) == (3 if grant else 0)


def test_every_metrics_series_carries_the_replica_label_when_one_is_named() -> None:
    named, plain = Metrics(replica="bot-2"), Metrics()
    for metrics in (named, plain):
        metrics.record_turn("text", "llm", 0.4)
        metrics.record_model_request("server_error", 1.2)
        metrics.register_callback("extra", lambda: [GaugeMetricFamily("bot_extra", "a callback's series", 1.0)])
    families = list(text_string_to_metric_families(named.render().decode()))
    samples = [s for family in families for s in family.samples]
    assert {"bot_chat_turns", "bot_extra"} <= {family.name for family in families}
    assert len(samples) > 20 and all(s.labels.get("replica") == "bot-2" for s in samples)
    turns = next(s for s in samples if s.name == "bot_chat_turns_total")
    assert turns.labels == {"replica": "bot-2", "kind": "text", "source": "llm"} and turns.value == 1.0
    # One process (REPLICA_NAME empty): the series are as before, without the label.
    assert not any("replica" in s.labels for f in text_string_to_metric_families(plain.render().decode())
                   for s in f.samples)


@pytest.fixture
def postgres_base() -> str:
    """The PostgreSQL server of the run (TEST_DATABASE_URL, else this machine's); skipped where none answers."""
    base = os.environ.get(TEST_DATABASE_URL) or DEFAULT_POSTGRES_URL
    why = postgres_reachable(base)
    if why is not None:
        pytest.skip(f"no PostgreSQL at {redact(base)}: {why}")
    return base


async def test_on_postgresql_without_redis_one_replica_holds_each_job_and_hands_it_over(postgres_base: str) -> None:
    with postgres_schema(postgres_base) as url, postgres_schema(postgres_base) as other_cafe:
        a, b = AdvisoryLeases(AdvisoryLocks(url)), AdvisoryLeases(AdvisoryLocks(url))
        elsewhere = AdvisoryLeases(AdvisoryLocks(other_cafe))
        try:
            assert await a.take("retention", 60) and await a.take("retention", 60)  # the holder runs each period
            assert not await b.take("retention", 60) and b.skipped == 1
            assert await b.take("webhook-check", 60) and not await a.take("webhook-check", 60)  # one lock per job
            assert await elsewhere.take("retention", 60)  # another cafe's bot in the same database: its own lock

            # The holder's connection dies (server restart, network, a killed replica): its jobs pass on.
            await _terminate_lock_holders(postgres_base, url)
            assert await b.take("retention", 60)
            assert not await a.take("retention", 60)  # a reconnects and finds the job taken
            await b.stop()  # a stop hands the jobs over at once
            assert await a.take("retention", 60) and await a.take("webhook-check", 60)
        finally:
            for leases in (a, b, elsewhere):
                await leases.stop()


async def test_with_redis_down_on_postgresql_the_advisory_lock_decides_and_redis_takes_over_again(
    postgres_base: str, redis_server: RedisServer, prefix: str
) -> None:
    with postgres_schema(postgres_base) as url:
        redis = [shared(redis_server.url, prefix) for _ in range(2)]
        fallback = [AdvisoryLeases(AdvisoryLocks(url)) for _ in range(2)]
        a, b = (RedisLeases(r, fallback=f) for r, f in zip(redis, fallback, strict=True))
        try:
            assert await b.take("retention", 0.2) and not await a.take("retention", 0.2)  # Redis decides
            redis_server.stop()
            runs = [await a.take("retention", 0.2), await b.take("retention", 0.2)]
            assert sorted(runs) == [False, True]  # not both: the advisory lock picked one
            assert [await a.take("retention", 0.2), await b.take("retention", 0.2)] == runs  # and keeps it
            redis_server.start()  # the same port, empty: Redis answers again and decides again
            deadline = time.monotonic() + 5
            while not all(r.usable for r in redis):  # each retries Redis 0.2 s after its last failure
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            assert await a.take("retention", 0.2) and not await b.take("retention", 0.2)
            assert not await b.take("retention", 0.2)
        finally:
            for leases in (*fallback, a, b):
                await leases.stop()
            for r in redis:
                await r.stop()


async def _terminate_lock_holders(base: str, schema_url: str) -> None:
    """End every session holding one of the job locks of schema_url's schema (as a server restart would)."""
    import asyncpg

    schema = parse_qs(urlsplit(schema_url).query)["search_path"][0]
    held = ("FROM pg_locks l WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objsubid = 2 "
            "AND l.objid = hashtext($2 || ':retention')::oid")
    conn = await asyncpg.connect(base)
    try:
        assert await conn.fetchval(f"SELECT COUNT(pg_terminate_backend(l.pid)) {held}", JOBS_NAMESPACE, schema) == 1
        deadline = time.monotonic() + 10
        while await conn.fetchval(f"SELECT COUNT(*) {held}", JOBS_NAMESPACE, schema):  # the backend exits shortly
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
