"""What no feature handles still gets a clear answer: other media in private, unknown buttons."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.unsupported import UNKNOWN_BUTTON
from testkit.fakes.telegram import FakeTelegram
from testkit.settings import make_settings
from tests.helpers import CUSTOMER_ID, running_app

STAFF_GROUP = -1009876543210


@pytest.mark.parametrize(("kind", "what"), [("photo", "photos"), ("sticker", "stickers"),
                                            ("location", "locations"), ("pdf", "that kind of file")])
async def test_media_the_bot_cannot_use_gets_a_reply_saying_what_it_can_do(
    telegram: FakeTelegram, tmp_path: Path, kind: str, what: str
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url)):
        telegram.send_media(CUSTOMER_ID, kind)
        [reply] = await telegram.wait_for_messages(CUSTOMER_ID)
    assert f"can't open {what}" in reply.text
    assert "voice note" in reply.text


async def test_a_forged_or_stale_button_press_is_answered_with_an_alert(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, telegram.url)):
        update = telegram.send_callback(CUSTOMER_ID, "no-such-button:42", message_id=77)
        answer = await telegram.wait_for(lambda: next(
            (a for a in telegram.callback_answers if a["callback_query_id"] == update["callback_query"]["id"]), None))
    assert answer["text"] == UNKNOWN_BUTTON and answer["show_alert"] is True
    assert telegram.sent_to(CUSTOMER_ID) == []


async def test_media_in_a_group_is_left_alone(telegram: FakeTelegram, tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, telegram.url)) as app:
        telegram.send_media(CUSTOMER_ID, "photo", chat_id=STAFF_GROUP)
        telegram.send_text(CUSTOMER_ID, "/start")  # handled after the photo: the bot has seen both
        await telegram.wait_for_messages(CUSTOMER_ID)
        await telegram.wait_for(lambda: app.services is not None and app.services.inflight.count == 0)
    assert telegram.sent_to(STAFF_GROUP) == []
