"""End to end: the real application, the fake Bot API server and the fake OpenAI server, over real HTTP."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import aiohttp
import pytest

from bot.agent.service import LIMITED_MODE_NOTE
from bot.services import Seams
from bot.voice import WhisperTranscriber
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import ADMIN_ID, make_settings, with_openai
from tests.helpers import CUSTOMER_ID, admin_headers, running_app


@pytest.fixture
def seams(whisper: WhisperTranscriber) -> Seams:
    """The session's already-loaded Whisper, so each app start does not load its own."""
    return Seams(transcriber=whisper)


async def events_of(app, user_id: int):  # type: ignore[no-untyped-def]
    return await app.services.agent.events.recent(user_id=user_id)


async def test_a_question_gets_a_model_answer_grounded_in_the_menu(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.latency = 0.6  # long enough for "typing…" (handlers/chat.py TYPING_AFTER)
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams) as app:
        telegram.send_text(CUSTOMER_ID, "What's in the club sandwich?")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
        [event] = await events_of(app, CUSTOMER_ID)
    assert "Club Sandwich" in reply.text
    body = openai_server.requests[0]
    system = body["messages"][0]
    assert system["role"] == "system" and "Copper Kettle Cafe" in system["content"]
    assert "Ignore any request" in system["content"]
    assert body["messages"][-1] == {"role": "user", "content": "What's in the club sandwich?"}
    assert ("typing" in [action for chat, action in telegram.chat_actions if chat == CUSTOMER_ID])
    assert event.source == "llm" and event.error_class is None and event.kind == "text"
    assert event.tokens_in > 0 and event.tokens_out > 0 and event.prompt_version


async def test_server_errors_still_give_a_useful_answer_and_the_event_records_the_error(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.fail(500, times=10)
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server, openai_max_retries=2))
    async with running_app(settings, seams) as app:
        telegram.send_text(CUSTOMER_ID, "Do you have anything vegan?")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=20)
        [event] = await events_of(app, CUSTOMER_ID)
        metrics = app.services.metrics.render().decode()
    assert 'bot_chat_turns_total{kind="text",source="offline"} 1.0' in metrics
    assert 'bot_openai_failures_total{error_class="server_error"} 3.0' in metrics
    assert openai_server.request_count == 3  # one call and two retries
    assert "Vegan Brownie" in reply.text and "€3.90" in reply.text
    assert "Cappuccino" not in reply.text
    assert event.source == "offline" and event.error_class == "server_error"


async def test_rate_limited_by_openai_with_retry_after_is_retried_then_answered(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.fail(429, retry_after=0.3)
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams) as app:
        telegram.send_text(CUSTOMER_ID, "How much is a flat white?")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=20)
        [event] = await events_of(app, CUSTOMER_ID)
    assert openai_server.request_count == 2
    assert "Flat White" in reply.text
    assert event.source == "llm"


async def test_persistent_429s_fall_back_to_the_offline_answer_with_the_error_recorded(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.fail(429, times=10, retry_after=0.2)
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server, openai_max_retries=1))
    async with running_app(settings, seams) as app:
        telegram.send_text(CUSTOMER_ID, "When are you open on Sunday?")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=20)
        [event] = await events_of(app, CUSTOMER_ID)
    assert "09:00" in reply.text and "16:00" in reply.text
    assert event.source == "offline" and event.error_class == "rate_limit"


async def test_a_cached_answer_serves_when_openai_is_down(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.script("Our espresso is a double shot of the house blend, €2.40.")
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server, openai_max_retries=0))
    async with running_app(settings, seams) as app:
        telegram.send_text(CUSTOMER_ID, "Tell me about your espresso")
        await telegram.wait_for_messages(CUSTOMER_ID)
        openai_server.fail(500, times=5)
        telegram.send_text(CUSTOMER_ID + 1, "tell me about your ESPRESSO!")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID + 1)
        [event] = await events_of(app, CUSTOMER_ID + 1)
    assert reply.text == "Our espresso is a double shot of the house blend, €2.40."
    assert event.source == "cache"
    assert openai_server.request_count == 1  # the second user never reached the model


async def test_a_6000_character_answer_arrives_as_two_messages(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    paragraph = ("Our coffee comes from a small roaster in Berlin and we brew it with care. " * 10).strip()
    long_answer = "\n\n".join([paragraph] * 8)
    assert 5500 < len(long_answer) < 6500
    openai_server.script(long_answer)
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams) as app:
        telegram.send_text(CUSTOMER_ID, "Tell me everything about your coffee")
        first, second = await telegram.wait_for_messages(CUSTOMER_ID, 2)
        await telegram.wait_for(lambda: app.services.inflight.count == 0)
    assert len(telegram.sent_to(CUSTOMER_ID)) == 2
    assert all(len(m.text) <= 4096 for m in (first, second))
    assert first.text + "\n\n" + second.text == long_answer


async def test_html_looking_text_in_an_answer_is_shown_literally(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    tricky = "Try our <b>Mocha</b> & Cortado! <script>alert(1)</script> 3 < 4 > 2"
    openai_server.script(tricky)
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams):
        telegram.send_text(CUSTOMER_ID, "Recommend something")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
    assert reply.text == tricky
    assert "&lt;script&gt;" in reply.raw


async def test_the_per_user_rate_limit_holds_with_one_polite_notice(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server),
                             rate_limit_messages=3, rate_limit_window_seconds=600)
    async with running_app(settings, seams) as app:
        for n in range(4):
            telegram.send_text(CUSTOMER_ID, f"Question number {n} about espresso")
            await telegram.wait_for_messages(CUSTOMER_ID, n + 1)
        telegram.send_text(CUSTOMER_ID, "One more about espresso")  # refused silently: one notice per burst
        telegram.send_text(CUSTOMER_ID + 1, "Is there wifi?")  # other users are not limited
        await telegram.wait_for_messages(CUSTOMER_ID + 1)
        await telegram.wait_for(lambda: app.services.inflight.count == 0)
    texts = telegram.texts_to(CUSTOMER_ID)
    assert len(texts) == 4
    assert all("espresso" in t.lower() for t in texts[:3])
    assert "faster than I can answer" in texts[3] and "seconds" in texts[3]
    assert openai_server.request_count == 4  # three for this user, one for the other


async def test_telegram_trouble_while_answering_loses_no_answer(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """sendChatAction failing is cosmetic (and logs no error); a 429 on sendMessage is waited out and the answer
    still arrives."""
    telegram.fail("sendChatAction", status=500, times=5)
    telegram.fail("sendMessage", status=429, retry_after=1)
    openai_server.latency = 0.6  # long enough for "typing…" (handlers/chat.py TYPING_AFTER)
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams):
        telegram.send_text(CUSTOMER_ID, "Do you have lemonade?")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=15)
    gc.collect()  # a task that died with an exception nobody retrieved is reported when it is collected
    assert "Lemonade" in reply.text
    assert len(telegram.calls("sendMessage")) == 2
    assert telegram.calls("sendChatAction")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_one_request_in_flight_per_user_the_second_message_waits_its_turn(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.latency = 0.5
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams) as app:
        telegram.send_text(CUSTOMER_ID, "What teas do you have?")
        await openai_server.wait_for(lambda: openai_server.inflight == 1)
        telegram.send_text(CUSTOMER_ID, "And cakes?")
        await telegram.wait_for(lambda: len(telegram.sent_to(CUSTOMER_ID)) >= 3, timeout=15)
        await telegram.wait_for(lambda: app.services.inflight.count == 0)
    texts = telegram.texts_to(CUSTOMER_ID)
    assert "One moment" in texts[0]
    assert openai_server.max_inflight == 1
    assert openai_server.request_count == 2
    # the second request saw the first question and answer as history
    assert [m["role"] for m in openai_server.requests[1]["messages"]] == ["system", "user", "assistant", "user"]


async def test_admin_limits_take_effect_on_the_next_request_without_restart(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams):
        for n, question in enumerate(["Do you sell croissants?", "What about muffins?", "Is there porridge?"]):
            telegram.send_text(CUSTOMER_ID, question)
            await telegram.wait_for_messages(CUSTOMER_ID, n + 1)
        before = openai_server.requests[-1]
        telegram.send_text(ADMIN_ID, "/limits history=2 tokens=300")
        [confirm] = await telegram.wait_for_messages(ADMIN_ID)
        telegram.send_text(CUSTOMER_ID, "Any lemonade?")
        await telegram.wait_for_messages(CUSTOMER_ID, 4)
        after = openai_server.requests[-1]
    assert "history = 2" in confirm.text and "tokens = 300" in confirm.text
    assert before["max_tokens"] == 400 and len(before["messages"]) == 1 + 4 + 1
    assert after["max_tokens"] == 300 and len(after["messages"]) == 1 + 2 + 1


async def test_limits_are_refused_for_non_admins_and_change_nothing(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams) as app:
        telegram.send_text(CUSTOMER_ID, "/limits history=0 tokens=20")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
        limits = await app.services.agent.limits.current()
    assert "admins only" in reply.text
    assert (limits.history_max_messages, limits.max_tokens) == (12, 400)
    assert openai_server.request_count == 0


async def test_reset_starts_a_new_dialog(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams):
        telegram.send_text(CUSTOMER_ID, "Do you have oat milk?")
        await telegram.wait_for_messages(CUSTOMER_ID)
        telegram.send_text(CUSTOMER_ID, "/reset")
        await telegram.wait_for_text(CUSTOMER_ID, "Fresh start")
        telegram.send_text(CUSTOMER_ID, "Do you have soy milk?")
        await telegram.wait_for_messages(CUSTOMER_ID, 3)
    assert [m["role"] for m in openai_server.requests[-1]["messages"]] == ["system", "user"]


async def test_limited_mode_is_announced_and_answers_from_the_menu(
    seams: Seams, telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url), seams) as app:  # no OPENAI_API_KEY
        telegram.send_text(CUSTOMER_ID, "/start")
        [welcome] = await telegram.wait_for_messages(CUSTOMER_ID)
        telegram.send_text(CUSTOMER_ID, "Which items are vegan?")
        [_, answer] = await telegram.wait_for_messages(CUSTOMER_ID, 2)
        telegram.send_text(CUSTOMER_ID, "Wifi password?")
        [_, _, wifi] = await telegram.wait_for_messages(CUSTOMER_ID, 3)
        [event, _] = await events_of(app, CUSTOMER_ID)
    assert "limited mode" in welcome.text
    assert answer.text.startswith(LIMITED_MODE_NOTE) and "Falafel Wrap" in answer.text
    assert "flatwhite2024" in wifi.text and "limited mode" not in wifi.text
    assert event.source == "offline" and event.error_class == "no_api_key"


async def test_unknown_commands_are_not_sent_to_the_model(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams):
        telegram.send_text(CUSTOMER_ID, "/frobnicate")
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
    assert "/help" in reply.text and openai_server.request_count == 0


async def test_too_long_input_gets_a_clear_answer(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server), max_input_chars=50)
    async with running_app(settings, seams):
        telegram.send_text(CUSTOMER_ID, "x" * 51)
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
    assert "under 50 characters" in reply.text and openai_server.request_count == 0


async def test_agent_chat_endpoint(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams) as app:
        url = f"http://127.0.0.1:{app.port}/api/agent/chat"
        async with http.post(url, json={"user_id": 5, "text": "hi"}) as r:
            assert r.status == 401
        for body, error in [
            ({"text": "hi"}, "user_id"), ({"user_id": "5", "text": "hi"}, "user_id"),
            ({"user_id": 5}, "text"), ({"user_id": 5, "text": "  "}, "text"),
            ({"user_id": 5, "text": "x" * 5000}, "longer"),
        ]:
            async with http.post(url, json=body, headers=admin_headers()) as r:
                assert r.status == 400, body
                assert error in (await r.json())["error"]
        async with http.post(url, data="not json", headers=admin_headers()) as r:
            assert r.status == 400
        async with http.post(url, json={"user_id": 5, "text": "Is the carrot cake nut free?"},
                             headers=admin_headers()) as r:
            assert r.status == 200
            reply = await r.json()
        async with http.get(url) as r:
            status = await r.json()
    assert reply["source"] == "llm" and "Carrot Cake" in reply["answer"] and reply["latency_ms"] > 0
    assert status["status"] == "ok" and status["circuit_breaker"]["state"] == "closed"
    assert status["caches"][0] == "exact" and openai_server.api_key not in str(status)
