"""Removing a bad cached answer at once, in the real application: two bot processes share one
private redis-server (each behind its own fake Bot API, as behind a load balancer), one fake
OpenAI server counts the model calls. An answer cached through one process is found and
forgotten by an admin (Telegram or POST /api/cache), and the other process then asks the model."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import Application
from bot.semantic import Ct2Embedder
from bot.services import Seams
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer
from testkit.settings import ADMIN_ID
from tests.helpers import CUSTOMER_ID, admin_headers, poll_until, running_app
from tests.test_semantic_e2e import ask, ready, semantic_settings

QUESTION = "Is the lentil soup gluten-free?"
BAD = "Yes <b>100%</b> gluten-free & safe for coeliacs!"  # markup in an answer must reach the admin as text
GOOD = "No: the lentil soup is served with flatbread, which contains wheat."
ID = re.compile(r"\b([es]-[0-9a-f]{10})\b")


@asynccontextmanager
async def bot_process(name: str, tmp_path: Path, telegram: FakeTelegram, openai: FakeOpenAI,
                      redis_server: RedisServer, embedder: Ct2Embedder) -> AsyncIterator[Application]:
    """One bot process with its own folder (SQLite) and Bot API, sharing Redis and the model."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    settings = semantic_settings(folder, telegram, openai, redis_url=redis_server.url)
    async with running_app(settings, Seams(embedder=embedder)) as app:
        await poll_until(lambda: ready(app))
        await poll_until(lambda: shared_ok(app))
        yield app


async def shared_ok(app: Application) -> bool:
    assert app.services is not None and app.services.semantic is not None
    return app.services.semantic.status()["shared"]["state"] == "ok"


def semantic_entries(app: Application) -> int:
    assert app.services is not None and app.services.semantic is not None
    return int(app.services.semantic.status()["entries"])


async def has_entries(app: Application, count: int) -> bool:
    return semantic_entries(app) == count


async def command(telegram: FakeTelegram, user_id: int, text: str) -> str:
    before = len(telegram.sent_to(user_id))
    telegram.send_text(user_id, text)
    [reply] = await telegram.wait_for_messages(user_id, after=before)
    return reply.text


async def post_cache(http: aiohttp.ClientSession, app: Application, body: dict[str, Any],
                     headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with http.post(f"http://127.0.0.1:{app.port}/api/cache", json=body,
                         headers=admin_headers() if headers is None else headers) as response:
        return response.status, await response.json()


async def test_an_answer_forgotten_with_cache_forget_in_telegram_is_gone_from_both_processes(
    telegram: FakeTelegram, openai_server: FakeOpenAI, embedder: Ct2Embedder,
    redis_server: RedisServer, tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram_b, \
            bot_process("a", tmp_path, telegram, openai_server, redis_server, embedder) as a, \
            bot_process("b", tmp_path, telegram_b, openai_server, redis_server, embedder) as b:
        openai_server.script(BAD)
        assert await ask(telegram, CUSTOMER_ID, QUESTION) == BAD
        await poll_until(lambda: has_entries(b, 1))  # shared with b through Redis
        assert await ask(telegram_b, CUSTOMER_ID + 1, QUESTION) == BAD  # b serves it from the cache
        assert openai_server.request_count == 1

        # A customer cannot look into the caches.
        refusal = await command(telegram, CUSTOMER_ID, "/cache_find lentil")
        assert refusal == "Sorry, that command is for the cafe's admins." and "gluten" not in refusal

        listing = await command(telegram, ADMIN_ID, "/cache_find LENTIL gluten")
        ids = ID.findall(listing)
        assert sorted(i[0] for i in ids) == ["e", "s"], listing
        assert "2 cached answers" in listing and BAD in listing  # the answer shown as text, not markup
        assert listing.lower().count("q: is the lentil soup gluten-free") == 2
        assert "No cached answer matches" in await command(telegram, ADMIN_ID, "/cache_find pizza")

        for answer_id in ids:
            reply = await command(telegram, ADMIN_ID, f"/cache_forget {answer_id}")
            assert reply.startswith("🗑 Forgot 1 cached answer") and "every bot process" in reply, reply
        assert "Nothing forgotten" in await command(telegram, ADMIN_ID, f"/cache_forget {ids[0]}")
        assert "Usage" in await command(telegram, ADMIN_ID, "/cache_forget all")
        assert semantic_entries(a) == 0
        await poll_until(lambda: has_entries(b, 0))

        openai_server.script(GOOD)
        assert await ask(telegram_b, CUSTOMER_ID + 2, QUESTION) == GOOD  # b asks the model again
        assert openai_server.request_count == 2
        assert "No cached answer matches" not in await command(telegram, ADMIN_ID, "/cache_find lentil")


async def test_the_forget_action_of_post_api_cache_removes_an_answer_from_both_processes(
    telegram: FakeTelegram, openai_server: FakeOpenAI, embedder: Ct2Embedder,
    redis_server: RedisServer, tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    async with FakeTelegram() as telegram_b, \
            bot_process("a", tmp_path, telegram, openai_server, redis_server, embedder) as a, \
            bot_process("b", tmp_path, telegram_b, openai_server, redis_server, embedder) as b:
        openai_server.script(BAD)
        assert await ask(telegram_b, CUSTOMER_ID, QUESTION) == BAD  # cached through b
        await poll_until(lambda: has_entries(a, 1))

        status, found = await post_cache(http, a, {"action": "find", "query": "lentil"})
        assert status == 200 and found["total"] == 2 and found["more"] == 0
        assert {e["cache"] for e in found["entries"]} == {"exact", "semantic"}
        assert all(e["answer"] == BAD and e["age_seconds"] >= 0 and ID.fullmatch(e["id"]) for e in found["entries"])
        exact = next(e["id"] for e in found["entries"] if e["cache"] == "exact")

        assert (await post_cache(http, a, {"action": "forget", "id": exact}, headers={}))[0] == 401
        assert (await post_cache(http, a, {"action": "find", "query": "lentil"}, headers={}))[0] == 401
        for bad in ({}, {"id": exact, "query": "lentil"}, {"id": 5}, {"id": "lentil"}, {"query": " ?"}):
            assert (await post_cache(http, a, {"action": "forget", **bad}))[0] == 400, bad
        assert (await post_cache(http, a, {"action": "find"}))[0] == 400
        assert (await post_cache(http, a, {"action": "find", "query": "x", "limit": 0}))[0] == 400
        status, body = await post_cache(http, a, {"action": "forget", "id": "e-0000000000"})
        assert status == 404

        status, body = await post_cache(http, a, {"action": "forget", "id": exact})
        assert status == 200 and body["exact"] == 1 and body["semantic"] == 0 and body["everywhere"] is True
        status, body = await post_cache(http, a, {"action": "forget", "query": "gluten lentil"})
        assert status == 200 and (body["exact"], body["semantic"]) == (0, 1)
        assert body["forgotten"][0]["question"] == QUESTION
        await poll_until(lambda: has_entries(b, 0))

        openai_server.script(GOOD)
        assert await ask(telegram_b, CUSTOMER_ID + 1, QUESTION) == GOOD
        assert openai_server.request_count == 2
        status, found = await post_cache(http, b, {"action": "find", "query": "lentil", "limit": 1})
        assert status == 200 and found["total"] == 2 and found["shown"] == 1 and found["more"] == 1


async def test_a_process_down_during_the_forget_does_not_bring_the_answer_back_on_restart(
    telegram: FakeTelegram, openai_server: FakeOpenAI, embedder: Ct2Embedder,
    redis_server: RedisServer, tmp_path: Path, http: aiohttp.ClientSession,
) -> None:
    async with FakeTelegram() as telegram_b, \
            bot_process("a", tmp_path, telegram, openai_server, redis_server, embedder) as a:
        openai_server.script(BAD)
        assert await ask(telegram, CUSTOMER_ID, QUESTION) == BAD
        async with bot_process("b", tmp_path, telegram_b, openai_server, redis_server, embedder) as b:
            await poll_until(lambda: has_entries(b, 1))  # b keeps a copy in its SQLite

        status, body = await post_cache(http, a, {"action": "forget", "query": "lentil"})
        assert status == 200 and (body["exact"], body["semantic"]) == (1, 1)

        async with bot_process("b", tmp_path, telegram_b, openai_server, redis_server, embedder) as b:
            assert semantic_entries(b) == 0
            openai_server.script(GOOD)
            assert await ask(telegram_b, CUSTOMER_ID + 1, QUESTION) == GOOD
            assert openai_server.request_count == 2
