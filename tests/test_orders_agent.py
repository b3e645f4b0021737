"""Ordering in plain words: the real agent calls the order tools through the fake OpenAI's tool calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.orders.models import OrderError, OrderStatus
from bot.orders.tools import resolve_item
from testkit.fakes.openai import FakeOpenAI, FakeReply
from testkit.fakes.telegram import FakeTelegram
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from testkit.settings import with_openai
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import order_settings, press


def _tool_results(openai_server: FakeOpenAI) -> dict[str, list[dict]]:
    """Every tool result the agent fed back to the model, by tool name."""
    names: dict[str, str] = {}
    seen: set[str] = set()  # each round re-sends the history: keep each call's result once
    results: dict[str, list[dict]] = {}
    for body in openai_server.requests:
        for message in body["messages"]:
            for call in message.get("tool_calls") or []:
                names[call["id"]] = call["function"]["name"]
            if message.get("role") == "tool" and message["tool_call_id"] not in seen:
                seen.add(message["tool_call_id"])
                results.setdefault(names[message["tool_call_id"]], []).append(json.loads(message["content"]))
    return results


async def test_an_order_in_plain_words_is_confirmed_and_lands_in_the_database_and_the_staff_group(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    openai_server.script(
        FakeReply(tool_calls=[{"name": "search_menu", "arguments": {"query": "cappuccino"}}]),
        FakeReply(tool_calls=[
            {"name": "add_to_cart", "arguments": {"item": "cappuccino", "size": "large", "quantity": 2}},
            {"name": "add_to_cart", "arguments": {"item": "Croissant"}},
        ]),
        "Done: two large cappuccinos and a croissant are in your cart (€10.40). Shall I place the order?",
        FakeReply(tool_calls=[{"name": "place_order", "arguments": {"pickup_time": "asap", "note": "oat milk"}}]),
        "I've sent you the summary. Please check it and press Confirm order.",
    )
    settings = order_settings(tmp_path, telegram.url, **with_openai(openai_server))
    async with running_app(settings) as app:
        telegram.send_text(CUSTOMER_ID, "Two large cappuccinos and a croissant, please")
        await telegram.wait_for_messages(CUSTOMER_ID, 1)
        telegram.send_text(CUSTOMER_ID, "That's all, I'll pick it up asap. Oat milk please!")
        summary = await telegram.wait_for(lambda: next(
            (m for m in telegram.sent_to(CUSTOMER_ID) if "Please check your order" in m.text), None))
        await telegram.wait_for_messages(CUSTOMER_ID, 3)
        assert await app.services.orders.open_orders() == []  # nothing is placed before the confirmation

        await press(telegram, CUSTOMER_ID, summary, "Confirm order")
        await telegram.wait_for(lambda: "placed" in summary.text)
        card = await telegram.wait_for(lambda: next(iter(telegram.sent_to(STAFF_CHAT)), None))
        [order] = await app.services.orders.open_orders()

    results = _tool_results(openai_server)
    assert results["search_menu"][0]["results"][0]["id"] == "cappuccino"
    assert [r["added"]["item"] for r in results["add_to_cart"]] == ["Cappuccino", "Butter Croissant"]
    assert results["place_order"][0]["status"] == "awaiting_confirmation"
    shown = summary.history[0]  # the summary as sent, before the confirmation replaced it
    assert "Confirm order" in shown and "2 × Cappuccino (large) — €7.80" in shown
    assert "Note: oat milk" in shown and "Total: €10.40" in shown
    assert order.source == "agent" and order.status is OrderStatus.NEW and order.note == "oat milk"
    assert [(li.item_id, li.size, li.quantity, li.unit_price_cents) for li in order.lines] == [
        ("cappuccino", "large", 2, 390), ("croissant", "", 1, 260),
    ]
    assert "Order #001" in card.text and "2 × Cappuccino (large)" in card.text and "1 × Butter Croissant" in card.text
    texts = telegram.texts_to(CUSTOMER_ID)
    assert any("press Confirm order" in t for t in texts)


async def test_unknown_sold_out_and_impossible_requests_get_clear_answers_and_change_nothing(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    openai_server.script(
        FakeReply(tool_calls=[
            {"name": "add_to_cart", "arguments": {"item": "caviar blini"}},
            {"name": "add_to_cart", "arguments": {"item": "cheesecake"}},
            {"name": "add_to_cart", "arguments": {"item": "espresso", "quantity": 500}},
            {"name": "add_to_cart", "arguments": {"item": "espresso", "quantity": 0}},
            {"name": "add_to_cart", "arguments": {"item": "flat-white", "size": "huge"}},
            {"name": "add_to_cart", "arguments": {"item": "latte", "size": "gigantic"}},
            {"name": "place_order", "arguments": {}},
            {"name": "show_cart", "arguments": {}},
        ]),
        "Sorry, none of that worked out.",
    )
    settings = order_settings(tmp_path, telegram.url, **with_openai(openai_server))
    async with running_app(settings) as app:
        telegram.send_text(CUSTOMER_ID, "Caviar, cheesecake and 500 espressos!")
        await telegram.wait_for_messages(CUSTOMER_ID, 1)
        cart = await app.services.orders.cart(CUSTOMER_ID)
    results = _tool_results(openai_server)
    errors = [r.get("error", "") for r in results["add_to_cart"]]
    assert "nothing called “caviar blini”" in errors[0]
    assert "Baked Cheesecake is sold out today" in errors[1]
    assert "between 1 and 20" in errors[2] and "between 1 and 20" in errors[3]
    assert "one size only" in errors[4] and "comes in small, large" in errors[5]
    assert "cart is empty" in results["place_order"][0]["error"]
    assert results["show_cart"][0]["note"] == "The cart is empty."
    assert cart.empty


async def test_item_names_resolve_to_one_item_or_ask_which(tmp_path: Path) -> None:
    async with running_app(order_settings(tmp_path, None)) as app:
        orders = app.services.orders
        assert resolve_item(orders, "flatwhite").id == "flat-white"  # an alias
        assert resolve_item(orders, "Caffè Latte").id == "latte"
        assert resolve_item(orders, "blueberry").id == "blueberry-muffin"
        with pytest.raises(OrderError, match="could be several items: English Breakfast Tea, Sencha Green Tea"):
            resolve_item(orders, "tea")
