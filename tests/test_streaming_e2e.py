"""End to end: a model answer is shown while it is written (sendMessageDraft), then sent whole.

The real application, the fake Bot API and a fake model that streams slowly, over real HTTP.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiogram.types import Chat, Message, User

from bot.services import Seams
from bot.voice import WhisperTranscriber
from handlers.chat import answer
from testkit.fakes.openai import FakeOpenAI, FakeReply
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import make_settings, with_openai
from tests.helpers import CUSTOMER_ID, running_app

LONG_ANSWER = ("Our <b>house</b> blend & the oat milk flat white are the favourites. " * 4).strip()


@pytest.fixture
def seams(whisper: WhisperTranscriber) -> Seams:
    return Seams(transcriber=whisper)


def slow_model(openai_server: FakeOpenAI) -> None:
    """A model that writes ten characters every 0.1 s (the whole LONG_ANSWER takes about 3 s)."""
    openai_server.chunk_chars = 10
    openai_server.chunk_delay = 0.1


async def test_a_streamed_answer_shows_drafts_before_the_final_message_which_is_complete_and_escaped(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    slow_model(openai_server)
    openai_server.script(LONG_ANSWER)
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams) as app:
        asked = time.time()
        telegram.send_text(CUSTOMER_ID, "Which coffee do you recommend?")
        [final] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=20)
        [event] = await app.services.agent.events.recent(user_id=CUSTOMER_ID)
        drafts = telegram.drafts_to(CUSTOMER_ID)
        # The same question again comes from the exact cache: sent at once, no drafts.
        telegram.send_text(CUSTOMER_ID, "Which coffee do you recommend?")
        await telegram.wait_for_messages(CUSTOMER_ID, count=2, timeout=20)
    assert openai_server.requests[0]["stream"] is True
    assert openai_server.requests[0]["stream_options"] == {"include_usage": True}
    assert len(drafts) >= 2, "the answer grew in the chat while it was written"
    assert drafts[0].at < final.date and drafts[0].at - asked < 1.5
    assert all(d.draft_id == drafts[0].draft_id and d.can_stop for d in drafts)
    assert all(LONG_ANSWER.startswith(d.text) for d in drafts)  # each draft shows the answer so far, literally
    assert len(drafts[-1].text) < len(LONG_ANSWER) or drafts[-1].text == LONG_ANSWER
    assert final.text == LONG_ANSWER  # the whole answer, `<b>` and `&` shown as written
    assert "&lt;b&gt;house&lt;/b&gt;" in final.raw and "&amp;" in final.raw
    assert event.source == "llm" and event.error_class is None
    assert event.tokens_in > 0 and event.tokens_out > 0  # usage from the stream's last chunk
    assert openai_server.request_count == 1
    assert len(telegram.drafts_to(CUSTOMER_ID)) == len(drafts)
    assert telegram.texts_to(CUSTOMER_ID)[1] == LONG_ANSWER


async def test_a_failing_draft_call_still_yields_the_complete_final_message(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    slow_model(openai_server)
    openai_server.script(LONG_ANSWER)
    telegram.fail("sendMessageDraft", status=400, description="Bad Request: method is not available", times=50)
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams):
        telegram.send_text(CUSTOMER_ID, "Which coffee do you recommend?")
        [final] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=20)
    assert final.text == LONG_ANSWER
    assert len(telegram.calls("sendMessageDraft")) == 1, "after one refusal this answer is sent whole"
    assert telegram.drafts == []


async def test_the_stop_button_ends_the_answer_with_the_words_written_so_far(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    slow_model(openai_server)
    openai_server.script(LONG_ANSWER, "A fresh answer.")
    async with running_app(make_settings(tmp_path, telegram.url, **with_openai(openai_server)), seams) as app:
        telegram.send_text(CUSTOMER_ID, "Which coffee do you recommend?")
        first = await telegram.wait_for(lambda: telegram.drafts_to(CUSTOMER_ID)[:1], timeout=20)
        telegram.send_stop(CUSTOMER_ID, first[0].draft_id)
        [final] = await telegram.wait_for_messages(CUSTOMER_ID, timeout=20)
        [event] = await app.services.agent.events.recent(user_id=CUSTOMER_ID)
        telegram.send_text(CUSTOMER_ID, "Which coffee do you recommend?")  # a stopped answer is never cached
        await telegram.wait_for_messages(CUSTOMER_ID, count=2, timeout=20)
    assert LONG_ANSWER.startswith(final.text) and len(final.text) < len(LONG_ANSWER)
    assert event.source == "llm" and event.error_class == "stopped"
    assert openai_server.request_count == 2 and telegram.texts_to(CUSTOMER_ID)[1] == "A fresh answer."


async def test_a_group_chat_gets_the_answer_whole_without_drafts(
    seams: Seams, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    slow_model(openai_server)
    openai_server.script(FakeReply(content=LONG_ANSWER))
    group = -100777
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server, openai_timeout=10.0))
    async with running_app(settings, seams) as app:  # answered whole: about 3 s of writing in one response
        bot = app.services.bot
        assert bot is not None
        message = Message(message_id=5, date=int(time.time()), text="Which coffee do you recommend?",
                          chat=Chat(id=group, type="supergroup", title="Cafe fans"),
                          from_user=User(id=CUSTOMER_ID, is_bot=False, first_name="Ann")).as_(bot)
        await answer(message, bot, app.services.conversation, message.text or "", "text", drafts=app.services.drafts)
        [final] = await telegram.wait_for_messages(group, timeout=20)
    assert final.text == LONG_ANSWER
    assert telegram.calls("sendMessageDraft") == []
    assert "stream" not in openai_server.requests[0]  # the non-streamed request, as before drafts
