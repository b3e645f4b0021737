"""Two replicas of the real application on one database and one Redis, each with its own Bot API link.

A customer's two messages reaching different replicas are answered one after the other (the model
never sees two of that customer's questions at once, and the second replica says "one moment");
two customers on two replicas are answered at the same time. A menu reload, a sold-out mark and a
cache clear on one replica reach the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from bot.app import Application
from bot.cache.keys import namespace_of
from bot.replicas import RedisTurnLocks, RedisWindowLimiter
from bot.services import Seams
from bot.voice import WhisperTranscriber
from testkit import ROOT
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer
from testkit.settings import make_settings, with_openai
from tests.helpers import CUSTOMER_ID, poll_until, running_app

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


async def test_a_menu_reload_a_sold_out_mark_and_a_cache_clear_on_one_replica_reach_the_other(
    tmp_path: Path, redis_server: RedisServer, openai_server: FakeOpenAI, seams: Seams
) -> None:
    async with AsyncExitStack() as stack:
        replicas = []
        for name in ("a", "b"):  # each replica with its own copy of the files, as on two hosts
            folder = tmp_path / name
            folder.mkdir()
            menu = folder / "menu.yaml"
            menu.write_text((ROOT / "data" / "menu.yaml").read_text())
            telegram = await stack.enter_async_context(FakeTelegram())
            settings = make_settings(tmp_path, telegram.url, redis_url=redis_server.url, menu_path=menu,
                                     **with_openai(openai_server))
            replicas.append(await stack.enter_async_context(running_app(settings, seams)))
        a, b = (replica.services for replica in replicas)
        assert b.knowledge_sync is not None
        espresso = a.knowledge.menu.item("espresso")
        assert espresso is not None and espresso.price_cents == 240

        # /reload_menu on replica a with an edited file: b answers from the same menu within seconds.
        menu_a = a.settings.menu_path
        menu_a.write_text(menu_a.read_text().replace("price: 2.40", "price: 2.60", 1))
        result = await a.knowledge.reload()
        assert result.changed and result.menu_version != b.knowledge.menu_version

        async def same_menu() -> bool:
            return b.knowledge.menu_version == a.knowledge.menu_version
        await poll_until(same_menu, timeout=5)
        taken = b.knowledge.menu.item("espresso")
        assert taken is not None and taken.price_cents == 260  # from the snapshot: b's own file says 2.40
        assert "price: 2.40" in b.settings.menu_path.read_text()

        # /soldout on replica a: b shows the item sold out too.
        await a.availability.mark("espresso", False, None)

        async def sold_out_on_b() -> bool:
            item = b.knowledge.menu.item("espresso")
            return item is not None and not item.available
        await poll_until(sold_out_on_b, timeout=5)
        assert {item.id for item in b.availability.sold_out()} == {item.id for item in a.availability.sold_out()}

        # A clear-prefix on replica a drops b's memory copy too (the cache's events stream).
        key = "user:profile:424242"
        await a.cache.set(key, {"id": 424242}, ttl=600)
        assert await b.cache.get(key) == {"id": 424242}  # b now holds a memory copy
        assert b.cache.stats()["tiers"]["memory"]["namespaces"].get(namespace_of(key)) == 1
        await a.cache.clear_prefix("user:profile:")

        async def dropped_on_b() -> bool:
            return not b.cache.stats()["tiers"]["memory"]["namespaces"].get(namespace_of(key))
        await poll_until(dropped_on_b, timeout=5)
        redis_server.stop()  # from now on b serves from its memory: the cleared value is not there
        assert await b.cache.get(key) is None
