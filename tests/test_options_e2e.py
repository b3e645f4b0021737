"""Options end to end: an oat-milk latte by buttons and by the agent, with the real app, fake Bot API and fake OpenAI.

The latte is €3.50 small; oat milk adds €0.40 (cafe.yaml's plant_milk policy), so every place the
order is shown — the item page, the cart, the summary, the "placed" message, the staff card — and the
stored order say €3.90, and a dairy latte next to it is a line of its own at €3.50.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.config import DATA_DIR
from handlers.orders.callbacks import OptionsCb, menu_tag
from testkit.fakes.openai import FakeOpenAI, FakeReply
from testkit.fakes.telegram import FakeTelegram, SentMessage
from testkit.ordering import STAFF_CHAT, STAFF_MEMBER
from testkit.settings import with_openai
from tests.helpers import CUSTOMER_ID, running_app
from tests.ordering import answer_after, order_settings, press
from tests.test_orders_agent import _tool_results

OAT_LINE = "Caffè Latte (small) · Oat milk +€0.40 — €3.90"


async def _latest(telegram: FakeTelegram, chat_id: int, contains: str) -> SentMessage:
    return await telegram.wait_for(
        lambda: next((m for m in reversed(telegram.sent_to(chat_id)) if contains.lower() in m.text.lower()), None)
    )


async def _until(telegram: FakeTelegram, message: SentMessage, contains: str) -> SentMessage:
    await telegram.wait_for(lambda: contains.lower() in message.text.lower())
    return message


async def _open_item(telegram: FakeTelegram, page: SentMessage, category: str, item: str) -> None:
    await press(telegram, CUSTOMER_ID, page, category)
    await _until(telegram, page, f"{item} —")
    await press(telegram, CUSTOMER_ID, page, item)
    await _until(telegram, page, "Allergens")


async def test_an_oat_milk_latte_by_buttons_costs_its_price_plus_the_option_everywhere(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        telegram.send_text(CUSTOMER_ID, "/menu")
        page = await _latest(telegram, CUSTOMER_ID, "Pick a category")
        await _open_item(telegram, page, "Coffee", "Caffè Latte")
        item_page = page.text
        chosen = [b["text"] for b in page.buttons() if b["text"].startswith("• ")]
        await press(telegram, CUSTOMER_ID, page, "Oat milk")
        await _until(telegram, page, "1 × Caffè Latte (small) · Oat milk +€0.40 = €3.90")
        oat_page, oat_chosen = page.text, [b["text"] for b in page.buttons() if b["text"].startswith("• ")]
        await press(telegram, CUSTOMER_ID, page, "Add 1 to cart")
        await _until(telegram, page, "Added 1 × Caffè Latte (small) · Oat milk +€0.40")
        added = page.text
        # The same latte with the default (dairy) milk is a line of its own.
        await press(telegram, CUSTOMER_ID, page, "Add more")
        await _open_item(telegram, page, "Coffee", "Caffè Latte")
        await press(telegram, CUSTOMER_ID, page, "Add 1 to cart")
        await _until(telegram, page, "Added 1 × Caffè Latte (small).")
        await press(telegram, CUSTOMER_ID, page, "View cart")
        cart_page = (await _until(telegram, page, "Total: €7.40")).text
        cart = await app.services.orders.cart(CUSTOMER_ID)

        await press(telegram, CUSTOMER_ID, page, "Checkout")
        await _until(telegram, page, "When will you pick it up")
        await press(telegram, CUSTOMER_ID, page, "As soon as possible")
        await _until(telegram, page, "Anything we should know")
        await press(telegram, CUSTOMER_ID, page, "Skip")
        summary = (await _until(telegram, page, "Please check your order")).text
        await press(telegram, CUSTOMER_ID, page, "Confirm order")
        placed = (await _until(telegram, page, "placed")).text
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        [order] = await app.services.orders.open_orders()
        rows = await app.db.fetchall("SELECT item_id, unit_price_cents, line_total_cents, options_json "
                                     "FROM order_items WHERE order_id = ? ORDER BY id", (order.id,))

        await press(telegram, STAFF_MEMBER, card, "Accept")
        await _until(telegram, card, "ACCEPTED")

    assert "Milk (required): Dairy milk" in item_page and "Extra shot (optional): —" in item_page
    assert "1 × Caffè Latte (small) = €3.50" in item_page
    assert chosen == ["• small €3.50", "• Dairy milk"] and oat_chosen == ["• small €3.50", "• Oat milk +€0.40"]
    assert "Milk (required): Oat milk +€0.40" in oat_page
    assert "Your cart: 1 item, €3.90" in added
    assert f"• 1 × {OAT_LINE}" in cart_page and "• 1 × Caffè Latte (small) — €3.50" in cart_page
    assert [(li.options_key, li.unit_price_cents) for li in cart.lines] == [("milk=oat", 390), ("milk=dairy", 350)]
    assert f"• 1 × {OAT_LINE}" in summary and "Total: €7.40" in summary
    assert "Order #001 placed — €7.40" in placed and f"• 1 × {OAT_LINE}" in placed
    assert f"1 × {OAT_LINE}" in card.text and "1 × Caffè Latte (small) — €3.50" in card.text
    assert "Total: €7.40" in card.text and "ACCEPTED" in card.text  # the edited card keeps the option
    assert order.total_cents == 740
    assert [(r["item_id"], r["unit_price_cents"], r["line_total_cents"]) for r in rows] == [
        ("latte", 390, 390), ("latte", 350, 350)]
    assert [(o["choice"], o["price_cents"]) for o in json.loads(rows[0]["options_json"])] == [("oat", 40)]
    assert [(o["choice"], o["default"]) for o in json.loads(rows[1]["options_json"])] == [("dairy", True)]


async def test_a_required_choice_must_be_made_and_forged_option_buttons_are_refused_losing_nothing(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with running_app(order_settings(tmp_path, telegram.url)) as app:
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "latte", "large", 1, [("milk", "soy")])  # already in the cart
        telegram.send_text(CUSTOMER_ID, "/menu")
        page = await _latest(telegram, CUSTOMER_ID, "Pick a category")
        await _open_item(telegram, page, "Breakfast", "Full Breakfast")
        asked = page.text
        refused = await answer_after(telegram, await press(telegram, CUSTOMER_ID, page, "Add 1 to cart"))
        after_refusal = await orders.cart(CUSTOMER_ID)

        async def forge(data: str) -> dict:
            before = len(telegram.callback_answers)
            telegram.send_callback(CUSTOMER_ID, data, page)
            return await answer_after(telegram, before)

        version = menu_tag(orders.menu)
        shown = page.text
        past_the_choices = await forge(OptionsCb(item="latte", sel="ff", ver=version, add=True).pack())
        two_milks = await forge(OptionsCb(item="latte", sel="3", ver=version, add=True).pack())  # dairy and oat
        not_hex = await forge("oo:latte:0:1:zz:" + version + ":1")
        unchanged = page.text
        other_menu = await forge(OptionsCb(item="latte", sel="2", ver="000000", add=True).pack())
        redrawn = await _until(telegram, page, "Caffè Latte")
        bad_size = await forge(OptionsCb(item="latte", size=5, sel="2", ver=version, add=True).pack())
        cart_after_forgeries = await orders.cart(CUSTOMER_ID)

        telegram.send_text(CUSTOMER_ID, "/menu")
        page = await _latest(telegram, CUSTOMER_ID, "Pick a category")
        await _open_item(telegram, page, "Breakfast", "Full Breakfast")
        await press(telegram, CUSTOMER_ID, page, "Poached eggs")
        await _until(telegram, page, "Eggs (required): Poached eggs")
        await press(telegram, CUSTOMER_ID, page, "Add 1 to cart")
        await _until(telegram, page, "Added 1 × Full Breakfast · Poached eggs")
        cart = await orders.cart(CUSTOMER_ID)

    assert "Eggs (required): please choose" in asked
    assert refused["show_alert"] and refused["text"] == (
        "Please choose Eggs for Full Breakfast: Fried eggs, Scrambled eggs, Poached eggs.")
    assert [li.item_id for li in after_refusal.lines] == ["latte"]
    assert past_the_choices["show_alert"] and "isn't on our menu" in past_the_choices["text"]
    assert two_milks["show_alert"] and "choose at most 1 for Milk" in two_milks["text"]
    assert bad_size["show_alert"] and "menu has changed" in bad_size["text"]
    assert not_hex["show_alert"] and "out of date" in not_hex["text"]
    assert unchanged == shown  # refused presses leave the page as it was
    assert other_menu["show_alert"] and "menu has changed" in other_menu["text"]
    assert "1 × Caffè Latte (small) = €3.50" in redrawn.text  # drawn again from today's menu, defaults chosen
    # Nothing was added by a forged press, and nothing already in the cart was lost.
    assert [(li.item_id, li.size, li.options_key, li.quantity) for li in cart_after_forgeries.lines] == [
        ("latte", "large", "milk=soy", 1)]
    assert [(li.item_id, li.options_key, li.unit_price_cents) for li in cart.lines] == [
        ("latte", "milk=soy", 450), ("full-breakfast", "eggs=poached", 1390)]


async def test_an_oat_milk_latte_by_the_agent_costs_the_same_and_invalid_options_get_clear_tool_results(
    telegram: FakeTelegram, openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    telegram.set_chat_member(STAFF_CHAT, STAFF_MEMBER, "member")
    openai_server.script(
        FakeReply(tool_calls=[{"name": "search_menu", "arguments": {"query": "latte"}}]),
        FakeReply(tool_calls=[
            {"name": "add_to_cart", "arguments": {"item": "latte", "options": ["caramel syrup"]}},
            {"name": "add_to_cart", "arguments": {"item": "latte", "options": ["oat", "soy"]}},
            {"name": "add_to_cart", "arguments": {"item": "full breakfast"}},
            {"name": "add_to_cart", "arguments": {"item": "espresso", "options": ["oat"]}},
            {"name": "add_to_cart", "arguments": {"item": "latte", "options": "oat milk"}},
        ]),
        "One small latte with oat milk is in your cart (€3.90). Shall I order it?",
        FakeReply(tool_calls=[{"name": "place_order", "arguments": {"pickup_time": "asap"}}]),
        "I've sent you the summary. Please press Confirm order.",
    )
    settings = order_settings(tmp_path, telegram.url, **with_openai(openai_server))
    async with running_app(settings) as app:
        telegram.send_text(CUSTOMER_ID, "A latte with oat milk please")
        await telegram.wait_for_messages(CUSTOMER_ID, 1)
        telegram.send_text(CUSTOMER_ID, "Yes, as soon as possible")
        summary = await _latest(telegram, CUSTOMER_ID, "Please check your order")
        shown = summary.text
        await press(telegram, CUSTOMER_ID, summary, "Confirm order")
        await _until(telegram, summary, "placed")
        card = await _latest(telegram, STAFF_CHAT, "Order #001")
        [order] = await app.services.orders.open_orders()

    results = _tool_results(openai_server)
    latte = next(r for r in results["search_menu"][0]["results"] if r["id"] == "latte")
    milk = latte["options"][0]
    assert (milk["group"], milk["choose"], milk["default"]) == ("milk", "1", ["dairy"])
    assert {"id": "oat", "name": "Oat milk", "price": "+€0.40"} in milk["choices"]
    errors = [r.get("error", "") for r in results["add_to_cart"][:4]]
    assert "Caffè Latte has no option “caramel syrup”" in errors[0] and "Oat milk +€0.40" in errors[0]
    assert "choose at most 1 for Milk" in errors[1]
    assert "Please choose Eggs for Full Breakfast" in errors[2]
    assert errors[3] == "Espresso has no options."
    added = results["add_to_cart"][4]
    assert added["added"] == {"item": "Caffè Latte", "quantity": 1, "size": "small", "options": ["Oat milk (+€0.40)"],
                              "price_each": "€3.90"}
    assert added["cart"]["total"] == "€3.90" and added["cart"]["items"] == 1
    assert results["place_order"][0]["summary"]["lines"][0]["options"] == ["Oat milk (+€0.40)"]
    assert f"1 × {OAT_LINE}" in shown and "Total: €3.90" in shown
    assert f"1 × {OAT_LINE}" in card.text and "Total: €3.90" in card.text
    assert order.total_cents == 390 and order.source == "agent"
    assert [(li.item_id, li.unit_price_cents, [o.choice for o in li.options]) for li in order.lines] == [
        ("latte", 390, ["oat"])]


async def test_repeat_asks_the_current_menu_for_the_options_again(telegram: FakeTelegram, tmp_path: Path) -> None:
    menu_path = tmp_path / "menu.yaml"
    menu_path.write_text((DATA_DIR / "menu.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    async with running_app(order_settings(tmp_path, telegram.url, menu_path=menu_path)) as app:
        orders = app.services.orders
        await orders.add_to_cart(CUSTOMER_ID, "latte", None, 1, [("milk", "oat")])
        await orders.add_to_cart(CUSTOMER_ID, "flat-white", None, 2, [("milk", "soy"), ("shot", "extra-shot")])
        checkout, _ = await orders.start_checkout(CUSTOMER_ID, CUSTOMER_ID)
        await orders.set_pickup(CUSTOMER_ID, checkout.token, "asap")
        await orders.set_note(CUSTOMER_ID, checkout.token, "")
        past, _ = await orders.confirm(CUSTOMER_ID, checkout.token)
        assert past.total_cents == 390 + 2 * (360 + 40 + 60)
        # Since then: oat milk costs more, and soy milk is off the menu.
        menu_path.write_text(menu_path.read_text(encoding="utf-8")
                             .replace("{id: oat, name: {en: Oat milk, de: Hafermilch}, price: 0.40}",
                                      "{id: oat, name: {en: Oat milk, de: Hafermilch}, price: 0.50}")
                             .replace("              - {id: soy, name: {en: Soy milk, de: Sojamilch}, price: 0.40}\n",
                                      ""), encoding="utf-8")
        assert (await app.services.knowledge.reload()).ok

        telegram.send_text(CUSTOMER_ID, "/orders")
        mine = await _latest(telegram, CUSTOMER_ID, "Your recent orders")
        await press(telegram, CUSTOMER_ID, mine, "Repeat #001")
        page = await _until(telegram, mine, "Skipped")
        cart = await orders.cart(CUSTOMER_ID)

    assert [(li.item_id, li.options_key, li.unit_price_cents) for li in cart.lines] == [
        ("latte", "milk=oat", 400)]
    assert "1 × Caffè Latte (small) · Oat milk +€0.50" in page.text and "Total: €4.00" in page.text
    assert "Skipped: 2 × Flat White · Soy milk +€0.40 · Extra shot +€0.60 (Flat White has no option “soy”." in (
        page.text)
