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
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from testkit import ROOT
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
    # From the model, or from the semantic cache's seeded menu answers if the (fast) embedding model is in by then.
    assert "oat" in voice_answer.text.lower(), voice_answer.text
    assert "Redis unavailable" not in output, output[-3000:]


# Parses the updates given on stdin and builds the calls the bot makes, with aiogram imported the way argv says.
_AIOGRAM_PROBE = """
import json, sys
from bot.telegram.aiogram_import import import_aiogram
deferred = import_aiogram() if sys.argv[1] == "deferred" else False
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, SendMessageDraft
from aiogram.methods.base import Response
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
updates = json.load(sys.stdin)
keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Cart", callback_data="cart:1")]])
out = {
    "deferred": deferred,
    "updates": [Update.model_validate(u).model_dump(mode="json", exclude_none=True) for u in updates],
    "batch": Response[list[Update]].model_validate({"ok": True, "result": updates}).model_dump(
        mode="json", exclude_none=True),
    "reply": Response[Message].model_validate({"ok": True, "result": updates[0]["message"]}).model_dump(
        mode="json", exclude_none=True),
    "calls": [m.model_dump(mode="json", exclude_none=True, exclude_defaults=True) for m in (
        SendMessage(chat_id=1, text="<b>Latte</b> &amp; cake", parse_mode="HTML", reply_markup=keyboard),
        SendMessageDraft(chat_id=1, draft_id=7, text="Lat"),
        EditMessageText(chat_id=1, message_id=2, text="x", reply_markup=keyboard),
        AnswerCallbackQuery(callback_query_id="9", text="ok"))],
}
print(json.dumps(out, sort_keys=True))
"""


def test_aiogram_imported_with_deferred_models_parses_updates_and_builds_calls_as_the_ordinary_import() -> None:
    """bot/telegram/aiogram_import.py skips aiogram's up-front rebuild of every model; the models it then builds
    on first use must read every kind of update and write every call exactly as the ordinary import does."""
    fake = FakeTelegram()  # only its update builders: nothing is served
    rich = fake.send_text(CUSTOMER_ID, "/start hello", username="anna")
    rich["message"]["reply_to_message"] = fake.send_text(CUSTOMER_ID, "earlier")["message"]
    updates = [rich, fake.send_text(CUSTOMER_ID, "Do you have oat milk? <b>&"),
               fake.send_text(CUSTOMER_ID, "staff", chat_id=-100123),
               fake.send_voice(CUSTOMER_ID, b"ogg", duration=2), fake.send_media(CUSTOMER_ID, "photo"),
               fake.send_media(CUSTOMER_ID, "sticker"), fake.send_media(CUSTOMER_ID, "location"),
               fake.send_media(CUSTOMER_ID, "pdf"), fake.send_callback(CUSTOMER_ID, "menu:item:3")]
    results = {}
    for mode in ("ordinary", "deferred"):
        done = subprocess.run([sys.executable, "-c", _AIOGRAM_PROBE, mode], input=json.dumps(updates),
                              capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        results[mode] = json.loads(done.stdout)
    assert results["deferred"].pop("deferred") is True, "the deferral was not applied"
    assert results["ordinary"].pop("deferred") is False
    assert results["deferred"] == results["ordinary"]
    assert results["ordinary"]["updates"][1]["message"]["text"] == "Do you have oat milk? <b>&"
