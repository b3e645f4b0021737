"""/soldout and /back from the staff group, end to end: the menu, the agent's tools, cached answers, a restart."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from bot.config import DATA_DIR
from bot.knowledge import Menu
from bot.knowledge.loader import load_menu
from handlers.orders.callbacks import AddCb, AvailabilityCb
from testkit.fakes.openai import FakeOpenAI, FakeReply
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from testkit.settings import with_openai
from tests.helpers import CUSTOMER_ID, admin_headers, running_app
from tests.ordering import OUTSIDER, answer_after, order_settings, press


async def _latest(telegram: FakeTelegram, chat_id: int, contains: str, after: int = 0) -> SentMessage:
    return await telegram.wait_for(lambda: next(
        (m for m in reversed(telegram.sent_to(chat_id)[after:]) if contains.lower() in m.text.lower()), None))


async def _staff(telegram: FakeTelegram, text: str, expect: str) -> SentMessage:
    before = len(telegram.sent_to(STAFF_CHAT))
    telegram.send_text(STAFF_MEMBER, text, chat_id=STAFF_CHAT)
    return await _latest(telegram, STAFF_CHAT, expect, after=before)


def _tool_results(openai_server: FakeOpenAI, name: str) -> list[dict]:
    names: dict[str, str] = {}
    seen: set[str] = set()
    results: list[dict] = []
    for body in openai_server.requests:
        for message in body["messages"]:
            for call in message.get("tool_calls") or []:
                names[call["id"]] = call["function"]["name"]
            if message.get("role") == "tool" and message["tool_call_id"] not in seen:
                seen.add(message["tool_call_id"])
                if names[message["tool_call_id"]] == name:
                    results.append(json.loads(message["content"]))
    return results


def _available(menu: Menu, item_id: str) -> bool:
    item = menu.item(item_id)
    assert item is not None
    return item.available


def test_the_overlay_keeps_the_files_version_and_names_itself() -> None:
    menu, _raw = load_menu(DATA_DIR / "menu.yaml")
    marked: Menu = menu.with_availability({"flat-white": False, "gone": False})
    assert marked.version == menu.version and marked.overrides == "flat-white=0"
    item = marked.item("flat-white")
    assert item is not None and not item.available
    assert menu.with_availability({}) is menu and menu.with_availability({"gone": True}) is menu


async def test_a_sold_out_item_cannot_be_added_by_button_or_in_words_and_comes_back_with_back(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    openai_server.script(
        "A Flat White is €3.40.",  # cached: it names the item, so /soldout must forget it
        FakeReply(tool_calls=[{"name": "search_menu", "arguments": {"query": "flat white"}}]),
        FakeReply(tool_calls=[{"name": "add_to_cart", "arguments": {"item": "flat white"}}]),
        "Sorry, the Flat White is sold out today.",
        FakeReply(tool_calls=[{"name": "add_to_cart", "arguments": {"item": "flatwhite"}}]),
        "Added a Flat White to your cart.",
    )
    settings = order_settings(tmp_path, telegram.url, **with_openai(openai_server))
    async with running_app(settings) as app:
        services = app.services
        async with http.post(f"http://127.0.0.1:{app.port}/api/agent/chat", headers=admin_headers(),
                             json={"user_id": 5, "text": "How much is a flat white?"}) as r:
            assert r.status == 200
        assert (await services.cached_answers.find("flat white")).answers  # the answer is cached

        confirmation = await _staff(telegram, "/soldout flat white", "sold out")
        assert "🚫 Flat White is sold out" in confirmation.text and "/back flat-white" in confirmation.text
        assert "Forgot 1 cached answer that named it." in confirmation.text
        assert not (await services.cached_answers.find("flat white")).answers
        assert "Flat White — " in services.agent.system_prompt() and "SOLD OUT today" in services.agent.system_prompt()

        # Buttons: the category shows it sold out, the item page has no Add button, a forged Add is refused.
        telegram.send_text(CUSTOMER_ID, "/menu")
        page = await _latest(telegram, CUSTOMER_ID, "Pick a category")
        await press(telegram, CUSTOMER_ID, page, "Coffee")
        await telegram.wait_for(lambda: "Flat White —" in page.text)
        assert "Flat White · sold out" in [b["text"] for b in page.buttons()]
        await press(telegram, CUSTOMER_ID, page, "Flat White")
        await telegram.wait_for(lambda: "Sold out today." in page.text)
        assert not any("Add" in b["text"] for b in page.buttons())
        answered = len(telegram.callback_answers)
        telegram.send_callback(CUSTOMER_ID, AddCb(item="flat-white").pack(), page)
        refused = await answer_after(telegram, answered)
        assert refused["show_alert"] and "Flat White is sold out today" in refused["text"]

        # Words: search_menu says unavailable, add_to_cart refuses.
        telegram.send_text(CUSTOMER_ID, "A flat white please")
        await _latest(telegram, CUSTOMER_ID, "sold out today")
        assert (await services.orders.cart(CUSTOMER_ID)).empty

        # A restart keeps the mark (the database), then /back brings it back.
    async with running_app(settings) as app:
        services = app.services
        assert not _available(services.orders.menu, "flat-white")
        back = await _staff(telegram, "/back flatwhite", "is back")
        assert "✅ Flat White is back" in back.text
        telegram.send_text(CUSTOMER_ID, "Then a flat white after all")
        await _latest(telegram, CUSTOMER_ID, "Added a Flat White")
        cart = await services.orders.cart(CUSTOMER_ID)
        assert [line.item_id for line in cart.lines] == ["flat-white"]
        assert await services.runtime_settings.get("menu.availability") is None  # as the file says again

    [searched] = _tool_results(openai_server, "search_menu")
    assert searched["results"][0]["id"] == "flat-white" and searched["results"][0]["available"] is False
    refused_words, added = _tool_results(openai_server, "add_to_cart")
    assert refused_words == {"error": "Sorry, Flat White is sold out today."}
    assert added["added"]["item"] == "Flat White"


async def test_several_matches_get_buttons_that_only_staff_may_press(telegram: FakeTelegram, tmp_path: Path) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        telegram.send_text(OUTSIDER, "/soldout tea", chat_id=STAFF_CHAT)
        await _latest(telegram, STAFF_CHAT, "Only cafe staff can use this command")
        question = await _staff(telegram, "/soldout tea", "matches several items")
        labels = [b["text"] for b in question.buttons()]
        assert "English Breakfast Tea" in labels and "Sencha Green Tea" in labels

        answered = len(telegram.callback_answers)
        telegram.send_callback(OUTSIDER, AvailabilityCb(item="green-tea", available=False).pack(), question)
        assert (await answer_after(telegram, answered))["show_alert"]
        assert _available(app.services.orders.menu, "green-tea")

        await press(telegram, STAFF_MEMBER, question, "Sencha Green Tea")
        await telegram.wait_for(lambda: "Sencha Green Tea is sold out" in question.text)
        assert not _available(app.services.orders.menu, "green-tea")
        listing = await _staff(telegram, "/soldout", "Sold out now")
        nothing = await _staff(telegram, "/soldout caviar", "Nothing on the menu matches")
    assert "Sencha Green Tea" in listing.text and "caviar" in nothing.text
