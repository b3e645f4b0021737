"""Replicas sharing one Redis: one turn at a time per customer, one rate limit per customer, and never deaf.

Each "replica" here has its own Redis connection (`SharedRedis`) and its own `Conversation`, as two
processes behind a load balancer would; the agent is not involved (a turn is the guard around it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, cast

import pytest

from bot.agent import Agent
from bot.conversation import WAIT_YOUR_TURN, Conversation
from bot.outbox import Outbox
from bot.outbox.ratelimit import GROUP_LIMIT
from bot.ratelimit import SlidingWindowLimiter
from bot.replicas import RedisChatPacer, RedisTurnLocks, RedisWindowLimiter, SharedRedis
from bot.telegram.gateway import BotGateway
from bot.telegram.session import create_bot
from bot.voice.gate import VoiceGate
from storage.db import Database
from testkit.fakes.telegram import FakeTelegram
from testkit.ordering import STAFF_CHAT
from testkit.servers import RedisServer, free_port
from testkit.settings import make_settings


def shared(url: str, prefix: str) -> SharedRedis:
    # A stopped Redis refuses at once; the timeout only has to outlast a loaded CI machine's slow connect
    # (at 0.2 s one timed out there, and the turn lock fell back to this process's memory mid-test).
    return SharedRedis(url, timeout=2.0, key_prefix=prefix, retry_seconds=0.2)


class Replica:
    """One process's conversation guard, with what it told the customers."""

    def __init__(self, tmp_path: Path, url: str, prefix: str, ttl: float = 10.0) -> None:
        self.redis = shared(url, prefix)
        self.turns = RedisTurnLocks(self.redis, ttl_seconds=ttl, poll_seconds=0.02)
        self.conversation = Conversation(cast(Agent, None), make_settings(tmp_path), self.turns)
        self.told: list[str] = []

    async def say(self, text: str) -> None:
        self.told.append(text)

    async def turn(self, user_id: int, log: list[tuple[str, Any]], seconds: float, name: str) -> None:
        async with self.conversation.turn(user_id, self.say) as ok:
            assert ok
            log.append(("start", name, user_id, time.monotonic()))
            await asyncio.sleep(seconds)
            log.append(("end", name, user_id, time.monotonic()))


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    return f"test-replicas:{request.node.name}:{time.time_ns()}:"


async def test_one_customer_waits_for_the_other_replica_and_other_customers_do_not(
    tmp_path: Path, redis_server: RedisServer, prefix: str
) -> None:
    a, b = Replica(tmp_path, redis_server.url, prefix), Replica(tmp_path, redis_server.url, prefix)
    log: list[tuple[str, Any]] = []
    first = asyncio.create_task(a.turn(1, log, 0.6, "a"))
    await asyncio.sleep(0.1)  # replica a is answering customer 1
    started = time.monotonic()
    await asyncio.gather(b.turn(1, log, 0.1, "b"), b.turn(2, log, 0.1, "b"), first)
    events = {(kind, name, user): at for kind, name, user, at in log}
    # Customer 1's message on replica b waited for a's answer; customer 2 went at once.
    assert events[("start", "b", 1)] >= events[("end", "a", 1)]
    assert events[("start", "b", 2)] - started < 0.3
    assert b.told == [WAIT_YOUR_TURN]  # told once, on the replica that waits
    assert a.told == []
    # Released: nothing left behind in Redis, so a's next turn for customer 1 is at once.
    assert await a.redis.client.exists(a.redis.key("turn", 1)) == 0
    for replica in (a, b):
        await replica.redis.stop()


async def test_a_long_turn_keeps_its_lock_past_the_lease(tmp_path: Path, redis_server: RedisServer,
                                                          prefix: str) -> None:
    a, b = (Replica(tmp_path, redis_server.url, prefix, ttl=0.3) for _ in range(2))
    log: list[tuple[str, Any]] = []
    first = asyncio.create_task(a.turn(5, log, 1.0, "a"))  # three leases long: renewed meanwhile
    await asyncio.sleep(0.1)
    await asyncio.gather(b.turn(5, log, 0.05, "b"), first)
    events = {(kind, name): at for kind, name, _user, at in log}
    assert events[("start", "b")] >= events[("end", "a")]
    for replica in (a, b):
        await replica.redis.stop()


async def test_a_replica_that_died_mid_turn_blocks_the_customer_only_until_its_lease_runs_out(
    tmp_path: Path, redis_server: RedisServer, prefix: str
) -> None:
    b = Replica(tmp_path, redis_server.url, prefix, ttl=0.4)
    await b.redis.client.set(b.redis.key("turn", 9), "token-of-a-dead-replica", px=400)
    log: list[tuple[str, Any]] = []
    started = time.monotonic()
    await b.turn(9, log, 0.01, "b")
    assert 0.2 < log[0][3] - started < 2.0
    await b.redis.stop()


async def test_without_redis_turns_go_on_in_memory_and_the_outage_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, prefix: str
) -> None:
    a = Replica(tmp_path, f"redis://127.0.0.1:{free_port()}/0", prefix)  # nobody listens there
    log: list[tuple[str, Any]] = []
    with caplog.at_level(logging.WARNING, logger="bot.replicas"):
        await asyncio.gather(a.turn(1, log, 0.2, "a1"), a.turn(1, log, 0.01, "a2"), a.turn(2, log, 0.01, "a"))
    events = {(kind, name, user): at for kind, name, user, at in log}
    assert events[("start", "a2", 1)] >= events[("end", "a1", 1)]  # still one at a time in this process
    assert a.told == [WAIT_YOUR_TURN]
    assert sum("replica guards: Redis did not answer" in r.getMessage() for r in caplog.records) == 1
    await a.redis.stop()


async def test_redis_dying_mid_turn_never_stops_the_answers(tmp_path: Path, redis_server: RedisServer,
                                                            prefix: str) -> None:
    a = Replica(tmp_path, redis_server.url, prefix, ttl=0.3)
    log: list[tuple[str, Any]] = []
    turn = asyncio.create_task(a.turn(3, log, 0.5, "a"))
    await asyncio.sleep(0.1)
    redis_server.stop()  # renewals and the release fail
    await asyncio.wait_for(turn, 5)
    await asyncio.wait_for(a.turn(3, log, 0.01, "again"), 5)  # the next turn goes on in memory
    assert [entry[:2] for entry in log] == [("start", "a"), ("end", "a"), ("start", "again"), ("end", "again")]
    await a.redis.stop()


async def test_two_replicas_enforce_one_rate_limit_and_one_notice_per_burst(
    redis_server: RedisServer, prefix: str
) -> None:
    replicas = [shared(redis_server.url, prefix) for _ in range(3)]
    limiters = [RedisWindowLimiter(r, "messages", SlidingWindowLimiter(4, 30.0)) for r in replicas]
    decisions = [await limiters[i % 3].decide(11) for i in range(7)]  # round robin over three replicas
    assert [d.allowed for d in decisions] == [True] * 4 + [False] * 3
    assert [d.first_refusal for d in decisions[4:]] == [True, False, False]
    assert 0 < decisions[4].retry_after <= 30.0
    assert (await limiters[1].decide(12)).allowed  # per customer
    for limiter in limiters:
        assert len(limiter.local) == 0  # Redis decided, the fallback windows were never used
    for r in replicas:
        await r.stop()


async def test_the_window_reopens_and_redis_down_falls_back_to_the_process_window(
    redis_server: RedisServer, prefix: str
) -> None:
    redis = shared(redis_server.url, prefix)
    limiter = RedisWindowLimiter(redis, "buttons", SlidingWindowLimiter(2, 0.5))
    assert [(await limiter.decide(1)).allowed for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.6)
    assert (await limiter.decide(1)).allowed  # the window moved on
    redis_server.stop()
    assert [(await limiter.decide(1)).allowed for _ in range(3)] == [True, True, False]  # the local window
    assert len(limiter.local) == 1
    await redis.stop()


async def test_voice_notes_count_once_across_replicas(tmp_path: Path, redis_server: RedisServer,
                                                      prefix: str) -> None:
    settings = make_settings(tmp_path, voice_rate_limit_notes=2, voice_rate_limit_window_seconds=60)
    redises = [shared(redis_server.url, prefix) for _ in range(2)]
    gates = [VoiceGate(settings, limiter=RedisWindowLimiter(r, "voice", SlidingWindowLimiter(2, 60.0)))
             for r in redises]
    for gate in gates:
        assert await gate.admit(7) == (True, None)
        gate.release(7)
    admitted, answer = await gates[0].admit(7)
    assert not admitted and answer is not None and "seconds" in answer
    assert await gates[1].admit(7) == (False, None)  # the same burst, told once
    for r in redises:
        await r.stop()


async def test_two_replicas_pacing_one_chat_share_its_telegram_limit_and_its_429_pause(
    redis_server: RedisServer, prefix: str
) -> None:
    a, b = shared(redis_server.url, prefix), shared(redis_server.url, prefix)
    pacers = [RedisChatPacer(a), RedisChatPacer(b)]
    group, private, other = -100123, 4242, 4343
    taken = [await pacers[i % 2].take(group) for i in range(GROUP_LIMIT[0])]  # the replicas take turns
    assert taken == [0.0] * GROUP_LIMIT[0]
    assert await pacers[0].peek(group) > 50 and await pacers[1].take(group) > 50  # 20 a minute for both together
    assert [await pacers[i % 2].take(private) for i in range(4)][-1] > 0  # about one a second to a private chat
    assert await pacers[1].peek(other) == 0 and await pacers[1].peek(other) == 0  # looking takes nothing
    await pacers[0].hold(other, 5)  # replica a met a 429 for that chat: b holds back too
    assert 4 < await pacers[1].peek(other) <= 5 and await pacers[1].take(other) > 4
    await pacers[1].hold(other, 1)  # a shorter pause never shortens a longer one
    assert await pacers[0].peek(other) > 4

    redis_server.stop()  # never deaf: each replica paces its own sends again
    fresh = -100999
    assert [await pacers[0].take(fresh) for _ in range(GROUP_LIMIT[0])] == [0.0] * GROUP_LIMIT[0]
    assert await pacers[0].take(fresh) > 50 and await pacers[1].take(fresh) == 0
    for r in (a, b):
        await r.stop()


async def test_two_outboxes_sharing_redis_keep_the_staff_group_within_its_limit_together(
    tmp_path: Path, redis_server: RedisServer, prefix: str
) -> None:
    limit = (3, 1.0)  # the group limit, shrunk from 20 a minute so the test takes seconds
    async with AsyncExitStack() as stack:
        telegrams = [await stack.enter_async_context(FakeTelegram()) for _ in range(2)]
        db = await stack.enter_async_context(Database(make_settings(tmp_path).database_target))
        outboxes = []
        for telegram in telegrams:  # two replicas on one database: a bot and a Redis connection each
            settings = make_settings(tmp_path, telegram.url, staff_chat_id=STAFF_CHAT)
            bot = create_bot(settings)
            stack.push_async_callback(bot.session.close)
            redis = shared(redis_server.url, prefix)
            stack.push_async_callback(redis.stop)
            outboxes.append(Outbox(settings, db, BotGateway(lambda bot=bot: bot),
                                   limiter=RedisChatPacer(redis, group=limit), poll_seconds=0.2))
        texts = [f"message {i}" for i in range(9)]
        for text in texts:
            await outboxes[0].send_message(STAFF_CHAT, text)
        for outbox in outboxes:
            await outbox.start()
            stack.push_async_callback(outbox.stop)

        def sent() -> list[tuple[float, str]]:
            return sorted((at, params["text"]) for telegram in telegrams
                          for (method, params), at in zip(telegram.requests, telegram.request_times, strict=True)
                          if method == "sendMessage" and params["chat_id"] == STAFF_CHAT)
        await telegrams[0].wait_for(lambda: len(sent()) >= len(texts), timeout=15)
    sends = sent()
    assert sorted(text for _, text in sends) == texts  # each once, whichever replica sent it
    times = [at for at, _ in sends]
    gaps = [later - earlier for earlier, later in zip(times, times[limit[0]:], strict=False)]
    # Never a 4th message within the second across both replicas (per-process limits land them ~12 ms apart);
    # measured where the fake Bot API receives them, so a loaded machine's delay before a send shortens a gap.
    assert min(gaps) > limit[1] * 0.5, gaps
