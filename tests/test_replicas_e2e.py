"""Two replicas of the real application on one database and one Redis, each with its own Bot API link.

A customer's two messages reaching different replicas are answered one after the other (the model
never sees two of that customer's questions at once, and the second replica says "one moment");
two customers on two replicas are answered at the same time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from bot.app import Application
from bot.replicas import RedisTurnLocks, RedisWindowLimiter
from bot.services import Seams
from bot.voice import WhisperTranscriber
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer
from testkit.settings import make_settings, with_openai
from tests.helpers import CUSTOMER_ID, running_app

OTHER = CUSTOMER_ID + 1


@pytest.fixture
def seams(whisper: WhisperTranscriber) -> Seams:
    return Seams(transcriber=whisper)


@asynccontextmanager
async def two_replicas(tmp_path: Path, redis_server: RedisServer, openai_server: FakeOpenAI,
                       seams: Seams) -> AsyncIterator[tuple[tuple[Application, FakeTelegram], ...]]:
    async with AsyncExitStack() as stack:
        replicas = []
        for _ in range(2):
            telegram = await stack.enter_async_context(FakeTelegram())
            settings = make_settings(tmp_path, telegram.url, redis_url=redis_server.url, **with_openai(openai_server))
            replicas.append((await stack.enter_async_context(running_app(settings, seams)), telegram))
        yield tuple(replicas)


async def test_a_customers_messages_on_two_replicas_are_answered_one_at_a_time(
    tmp_path: Path, redis_server: RedisServer, openai_server: FakeOpenAI, seams: Seams
) -> None:
    openai_server.latency = 0.5
    async with two_replicas(tmp_path, redis_server, openai_server, seams) as ((a, tg_a), (b, tg_b)):
        assert isinstance(a.services.conversation.turns, RedisTurnLocks)
        assert isinstance(a.services.rate_limits.messages, RedisWindowLimiter)
        tg_a.send_text(CUSTOMER_ID, "What teas do you have?")
        await openai_server.wait_for(lambda: openai_server.inflight == 1)
        tg_b.send_text(CUSTOMER_ID, "And cakes?")
        await tg_a.wait_for_messages(CUSTOMER_ID, 1, timeout=15)
        await tg_b.wait_for(lambda: len(tg_b.sent_to(CUSTOMER_ID)) >= 2, timeout=15)
        await tg_b.wait_for(lambda: b.services.inflight.count == 0)
    assert "One moment" in tg_b.texts_to(CUSTOMER_ID)[0]
    assert openai_server.max_inflight == 1 and openai_server.request_count == 2
    # the second replica's request saw the first question and answer (the shared database) as history
    assert [m["role"] for m in openai_server.requests[1]["messages"]] == ["system", "user", "assistant", "user"]


async def test_two_customers_on_two_replicas_are_answered_at_the_same_time(
    tmp_path: Path, redis_server: RedisServer, openai_server: FakeOpenAI, seams: Seams
) -> None:
    openai_server.latency = 0.5
    async with two_replicas(tmp_path, redis_server, openai_server, seams) as ((_a, tg_a), (_b, tg_b)):
        tg_a.send_text(CUSTOMER_ID, "What teas do you have?")
        tg_b.send_text(OTHER, "Do you have cakes?")
        await tg_a.wait_for_messages(CUSTOMER_ID, 1, timeout=15)
        await tg_b.wait_for_messages(OTHER, 1, timeout=15)
    assert openai_server.max_inflight == 2
    assert not any("One moment" in t for t in tg_a.texts_to(CUSTOMER_ID) + tg_b.texts_to(OTHER))


async def test_a_customer_talking_to_two_replicas_gets_one_rate_limit(
    tmp_path: Path, redis_server: RedisServer, openai_server: FakeOpenAI, seams: Seams
) -> None:
    async with AsyncExitStack() as stack:
        replicas = []
        for _ in range(2):
            telegram = await stack.enter_async_context(FakeTelegram())
            settings = make_settings(tmp_path, telegram.url, redis_url=redis_server.url, rate_limit_messages=2,
                                     rate_limit_window_seconds=600, **with_openai(openai_server))
            replicas.append((await stack.enter_async_context(running_app(settings, seams)), telegram))
        (_a, tg_a), (_b, tg_b) = replicas
        tg_a.send_text(CUSTOMER_ID, "/help")
        await tg_a.wait_for_messages(CUSTOMER_ID, 1)
        tg_b.send_text(CUSTOMER_ID, "/help")
        await tg_b.wait_for_messages(CUSTOMER_ID, 1)
        tg_a.send_text(CUSTOMER_ID, "/help")  # the third message within the window, on either replica
        notice = (await tg_a.wait_for_messages(CUSTOMER_ID, 2))[1]
    assert "faster than I can answer" in notice.text
