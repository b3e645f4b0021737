"""The per-user rate limit, end to end: every kind of update, counted before any other work.

The real application, the fake Bot API and the fake OpenAI server. Each test lets a user
use up the limit, then sends a burst: the burst gets one polite notice (a button press gets
its answer, so the button stops spinning), nothing else happens for it (no handler, no
profile write, no download, no model call), and other users are not affected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.cache import keys
from bot.services import Seams
from bot.telegram.middlewares import TOO_MANY_PRESSES
from bot.voice import WhisperTranscriber
from handlers.unsupported import UNKNOWN_BUTTON
from testkit.fakes.openai import FakeOpenAI
from testkit.fakes.telegram import FakeTelegram
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from testkit.servers import RedisServer
from testkit.settings import ADMIN_ID, make_settings, with_openai
from testkit.voice import fixture_bytes
from tests.helpers import CUSTOMER_ID, poll_until, running_app
from tests.ordering import order_settings, press

LIMIT = 2  # messages per window in these tests
BURST = 3  # sent at once after the limit is used up
NOTICE = "faster than I can answer"
OTHER = CUSTOMER_ID + 1

Send = Callable[[FakeTelegram, int], Any]


def limits(**overrides: Any) -> dict[str, Any]:
    return {"rate_limit_messages": LIMIT, "rate_limit_buttons": 3, "rate_limit_window_seconds": 600, **overrides}


def handled(app: Any, metric: str = "bot_updates_total") -> float:
    """How many updates went through the dispatcher (handled or dropped), over all kinds."""
    return sum(sample.value for family in app.services.metrics.registry.collect()
               for sample in family.samples if sample.name == metric)


def is_too_many(answer: str | None) -> bool:
    """The toast of a press over the limit (its "wait N seconds" depends on the clock)."""
    return (answer or "").startswith(TOO_MANY_PRESSES.split("{")[0])


def throttled(app: Any, kind: str) -> float:
    return app.services.metrics.registry.get_sample_value("bot_rate_limited_total", {"kind": kind}) or 0.0


async def all_done(app: Any, updates: int) -> None:
    """Every update sent so far went through the dispatcher and nothing is still running."""
    async def done() -> bool:
        return handled(app) >= updates and app.services.inflight.count == 0

    await poll_until(done)


KINDS: dict[str, tuple[str, Send, str]] = {
    # name: (update kind label, how to send one, a word of the normal reply)
    "text": ("text", lambda tg, n: tg.send_text(CUSTOMER_ID, f"Do you have lemonade? ({n})"), "lemonade"),
    "long text": ("text", lambda tg, n: tg.send_text(CUSTOMER_ID, f"tea {n} " * 700), "a bit long"),
    "command": ("command", lambda tg, n: tg.send_text(CUSTOMER_ID, "/help"), "/menu"),
    "photo": ("photo", lambda tg, n: tg.send_media(CUSTOMER_ID, "photo"), "can't open photos"),
    "sticker": ("sticker", lambda tg, n: tg.send_media(CUSTOMER_ID, "sticker"), "can't open stickers"),
}


@pytest.mark.parametrize("name", list(KINDS))
async def test_a_burst_of_any_message_kind_gets_one_notice_and_is_dropped(
    name: str, telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    kind, send, normal = KINDS[name]
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server), **limits())
    async with running_app(settings) as app:
        for n in range(LIMIT):
            send(telegram, n)
            await telegram.wait_for_messages(CUSTOMER_ID, n + 1)
        model_calls = openai_server.request_count
        for n in range(BURST):
            send(telegram, LIMIT + n)
        await all_done(app, LIMIT + BURST)
        telegram.send_text(OTHER, "Do you have lemonade?")  # another user is not limited
        [other] = await telegram.wait_for_messages(OTHER)
        texts = telegram.texts_to(CUSTOMER_ID)
        dropped = throttled(app, kind)
    assert len(texts) == LIMIT + 1, texts
    assert all(normal in t.lower() for t in texts[:LIMIT]), texts
    assert NOTICE in texts[LIMIT] and "seconds" in texts[LIMIT]  # one polite notice for the whole burst
    assert dropped == BURST
    assert openai_server.request_count - model_calls == 1  # only the other user's question reached the model
    assert "lemonade" in other.text.lower()


async def test_a_dropped_message_costs_no_profile_write_and_no_model_call(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    """The limit runs before the profile middleware: a renamed user's burst leaves the users table alone."""
    settings = make_settings(tmp_path, telegram.url, **with_openai(openai_server), **limits())
    async with running_app(settings) as app:
        for n in range(LIMIT):
            telegram.send_text(CUSTOMER_ID, f"Any muffins? ({n})")
            await telegram.wait_for_messages(CUSTOMER_ID, n + 1)
        for n in range(BURST):  # a new first name would be written through at once if the profile step ran
            telegram.send_text(CUSTOMER_ID, f"Any scones? ({n})", first_name="Mallory")
        await all_done(app, LIMIT + BURST)
        user = await app.services.users.get(CUSTOMER_ID)
        profile = await app.services.cache.get(keys.user_profile(CUSTOMER_ID))
    assert user is not None and user.first_name == f"User{CUSTOMER_ID}"
    assert profile is not None and profile["first_name"] == f"User{CUSTOMER_ID}"
    assert openai_server.request_count == LIMIT


async def test_button_presses_over_the_limit_are_answered_and_change_nothing(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_app(make_settings(tmp_path, telegram.url, **limits())) as app:
        telegram.send_text(CUSTOMER_ID, "/menu")
        [page] = await telegram.wait_for_messages(CUSTOMER_ID)
        tea = page.button("Tea")["callback_data"]
        await press(telegram, CUSTOMER_ID, page, "Coffee")  # 1 of 3: a real press
        await telegram.wait_for(lambda: "Cappuccino" in page.text)
        for _ in range(2):  # 2 and 3 of 3: a button nothing knows
            telegram.send_callback(CUSTOMER_ID, "no-such-button", page)
        await telegram.wait_for(lambda: len(telegram.callback_answers) == 3)
        pages_before = len(page.history)
        for _ in range(BURST):  # over the limit: a real button of the first page
            telegram.send_callback(CUSTOMER_ID, tea, page)
        await telegram.wait_for(lambda: len(telegram.callback_answers) == 3 + BURST)
        await all_done(app, 1 + 3 + BURST)
        telegram.send_callback(OTHER, tea, page)  # someone else's press still works
        await telegram.wait_for(lambda: "Tea" in page.text and len(page.history) > pages_before)
        dropped = throttled(app, "callback")
    answers = [a.get("text", "") for a in telegram.callback_answers]
    assert answers[1:3] == [UNKNOWN_BUTTON, UNKNOWN_BUTTON]
    # every press over the limit is answered (the spinner stops), with a toast, never an alert
    assert all(is_too_many(a) for a in answers[3:3 + BURST]), answers
    assert not any(a.get("show_alert") for a in telegram.callback_answers[3:3 + BURST])
    assert dropped == BURST
    assert telegram.texts_to(CUSTOMER_ID) == [page.text]  # no chat message for presses, no extra page


async def test_voice_notes_over_the_limit_are_not_even_downloaded(
    whisper: WhisperTranscriber, telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, telegram.url, **limits(rate_limit_messages=1))
    async with running_app(settings, Seams(transcriber=whisper)) as app:
        telegram.send_voice(CUSTOMER_ID, fixture_bytes("oat_milk.ogg"), duration=2)
        await telegram.wait_for_messages(CUSTOMER_ID, 2, timeout=60)  # the transcript, then the answer
        for _ in range(BURST):
            telegram.send_voice(CUSTOMER_ID, fixture_bytes("oat_milk.ogg"), duration=2)
        await all_done(app, 1 + BURST)
        texts = telegram.texts_to(CUSTOMER_ID)
        dropped = throttled(app, "voice")
    assert "oat milk" in texts[0].lower()
    assert len(telegram.downloads) == 1  # the burst was dropped before getFile
    assert len(telegram.calls("getFile")) == 1
    assert len(texts) == 3 and NOTICE in texts[2]
    assert dropped == BURST


async def test_staff_in_the_staff_group_and_admins_are_never_locked_out(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    """A customer over the button limit is refused; staff pressing order buttons faster than that are not."""
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    presses = 4
    settings = order_settings(tmp_path, telegram.url, **limits(rate_limit_buttons=presses))
    async with running_app(settings) as app:
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "cappuccino", "large")
        summary = await orders.place_order(CUSTOMER_ID, CUSTOMER_ID, source="buttons")
        await orders.confirm(CUSTOMER_ID, summary.token)
        card = await telegram.wait_for(lambda: next(iter(telegram.sent_to(STAFF_CHAT)), None))

        for _ in range(presses + 1):  # the customer uses up their presses, and one more
            telegram.send_callback(CUSTOMER_ID, "no-such-button")
        await telegram.wait_for(lambda: len(telegram.callback_answers) == presses + 1)
        customer = [a.get("text") for a in telegram.callback_answers]

        staff_from = len(telegram.callback_answers)
        for _ in range(presses):  # twice the customer's limit of presses on the order card
            await press(telegram, STAFF_MEMBER, card, "Cancel")
            await press(telegram, STAFF_MEMBER, card, "Back")
        await press(telegram, STAFF_MEMBER, card, "Accept")
        await telegram.wait_for(lambda: "ACCEPTED" in card.text)
        staff = [a.get("text") for a in telegram.callback_answers[staff_from:]]

        for _ in range(LIMIT + 2):  # an admin is not limited either
            telegram.send_text(ADMIN_ID, "/help")
        await telegram.wait_for_messages(ADMIN_ID, LIMIT + 2)
        await all_done(app, presses + 1 + 2 * presses + 1 + LIMIT + 2)
        admin_texts = telegram.texts_to(ADMIN_ID)
        order = (await orders.open_orders())[0]
    # answered concurrently, so in any order: the presses within the limit reached the handler, one did not
    assert customer.count(UNKNOWN_BUTTON) == presses and sum(map(is_too_many, customer)) == 1, customer
    assert len(staff) == 2 * presses + 1 and not any(is_too_many(a) for a in staff)
    assert staff.count("Cancel this order? Press again to confirm.") == presses
    assert order.status.value == "accepted"
    assert len(admin_texts) == LIMIT + 2 and not any(NOTICE in t for t in admin_texts)


async def test_the_limit_holds_with_redis_down(
    redis_server: RedisServer, telegram: FakeTelegram, tmp_path: Path
) -> None:
    """The windows live in process memory: a dead Redis neither lifts the limit nor breaks it."""
    settings = make_settings(tmp_path, telegram.url, redis_url=redis_server.url, **limits())
    async with running_app(settings) as app:
        redis_server.stop()
        for n in range(LIMIT):
            telegram.send_text(CUSTOMER_ID, "/help")
            await telegram.wait_for_messages(CUSTOMER_ID, n + 1)
        for _ in range(BURST):
            telegram.send_text(CUSTOMER_ID, "/help")
        await all_done(app, LIMIT + BURST)
        texts = telegram.texts_to(CUSTOMER_ID)
        dropped = throttled(app, "command")
    assert len(texts) == LIMIT + 1 and NOTICE in texts[-1]
    assert dropped == BURST
