"""End to end: `python main.py` takes updates within seconds of launch, before its models are loaded.

The bot runs as its own process (a cold interpreter, as after a deploy) against the fake Bot API,
the fake model server and a private redis-server. A question and a voice note are waiting at
the Bot API when it is launched: the question is answered while the speech and embedding models
still load on their worker threads; the voice note waits for the speech model and is answered
once it is ready. Redis is not reported unavailable because the model libraries held the event
loop while they imported (bot/cache/service.py `_try_redis`).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import aiohttp

from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.servers import RedisServer, free_port
from testkit.settings import ADMIN_TOKEN, TEST_TOKEN, subprocess_env
from testkit.voice import fixture_bytes
from tests.helpers import CUSTOMER_ID, start_main

VOICE_USER = CUSTOMER_ID + 1


async def whisper_status(http: aiohttp.ClientSession, port: int) -> str | None:
    try:
        async with http.get(f"http://127.0.0.1:{port}/api/agent/whisper",
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as r:
            return str((await r.json()).get("status")) if r.status == 200 else None
    except aiohttp.ClientError:
        return None


async def test_a_voice_note_sent_in_the_first_seconds_is_answered_once_the_speech_model_is_ready(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    port = free_port()
    env = subprocess_env(
        TELEGRAM_BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=telegram.url, OPENAI_BASE_URL=openai_server.url,
        OPENAI_API_KEY=openai_server.api_key, REDIS_URL=redis.url, DATABASE_PATH=str(tmp_path / "bot.db"),
        ADMIN_API_TOKEN=ADMIN_TOKEN, HTTP_PORT=str(port), HTTP_HOST="127.0.0.1", SEMANTIC_CACHE_ENABLED="true",
        LOG_LEVEL="INFO",
    )
    openai_server.script("Yes, the Wi-Fi is free.", "Yes, oat milk is free of charge.")
    telegram.send_text(CUSTOMER_ID, "Is there Wi-Fi?")
    telegram.send_voice(VOICE_USER, fixture_bytes("oat_milk.ogg"), duration=2)
    launched = time.monotonic()
    proc = start_main([], env, tmp_path)
    try:
        [text_answer] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=60)
        answered_after = time.monotonic() - launched
        whisper_then = await whisper_status(http, port)
        transcript, voice_answer = await telegram.wait_for_messages(VOICE_USER, 2, timeout=120)
    finally:
        proc.terminate()
        try:
            output, _ = await asyncio.to_thread(proc.communicate, timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        redis.stop()
    assert text_answer.text == "Yes, the Wi-Fi is free."
    assert whisper_then == "loading", f"the question was answered {answered_after:.1f} s after launch, " \
                                      f"while the speech model was still loading (it was {whisper_then})"
    assert transcript.text.lower().startswith("🎤 do you have oat milk")
    assert voice_answer.text == "Yes, oat milk is free of charge."
    assert "Redis unavailable" not in output, output[-3000:]
